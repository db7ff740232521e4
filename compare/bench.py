"""make bench-compare: how much wall time the harness adds over the tool calls it makes.

Each run is the real `python -m compare run` (every framework and variant, SQLite) in a subprocess, timed from the
outside. Its critical path is read from the report it wrote: the longest framework's summed tool-call wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from compare.cli import REPO

TARGET = 1.15


def critical_path(report: dict) -> tuple[float, dict[str, float]]:
    """The longest framework's summed tool-call wall time, and every framework's sum."""
    per_fw: dict[str, float] = defaultdict(float)
    for story in report["stories"]:
        per_fw[story["framework"]] += sum(c["seconds"] for s in story["steps"] for c in s["tool_calls"])
    return max(per_fw.values()), dict(per_fw)


def main(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    runs = []
    for n in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="bench-compare-") as out:
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "compare", "run", "--quiet", "--out", out],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=False,
            )
            wall = time.perf_counter() - t0
            if proc.returncode not in (0, 1):
                print(proc.stderr, file=sys.stderr)
                return 1
            report = json.loads((Path(out) / "compare.json").read_text())
        path, per_fw = critical_path(report)
        # stricter: the stories run in parallel, so the longest single story bounds the run from below
        longest = max(sum(c["seconds"] for s in st["steps"] for c in s["tool_calls"]) for st in report["stories"])
        runs.append(
            {
                "wall_seconds": round(wall, 3),
                "critical_path_seconds": round(path, 3),
                "ratio": round(wall / path, 3),
                "framework_tool_seconds": per_fw,
                "longest_story_tool_seconds": round(longest, 3),
                "ratio_to_longest_story": round(wall / longest, 3),
            }
        )
        print(
            f"run {n}/{args.runs}: wall {wall:.1f} s, critical path {path:.1f} s, ratio {wall / path:.2f} "
            f"(longest single story {longest:.1f} s, ratio {wall / longest:.2f})"
        )
    ratio = statistics.median(r["ratio"] for r in runs)
    result = {
        "benchmark": "compare-overhead",
        "command": "python -m compare run (all frameworks and variants, SQLite)",
        "target_ratio": TARGET,
        "median_ratio": ratio,
        "within_target": ratio <= TARGET,
        "median_ratio_to_longest_story": statistics.median(r["ratio_to_longest_story"] for r in runs),
        "runs": runs,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            "cpus": os.cpu_count(),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"median ratio {ratio:.2f} (target <= {TARGET}); wrote {args.out}")
    return 0
