"""python -m compare: run the migration story for real and report it side by side."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from compare import render, runner, scenario, warm
from compare.adapters import ADAPTERS
from compare.backends import BACKENDS
from compare.model import Report, Step, Story
from compare.render import terminal
from compare.sandbox import RunFault
from compare.servercli import where

REPO = Path(__file__).resolve().parent.parent


class Parser(argparse.ArgumentParser):
    """Usage errors are one line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def add_db_option(p: argparse.ArgumentParser, every: bool) -> None:
    """--db: one backend, or (with `every`) all of them."""
    backends = [*BACKENDS, "all"] if every else list(BACKENDS)
    p.add_argument(
        "--db",
        default="sqlite",
        choices=backends,
        metavar="BACKEND",
        help=f"database backend: {', '.join(backends)} (default: sqlite)",
    )


def add_story_options(p: argparse.ArgumentParser, many: bool) -> None:
    """The options `run` and `teach` share: which scenario, variant, framework and backend, and the time limit.

    With `many` (run), each can be repeated and defaults to all; otherwise (teach) one of each.
    """
    every = f"{', '.join(scenario.names())} or all"
    p.add_argument(
        "--scenario",
        action="append" if many else "store",
        metavar="NAME",
        help=f"a scenario of the catalog, or a scenario file{', repeatable' if many else ''} ({every}; default: "
        + ("all)" if many else "add_read_count)"),
    )
    p.add_argument(
        "--variant",
        action="append" if many else "store",
        metavar="NAME",
        help="a variant of the scenario's change, repeatable (default: all; `python -m compare list` shows them)"
        if many
        else "the variant of the change (default: the scenario's first, its most instructive one)",
    )
    choices = list(ADAPTERS) if many else [*ADAPTERS, "all"]
    p.add_argument(
        "--framework",
        action="append" if many else "store",
        choices=choices,
        default=None if many else "all",
        metavar="NAME",
        help=f"{'a framework to run, repeatable' if many else 'the framework'} ({', '.join(choices)}"
        + ("; default: all)" if many else "; all: in lockstep; default: all)"),
    )
    add_db_option(p, every=many)
    p.add_argument(
        "--timeout", type=float, default=120.0, metavar="SECONDS", help="time limit for each tool call (default: 120)"
    )


def build_parser() -> Parser:
    parser = Parser(prog="python -m compare", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    run = sub.add_parser(
        "run",
        help="run the catalog's scenarios for each framework in throwaway sandboxes and write the reports",
        description="Run each scenario of the catalog with the real tools (reach its start state with init, "
        "generate and upgrade; load rows; change the models; generate, apply, drift check, roll back, re-apply) for "
        "each framework, variant and backend, in parallel, in throwaway sandboxes; inspect the real database after "
        "every step; print the catalog matrix and write index.html, compare.md, compare.json and one page per "
        "scenario. Exit 0: every step and check as the scenarios expect; 1: some were not; 2: usage error.",
    )
    add_story_options(run, many=True)
    run.add_argument(
        "--out",
        type=Path,
        default=REPO / "reports",
        metavar="DIR",
        help="where to write the reports (default: reports/)",
    )
    run.add_argument(
        "--keep-sandbox",
        action="store_true",
        help="keep the sandboxes (app copies, databases, SQL logs) and print where they are",
    )
    run.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="stories run at once (default: three per CPU core)",
    )
    run.add_argument(
        "--quiet", action="store_true", help="no progress and no tables: only the verdict and the report paths"
    )
    run.add_argument(
        "--tool-mode",
        choices=list(warm.MODES),
        metavar="MODE",
        help="how each tool process starts: warm (forked from a server that has imported the libraries, never the "
        "app) or plain (a fresh interpreter, as a user's shell); the measurements are the same, the start-up cost "
        f"is not (default: {warm.DEFAULT_MODE}, chosen by measurement: make bench-compare)",
    )

    sub.add_parser(
        "list",
        help="list the catalog's scenarios and their variants",
        description="List the scenarios of the catalog, the question each answers, its variants and backends.",
    )

    teach = sub.add_parser(
        "teach",
        help="replay a scenario step by step for a class, pausing between steps",
        description="Teaching mode: replay a scenario in a sandbox, one step at a time: what the step does and why, "
        "the exact command, its real output, and what changed in the schema, the rows and the files. Waits for "
        "Enter between steps on a terminal; runs straight through with --no-pause or when stdin is not a terminal.",
    )
    add_story_options(teach, many=False)
    teach.add_argument("--no-pause", action="store_true", help="do not wait for Enter between steps")

    lint = sub.add_parser(
        "lint",
        help="print the lint findings of the last run (squawk and the lab's rules, with the run's verdicts)",
        description="Print the lint section of every scenario from a run's compare.json: what squawk (on the "
        "PostgreSQL SQL each tool executed) and the lab's rules (compare/lint.toml) found, per framework, with the "
        "run's verdict on each. Exit 0: no error-severity finding; 1: at least one (for CI); 2: no usable JSON.",
    )
    lint.add_argument(
        "--json",
        type=Path,
        default=REPO / "reports" / "compare.json",
        metavar="FILE",
        help="the compare.json of a run (default: reports/compare.json)",
    )

    bench = sub.add_parser(
        "bench",
        help="measure the run's CPU, its floor and its wall time, per tool mode",
        description="Run the whole catalog once per tool mode and report, per backend: the calls, their summed CPU "
        "time, the floor (that sum over the cores used, at least the longest story's CPU chain), the run's wall "
        "time, wall / floor, and the per-call medians. Writes reports/bench-compare.json. A benchmark, not a test.",
    )
    bench.add_argument("--runs", type=int, default=1, metavar="N", help="how many runs per mode (default: 1)")
    bench.add_argument(
        "--tool-mode",
        choices=list(warm.MODES),
        metavar="MODE",
        help=f"measure only this tool mode ({', '.join(warm.MODES)}; default: both)",
    )
    add_db_option(bench, every=True)
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
    if args.command == "list":
        return cmd_list()
    if args.command == "lint":
        return cmd_lint(parser, args)
    return cmd_run(parser, args)


