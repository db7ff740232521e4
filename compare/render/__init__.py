"""Render: every output format is a view of one Catalog (each scenario's pages, of its Report)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from compare.model import Catalog
from compare.render import html, markdown
from compare.scenario import names


def write_json(catalog: Catalog, path: Path) -> None:
    # compact: json's C encoder is only used without indent, and the catalog is megabytes (`jq .` pretty-prints it)
    _write(path, json.dumps(catalog.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n")


def write_all(catalog: Catalog, out: Path) -> list[Path]:
    """Write compare.json, index.html and compare.md, and each scenario's .html and .md, into `out`.

    Each file is written atomically (a reader never sees half a report); pages of scenarios that this run did not
    measure are removed, so that nothing on disk is older than the index that links to it.
    """
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "index.html", out / "compare.md", out / "compare.json"]
    write_json(catalog, paths[2])
    _write(paths[0], html.render_index(catalog))
    _write(paths[1], markdown.render_index(catalog))
    ran = set()
    for report in catalog.reports:
        ran.add(report.scenario)
        _write(out / f"{report.scenario}.html", html.render(report))
        _write(out / f"{report.scenario}.md", markdown.render(report))
    for name in set(names()) - ran:
        for suffix in (".html", ".md"):
            (out / f"{name}{suffix}").unlink(missing_ok=True)
    (out / "compare.html").unlink(missing_ok=True)  # the single-scenario report of format 1
    return paths


def _write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
