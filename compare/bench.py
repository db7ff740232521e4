"""make bench-compare: how close a whole comparison run comes to what the machine allows, per tool mode and backend.

Each run is the real `python -m compare run --quiet` (the whole catalog, SQLite unless told otherwise) in a
subprocess, timed from the outside, once per tool mode (compare.warm: plain and warm). From the report it wrote:

- calls: the tool calls made, and their summed CPU time (each call's own, from its process's rusage);
- the CPU time of the run's whole process tree (os.wait4 on it), and the part that is not the calls': the
  harness's own (its story threads share one interpreter lock, so this part does not spread over the cores);
- floor: that sum divided by the cores the run used (stories at once, at most the CPUs), and never below the
  longest story's CPU chain (a story's calls run one after another);
- wall / floor: what the harness, the contention and the start-up of the run cost on top of the tools' own work;
- per call: the median CPU time (almost all of it start-up: the migration work itself is milliseconds), the
  median wall time, and the median share of the sandbox's own work around a call (hashing the app's files before
  and after, reading the SQL log) in the call's time; and, per story, the time it spent outside its tool calls
  (sandbox copy, database, seed, edits, snapshots, checks) divided by its calls.

The warm servers' own start (once per run: importing the tools) is measured on its own and reported next to the
per-call figures. Written to reports/bench-compare.json. A benchmark, not a test: nothing here fails on a number.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from compare import warm
from compare.backends import BACKENDS
from compare.cli import REPO

# Targets of issue 10, shown next to the measurements (not enforced).
TARGETS = {
    "median_call_cpu_seconds_warm_sqlite": 0.15,
    "wall_over_floor": 1.2,
    "catalog_wall_seconds_sqlite": 60.0,
    "harness_share_of_call": 0.10,
}


def stories(report: dict) -> list[dict]:
    """Every story of a compare.json (a catalog of reports, or a single report)."""
    return [s for r in report.get("reports", [report]) for s in r["stories"]]


def cores_used(report: dict, n_stories: int) -> int:
    """Stories at once (from the report's environment), at most the CPUs of the machine."""
    cpus = os.cpu_count() or 1
    for rep in report.get("reports", [report]):
        found = re.match(r"(\d+) at once", rep.get("environment", {}).get("Stories in parallel", ""))
        if found:
            return max(1, min(int(found.group(1)), cpus, n_stories))
    return max(1, min(cpus, n_stories))


def measure(report: dict, wall: float) -> dict[str, dict]:
    """Per backend: calls, CPU, floor, wall / floor and the per-call medians."""
    by_backend: dict[str, list[dict]] = defaultdict(list)
    for story in stories(report):
        by_backend[story["backend"]].append(story)
    out = {}
    for backend, group in by_backend.items():
        calls = [c for s in group for step in s["steps"] for c in step["tool_calls"]]
        if not calls:
            continue
        cpu = sum(c["cpu_seconds"] for c in calls)
        chains = [sum(c["cpu_seconds"] for step in s["steps"] for c in step["tool_calls"]) for s in group]
        cores = cores_used(report, len(group))
        floor = max(cpu / cores, max(chains))
        run_cpu = report.get("_run_cpu_seconds")
        out[backend] = {
            "stories": len(group),
            "calls": len(calls),
            "cpu_seconds": round(cpu, 3),
            "cores": cores,
            "longest_story_cpu_seconds": round(max(chains), 3),
            # the run's whole process tree; less the calls' own: the harness's CPU (its threads share one GIL)
            "run_cpu_seconds": round(run_cpu, 3) if run_cpu is not None else None,
            "harness_cpu_seconds": round(run_cpu - cpu, 3) if run_cpu is not None else None,
            "floor_seconds": round(floor, 3),
            "wall_seconds": round(wall, 3),
            "wall_over_floor": round(wall / floor, 3) if floor else None,
            "median_call_cpu_seconds": round(statistics.median(c["cpu_seconds"] for c in calls), 4),
            "median_call_wall_seconds": round(statistics.median(c["seconds"] for c in calls), 4),
            "median_call_harness_seconds": round(statistics.median(c["harness_seconds"] for c in calls), 4),
            "median_harness_share_of_call": round(
                statistics.median(c["harness_seconds"] / max(c["seconds"], 1e-6) for c in calls), 4
            ),
            # everything a story did besides its tool calls (sandbox copy, database, seed, edits, snapshots,
            # checks), per tool call it made: an upper bound of the harness's own start-up around a call
            "median_story_rest_seconds_per_call": round(statistics.median(_rest_per_call(s) for s in group), 4),
            "tool_processes": sorted({c.get("process", "plain") for c in calls}),
        }
    return out


def _rest_per_call(story: dict) -> float:
    calls = [c for step in story["steps"] for c in step["tool_calls"]]
    return max(story["seconds"] - sum(c["seconds"] for c in calls), 0.0) / max(len(calls), 1)


def one_run(tool_mode: str, db: str) -> tuple[float, dict, str | None]:
    """One real `python -m compare run` in this tool mode: its wall time from the outside, and its report."""
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as out:
        env = {**os.environ, warm.ENV_VAR: tool_mode}
        t0 = time.perf_counter()
        with tempfile.TemporaryFile() as output:
            proc = subprocess.Popen(
                [sys.executable, "-m", "compare", "run", "--quiet", "--db", db, "--out", out],
                cwd=REPO,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            _, status, usage = os.wait4(proc.pid, 0)  # the whole run: the harness, its tools, the warm servers
            proc.returncode = code = os.waitstatus_to_exitcode(status)
            wall = time.perf_counter() - t0
            output.seek(0)
            text = output.read().decode(errors="replace").strip()
        path = Path(out) / "compare.json"
        if code not in (0, 1) or not path.exists():
            return wall, {}, text or f"exit code {code}"
        report = json.loads(path.read_text(encoding="utf-8"))
        report["_run_cpu_seconds"] = usage.ru_utime + usage.ru_stime
        return wall, report, None


def main(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    modes = [args.tool_mode] if getattr(args, "tool_mode", None) else list(warm.MODES)
    db = getattr(args, "db", None) or "sqlite"
    dbs = list(BACKENDS) if db == "all" else [db]
    result: dict = {
        "benchmark": "compare-floor",
        "command": f"python -m compare run --quiet --db {'|'.join(dbs)} (the whole catalog), once per tool mode",
        "targets": TARGETS,
        "modes": {},
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            "cpus": os.cpu_count(),
        },
    }
    start_wall, start_cpu = warm.server_start_cost(m for name in dbs for m in BACKENDS[name].preload)
    result["warm_server_start"] = {"wall_seconds": round(start_wall, 3), "cpu_seconds": round(start_cpu, 3)}
    print(f"warm servers start (once per run): {start_wall:.2f} s wall, {start_cpu:.2f} s CPU")
    for mode in modes:
        runs = []
        for n in range(1, args.runs + 1):
            figures, walls = {}, {}
            for backend in dbs:
                wall, report, error = one_run(mode, backend)
                if error:
                    print(f"{mode} run {n} on {backend}: the run failed: {error[-2000:]}", file=sys.stderr)
                    return 1
                figures.update(measure(report, wall))
                walls[backend] = round(wall, 3)
            runs.append({"wall_seconds": walls, "backends": figures})
            for backend, f in figures.items():
                wall = f["wall_seconds"]
                print(
                    f"{mode:>5} run {n}/{args.runs} {backend}: {f['calls']} calls, {f['cpu_seconds']:.1f} s CPU, "
                    f"harness {f['harness_cpu_seconds']:.1f} s CPU, "
                    f"floor {f['floor_seconds']:.1f} s on {f['cores']} cores, wall {wall:.1f} s, "
                    f"wall/floor {f['wall_over_floor']:.2f}; per call (median): "
                    f"CPU {f['median_call_cpu_seconds']:.3f} s, wall {f['median_call_wall_seconds']:.3f} s, "
                    f"harness {f['median_harness_share_of_call']:.1%}"
                )
        result["modes"][mode] = {"runs": runs, "median": _medians(runs)}
    fastest = min(result["modes"], key=lambda m: sum(f["wall_seconds"] for f in result["modes"][m]["median"].values()))
    result["fastest_mode"] = fastest
    result["default_mode"] = warm.DEFAULT_MODE
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"fastest: {fastest} (default: {warm.DEFAULT_MODE}); wrote {args.out}")
    return 0


def _medians(runs: list[dict]) -> dict[str, dict]:
    """Per backend, the median over the runs of every figure."""
    out: dict[str, dict] = {}
    for backend in runs[0]["backends"]:
        figures = [r["backends"][backend] for r in runs if backend in r["backends"]]
        out[backend] = {
            k: (statistics.median(f[k] for f in figures) if isinstance(v, int | float) else v)
            for k, v in figures[0].items()
        }
    return out