def selected(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[scenario.Scenario]:
    """The scenarios, variants and time limit the user chose, shared by `run` and `teach`: one-line error, exit 2."""
    if isinstance(args.scenario, str):
        wanted = [args.scenario]
    else:
        wanted = args.scenario or (["all"] if args.command == "run" else ["add_read_count"])
    names = scenario.names() if "all" in wanted else list(dict.fromkeys(wanted))
    try:
        chosen = [scenario.load_file(Path(n)) if n.endswith(".toml") else scenario.load(n) for n in names]
    except OSError as exc:
        parser.error(f"cannot read the scenario file {exc.filename}: {exc.strerror}")
    except ValueError as exc:
        parser.error(" ".join(str(exc).split())[:300])
    variants = args.variant if isinstance(args.variant, list) else [args.variant] if args.variant else []
    for v in variants:
        if not any(v in sc.variants for sc in chosen):
            known = sorted({name for sc in chosen for name in sc.variants})
            parser.error(f"unknown variant '{v}' (choose from {', '.join(known)})")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    return chosen


PIPED_WIDTH = 160  # columns when the output is not a terminal and COLUMNS is not set: wide tables stay whole


def make_console(stderr: bool = False, **options) -> Console:
    """A console as wide as the terminal, or PIPED_WIDTH when piped (rich would fold tables at 80)."""
    stream = sys.stderr if stderr else sys.stdout
    piped = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(stderr=stderr, width=PIPED_WIDTH if piped else None, **options)


def cmd_list() -> int:
    console = make_console()
    table = Table(title="The catalog (python -m compare run --scenario NAME)", expand=True, show_lines=True)
    for col in ("scenario", "question", "variants", "backends"):
        table.add_column(col, overflow="fold", no_wrap=col == "scenario")
    for name in scenario.names():
        sc = scenario.load(name)
        variants = "\n".join(f"{v}: {spec.title}" for v, spec in sc.variants.items())
        table.add_row(name, sc.question or sc.title, variants, ", ".join(sc.backends))
    console.print(table)
    return 0


def cmd_lint(parser: Parser, args: argparse.Namespace) -> int:
    """The lint findings of a run's compare.json, as tables; exit 1 when one has severity error."""
    from compare.render import lint_table

    try:
        catalog = lint_table.load(args.json)
    except lint_table.NotAReport as exc:
        print(f"{parser.prog} lint: error: {exc}", file=sys.stderr)
        return 2
    console = make_console()
    lint_table.render(catalog, console)
    return 1 if any(f.severity == "error" for r in catalog.reports for f in r.lint) else 0


def cmd_run(parser: Parser, args: argparse.Namespace) -> int:
    scenarios = selected(parser, args)
    if args.tool_mode:
        warm.set_mode(args.tool_mode)
    if args.jobs is not None and args.jobs < 1:
        parser.error("--jobs must be at least 1")
    frameworks = list(dict.fromkeys(args.framework or ADAPTERS))
    names = list(BACKENDS) if args.db == "all" else [args.db]
    if not any(sc.applies(n) for sc in scenarios for n in names):
        parser.error(f"none of the chosen scenarios applies to {args.db}")
    backends = [BACKENDS[name]() for name in names]
    warm.prestart(dict.fromkeys(warm.group_of(ADAPTERS[f].script()) for f in frameworks))  # unless started already
    # measured: with 2 per core both cores still idled 0.2 s in all while every story waited on a tool or the GIL
    jobs = args.jobs or 3 * (os.cpu_count() or 1)

    console, err = make_console(), make_console(stderr=True)
    total = len(runner.plan(scenarios, frameworks, args.variant, backends))
    for name in names:
        if notice := server_notice(name):
            err.print(notice, highlight=False, soft_wrap=True)
    try:
        with render.reserved(args.out), progress_display(err, total, quiet=args.quiet) as on_step:
            threading.Thread(target=render.prepare, daemon=True).start()  # while the first tool calls wait
            rendered: dict[str, dict[str, str]] = {}  # each scenario's pages, rendered when its stories end
            parts: dict[str, bytes] = {}  # and its part of compare.json

            def on_report(report: Report) -> None:
                rendered[report.scenario] = render.scenario_pages(report)
                parts[report.scenario] = render.report_json(report)

            catalog, run_dir = runner.run(
                scenarios,
                frameworks,
                list(dict.fromkeys(args.variant)) if args.variant else None,
                backends,
                timeout=args.timeout,
                keep=args.keep_sandbox,
                progress=on_step,
                jobs=jobs,
                on_report=on_report,
            )
            if not args.quiet:
                terminal.render(catalog, console)
            paths = render.write_all(catalog, args.out, rendered, parts)
    except runner.Interrupted as exc:
        print(
            f"{parser.prog}: interrupted: {exc}; tool processes stopped, sandboxes and databases removed; "
            f"no report written ({where(args.out)} is as it was)",
            file=sys.stderr,
        )
        return 130
    except RunFault as exc:
        print(f"{parser.prog}: error: {exc}; the run stopped, no report written", file=sys.stderr)
        return 1
    except render.ReportsError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    verdict = "every step and check as expected" if catalog.ok else "some steps or checks did not go as expected"
    console.print(f"Result: {verdict}. Reports: " + ", ".join(where(p) for p in paths), soft_wrap=True)
    if args.keep_sandbox:
        console.print(f"Sandboxes kept in {run_dir}", soft_wrap=True)
    return 0 if catalog.ok else 1


def server_notice(backend: str) -> str | None:
    """What the run does with the project's server for this backend (none for SQLite), and how to stop it."""
    if backend == "postgresql":
        from compare import pg as server

        title, target = "PostgreSQL", "pg-down"
    elif backend == "mariadb":
        from compare import mariadb as server

        title, target = "MariaDB", "mariadb-down"
    else:
        return None
    state = "is running" if server.running_url() else "is not running: the run starts it"
    data = where(server.data_dir())
    return f"{title}: the project's server (data in {data}) {state}; it keeps running afterwards: make {target}"


class progress_display:
    """Live progress on a terminal (one bar per story); one line per finished step otherwise."""

    def __init__(self, console: Console, stories: int, quiet: bool = False):
        self.console, self.stories, self.quiet, self.tasks = console, stories, quiet, {}
        self.done = 0
        self.progress = Progress(
            TextColumn("{task.description:<44}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[step]}"),
            TimeElapsedColumn(),
            console=console,
        )

    def __enter__(self):
        self.live = self.console.is_terminal and not self.quiet
        if self.live:
            self.progress.start()
        return self.on_step

    def __exit__(self, *exc):
        if self.live:
            self.progress.stop()

    def on_step(self, story: Story, step: Step | None, done: int, total: int) -> None:
        if self.quiet:
            return
        if self.live:
            if story.key not in self.tasks:
                self.tasks[story.key] = self.progress.add_task(story.key, total=total, step="")
            label = step.title if step else "..."
            self.progress.update(self.tasks[story.key], completed=done, step=label)
            if done == total:
                self.progress.remove_task(self.tasks[story.key])
        elif step is not None:
            if step.ok:
                state = "ok"
            else:
                state = ("failed, as expected: " if step.expected_failure else "FAILED: ") + (step.error or "")
            self.console.print(
                f"{story.key:<44} {done:>2}/{total} {step.title}: {state} ({step.seconds:.2f} s)",
                highlight=False,
                soft_wrap=True,
            )


if __name__ == "__main__":
    sys.exit(main())
