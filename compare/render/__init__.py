"""Render: every output format is a view of one Report."""

from __future__ import annotations

import json
from pathlib import Path

from compare.model import Report
from compare.render import html, markdown


def write_json(report: Report, path: Path) -> None:
    path.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_all(report: Report, out: Path) -> list[Path]:
    """Write compare.json and compare.md (and every other file format) into `out`; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "compare.json", out / "compare.md", out / "compare.html"]
    write_json(report, paths[0])
    paths[1].write_text(markdown.render(report), encoding="utf-8")
    paths[2].write_text(html.render(report), encoding="utf-8")
    return paths
