"""python -m compare: run the migration story for real and report it side by side."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from compare import render, runner, scenario
from compare.adapters import ADAPTERS
from compare.backends import BACKENDS
from compare.model import Step, Story
from compare.render import terminal

REPO = Path(__file__).resolve().parent.parent


class Parser(argparse.ArgumentParser):
    """Usage errors are one line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> Parser:
    parser = Parser(prog="python -m compare", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    run = sub.add_parser(
        "run",
        help="run the story for each framework in throwaway sandboxes and write the reports",
        description="Replay the migration story with the real tools (init, generate, upgrade, seed, change the "
        "model, generate, upgrade, drift check, rollback, re-apply) for each framework, in parallel, in throwaway "
        "sandboxes; inspect the real database after every step; print the result side by side and write "
        "compare.json, compare.md and compare.html. "
        "Exit 0: every step and check as expected; 1: some failed; 2: usage error.",
    )
    run.add_argument(
        "--framework",
        action="append",
        choices=list(ADAPTERS),
        metavar="NAME",
        help=f"a framework to run, repeatable ({', '.join(ADAPTERS)}; default: all)",
    )
    run.add_argument(
        "--variant",
        action="append",
        metavar="NAME",
        help="a variant of the change, repeatable (tutorial, safe; default: all)",
    )
    run.add_argument(
        "--db",
        default="sqlite",
        choices=[*BACKENDS, "all"],
        metavar="BACKEND",
        help=f"database backend: {', '.join(BACKENDS)} or all (default: sqlite)",
    )
    run.add_argument(
        "--scenario",
        default="add_read_count",
        choices=scenario.names(),
        metavar="NAME",
        help="the scenario to run (default: add_read_count)",
    )
    run.add_argument(
        "--out",
        type=Path,
        default=REPO / "reports",
        metavar="DIR",
        help="where to write compare.json, compare.md and compare.html (default: reports/)",
    )
    run.add_argument(
        "--keep-sandbox",
        action="store_true",
        help="keep the sandboxes (app copies, databases, SQL logs) and print where they are",
    )
    run.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="time limit for each tool call (default: 120)",
    )
    run.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="stories run at once (default: all; --jobs 1 times each tool call without contention)",
    )
    run.add_argument("--quiet", action="store_true", help="print only the verdict and the report paths")

    teach = sub.add_parser(
        "teach",
        help="replay the story step by step for a class, pausing between steps",
        description="Teaching mode: replay the story in a sandbox, one step at a time: what the step does and why, "
        "the exact command, its real output, and what changed in the schema and the files. Waits for Enter "
        "between steps on a terminal; runs straight through with --no-pause or when stdin is not a terminal.",
    )
    teach.add_argument(
        "--framework",
        default="all",
        choices=[*ADAPTERS, "all"],
        metavar="NAME",
        help=f"{', '.join(ADAPTERS)} or all, in lockstep (default: all)",
    )
    teach.add_argument("--variant", default="safe", metavar="NAME", help="variant of the change (default: safe)")
    teach.add_argument(
        "--db",
        default="sqlite",
        choices=list(BACKENDS),
        metavar="BACKEND",
        help=f"database backend: {', '.join(BACKENDS)} (default: sqlite)",
    )
    teach.add_argument("--no-pause", action="store_true", help="do not wait for Enter between steps")
    teach.add_argument(
        "--timeout", type=float, default=120.0, metavar="SECONDS", help="time limit for each tool call (default: 120)"
    )

    bench = sub.add_parser(
        "bench",
        help="measure the harness's overhead over the tool calls it makes",
        description="Run the whole comparison (every framework and variant, SQLite) and compare its wall time with "
        "the critical path of the native tool calls (the longest framework's summed CLI wall time). Writes "
        "reports/bench-compare.json. A benchmark, not a test.",
    )
    bench.add_argument("--runs", type=int, default=3, metavar="N", help="how many runs to measure (default: 3)")
    bench.add_argument(
        "--out",
        type=Path,
        default=REPO / "reports" / "bench-compare.json",
        metavar="FILE",
        help="where to write the result (default: reports/bench-compare.json)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "teach":
        from compare import teach

        return teach.main(parser, args)
    if args.command == "bench":
        from compare import bench

        return bench.main(parser, args)
    return cmd_run(parser, args)


def checked(parser: argparse.ArgumentParser, story: scenario.Scenario, variants: list[str], timeout: float) -> None:
    """The checks argparse cannot make alone, shared by `run` and `teach`: one-line error and exit 2."""
    unknown = [v for v in variants if v not in story.variants]
    if unknown:
        parser.error(f"unknown variant '{unknown[0]}' (choose from {', '.join(story.variants)})")
    if timeout <= 0:
        parser.error("--timeout must be positive")


def cmd_run(parser: Parser, args: argparse.Namespace) -> int:
    story = scenario.load(args.scenario)
    variants = args.variant or list(story.variants)
    checked(parser, story, variants, args.timeout)
    if args.jobs is not None and args.jobs < 1:
        parser.error("--jobs must be at least 1")
    frameworks = list(dict.fromkeys(args.framework or ADAPTERS))
    names = list(BACKENDS) if args.db == "all" else [args.db]
    backends = [BACKENDS[name]() for name in names]

    console, err = Console(), Console(stderr=True)
    with progress_display(err, len(story.steps)) as on_step:
        report, run_dir = runner.run(
            story,
            frameworks,
            list(dict.fromkeys(variants)),
            backends,
            timeout=args.timeout,
            keep=args.keep_sandbox,
            progress=on_step,
            jobs=args.jobs,
        )
    if not args.quiet:
        terminal.render(report, console)
    paths = render.write_all(report, args.out)
    console.print("Reports: " + ", ".join(_rel(p) for p in paths))
    if args.keep_sandbox:
        console.print(f"Sandboxes kept in {run_dir}")
    return 0 if report.ok else 1


class progress_display:
    """Live progress on a terminal (one bar per story); one line per finished step otherwise."""

    def __init__(self, console: Console, total: int):
        self.console, self.total, self.tasks = console, total, {}
        self.progress = Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[step]}"),
            TimeElapsedColumn(),
            console=console,
        )

    def __enter__(self):
        if self.console.is_terminal:
            self.progress.start()
        return self.on_step

    def __exit__(self, *exc):
        self.progress.stop()

    def on_step(self, story: Story, step: Step | None, done: int) -> None:
        if self.console.is_terminal:
            if story.key not in self.tasks:
                self.tasks[story.key] = self.progress.add_task(story.key, total=self.total, step="")
            label = step.title if step else "..."
            self.progress.update(self.tasks[story.key], completed=done, step=label)
        elif step is not None:
            state = "ok" if step.ok else f"FAILED: {step.error}"
            self.console.print(
                f"{story.key:<28} {done:>2}/{self.total} {step.title}: {state} ({step.seconds:.2f} s)",
                highlight=False,
                soft_wrap=True,
            )


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
