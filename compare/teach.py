"""Teaching mode: replay a scenario one step at a time, for real, and show what each step ran and changed.

The runner's StoryRunner measures, driven step by step (start / run_step / finish); this module only shows
the steps it recorded. With several frameworks, they advance in lockstep: step N for each, then a pause; side by
side when the terminal is wide enough, stacked otherwise. On a terminal each step is folded to fit the screen,
so its title and its "why" stay in view; `e` at the prompt shows it in full.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from compare import checks, views, warm
from compare.adapters import ADAPTERS
from compare.backends import BACKENDS
from compare.cli import make_console, selected
from compare.model import Step
from compare.runner import StoryRunner, run_directory
from compare.sandbox import RunFault
from compare.scenario import Scenario, StepSpec
from compare.snapshot import LOSSES

PROMPT = "Press Enter for the next step (e to expand it, q to quit) "
MARK = {"added": "green", "removed": "red", "changed": "yellow"}
THEME = "ansi_dark"  # the terminal's own colours, readable on any background
PANEL_WIDTH = 52  # the narrowest panel worth reading: side by side needs this many columns per framework
FOLDS = (None, 12, 8, 5, 3, 1)  # lines kept per section, tried in turn until the step fits the screen
# Lines that say nothing to a class: Alembic's plugin set-up, and its per-call dialect banner.
NOISE = re.compile(r"setting up autogenerate plugin|\[alembic\.runtime\.migration\] (Context impl|Will assume)")


def main(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Replay a scenario for one framework, or all of them in lockstep. Exit 0 when every step went as expected."""
    (story,) = selected(parser, args)
    variant = args.variant or next(iter(story.variants))
    if variant not in story.variants:
        parser.error(f"scenario {story.name} has no variant '{variant}' (choose from {', '.join(story.variants)})")
    if not story.applies(args.db):
        parser.error(f"scenario {story.name} does not apply to {args.db} (only {', '.join(story.backends)})")
    frameworks = list(ADAPTERS) if args.framework == "all" else [args.framework]
    backend = BACKENDS[args.db]()
    console = make_console(highlight=False)
    pause = not args.no_pause and sys.stdin.isatty()

    try:
        run_dir = run_directory("migration-teach-")
    except RunFault as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    runners = [StoryRunner(story, ADAPTERS[fw], variant, backend, run_dir, args.timeout, None) for fw in frameworks]
    # Steps run in worker threads, so that Ctrl-C reaches this one at once: it kills the tool calls under way.
    pool = ThreadPoolExecutor(max_workers=len(runners))
    try:
        return Lesson(console, story, runners, pause).run(pool)
    except KeyboardInterrupt:
        warm.cancel()
        console.print("\nInterrupted.", style="yellow")
        return 130
    except RunFault as exc:
        warm.cancel()
        console.print(f"\nerror: {exc}; the lesson stopped", style="red", markup=False)
        return 1
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        warm.reset()
        for r in runners:
            r.finish()
        shutil.rmtree(run_dir, ignore_errors=True)
        console.print(f"Sandbox removed: {run_dir}", soft_wrap=True, markup=False)


class Lesson:
    """The class: run and show the steps in lockstep, pausing between them."""

    def __init__(self, console: Console, story: Scenario, runners: list[StoryRunner], pause: bool):
        self.console, self.story, self.runners, self.pause = console, story, runners, pause
        self.total = len(story.steps)
        self.fold = console.is_terminal  # piped output is a transcript: everything, unfolded

    def run(self, pool: ThreadPoolExecutor) -> int:
        """Every step, then the checks and the summary; return the exit code."""
        intro(self.console, self.story, self.runners, self.pause)
        with self.console.status("Copying the apps into the sandbox..."):
            list(pool.map(StoryRunner.start, self.runners))
        for n, spec in enumerate(self.story.steps):
            going = [r for r in self.runners if not r.stopped]
            if not going:
                break
            with self.console.status(f"Step {n + 1}/{self.total}: {spec.title}..."):
                ran = list(pool.map(StoryRunner.run_step, going, [n] * len(going)))
            if not any(ran):
                if not spec.after_failure:  # a retry that nobody needed is not worth a line
                    self.console.print(Text(f"Step {n + 1}/{self.total}: {spec.title}: not needed here.", style="dim"))
                continue
            if not self.show(n, spec):
                self.console.print(f"Stopped after step {n + 1} of {self.total}.")
                return summary(self.console, self.runners, self.total)
        for r in self.runners:
            r.story.checks = checks.run_all(r.story, r.adapter, self.story, r.variant)
        checks_view(self.console, self.runners)
        return summary(self.console, self.runners, self.total)

    def show(self, n: int, spec: StepSpec) -> bool:
        """Show step n (folded to the screen), wait at the prompt; False when the class quits."""
        full = not self.fold
        while True:
            self.console.print(self.step(n, spec, full))
            last = n + 1 == self.total or all(r.stopped for r in self.runners)
            if not self.pause or last:
                return True
            answer = ask(self.console)
            if answer == "e" and not full:
                full = True
                continue
            return answer != "q"

    def step(self, n: int, spec: StepSpec, full: bool) -> RenderableType:
        """The step's title, narrative and panels; folded until it fits the screen, unless `full`."""
        head = [
            Text(),
            Text(f"Step {n + 1}/{self.total}: {spec.title}", style="bold reverse"),
            Text(spec.narrative),
        ]
        budget = self.console.height - 2  # the prompt's line, and one to spare
        for fold in (None,) if full else FOLDS:
            view = Group(*head, self.panels(spec, fold))
            if full or len(self.console.render_lines(view, pad=False)) <= budget:
                return view
        return view  # folded as far as it goes

    def panels(self, spec: StepSpec, fold: int | None) -> RenderableType:
        """One panel per framework: side by side on a terminal wide enough, stacked otherwise (and in a transcript)."""
        cells: list[RenderableType] = []
        for r in self.runners:
            tool = views.tool_title(r.adapter.name)
            step = r.story.step(spec.id)
            if step is None:
                failed = r.story.failed
                why = f"its story stopped at '{failed.title}'" if failed else "nothing to do at this step"
                cells.append(Text(f"{tool}: {why}.", style="dim"))
                continue
            cells.append(Panel(step_view(r, step, fold), title=Text(f"{tool} · {step.title}"), title_align="left"))
        if self.fold and len(cells) > 1 and self.console.width >= PANEL_WIDTH * len(cells):
            grid = Table.grid(expand=True, padding=(0, 1))
            for _ in cells:
                grid.add_column(ratio=1)
            grid.add_row(*cells)
            return grid
        return Group(*cells)


def ask(console: Console) -> str:
    """Wait for Enter: '' to go on, 'e' to expand, 'q' to quit (closing stdin quits too)."""
    try:
        answer = console.input(PROMPT).strip().lower()
    except EOFError:
        return "q"
    return answer[:1]


# --- what the console shows ---------------------------------------------------------------------------


def intro(console: Console, story: Scenario, runners: list[StoryRunner], pause: bool) -> None:
    """What the scenario is about, which variant and tools, and where the sandbox is."""
    variant = runners[0].variant
    console.rule(Text(story.title, style="bold"), align="left")
    if story.question:
        console.print(Text(story.question, style="italic"))
    console.print(story.summary, markup=False)
    tools = ", ".join(views.tool_title(r.adapter.name) for r in runners)
    console.print()
    for label, value in (
        ("Variant", f"{runners[0].variant_name}: {variant.title}. {variant.description}"),
        ("Tools", f"{tools}, on {runners[0].backend.title}"),
        ("Sandbox", f"{runners[0].dir.parent} (removed at the end)"),
    ):
        console.print(Text.assemble((f"{label}: ", "bold"), value), soft_wrap=label == "Sandbox")
    how = "Enter after each one, e to expand a folded step, q to quit." if pause else "no pauses."
    console.print(f"{len(story.steps)} steps; {how}")


def step_view(r: StoryRunner, step: Step, fold: int | None = None) -> Group:
    """One framework's step: the command, its outcome and output, the SQL it ran, what it did to the schema and
    the rows, the files it wrote. `fold` keeps that many lines of each section (None: all of them)."""
    sections = [
        [command(step), outcome(r, step), *output_view(r, step, fold)],
        sql_view(step, fold),
        schema_view(r, step, fold),
        rows_view(step, fold),
        files_view(r, step, fold),
    ]
    parts: list[RenderableType] = []
    for section in filter(None, sections):
        parts += [Text(), *section] if parts and fold is None else section
    return Group(*parts)


def command(step: Step) -> Text:
    """The command exactly as a learner types it; what happened otherwise (a hand edit, the harness's SQL)."""
    if step.tool_calls:
        text = Text("\n".join(f"$ cd {step.cwd} && {c.command}" for c in step.tool_calls), style="bold")
        if step.answers:
            text.append(f"\n  (typed at its prompt: {', '.join(step.answers)})", style="italic")
        return text
    if step.kind in ("sql", "query"):
        return Text("\n".join(f"SQL> {line}" for line in (step.command or "").splitlines()), style="bold")
    what = step.command or step.note or "edited by hand: " + ", ".join(f.path for f in step.files)
    return Text(f"# {what}", style="italic")


def outcome(r: StoryRunner, step: Step) -> Text:
    """ok, or how it failed and whether the scenario expects that."""
    took = f"exit {step.exit_code}, {step.seconds:.2f} s" if step.tool_calls else f"{step.seconds:.2f} s"
    reason = r.variant.reason(r.adapter.name, r.backend.name, step=step.id) or ""
    if step.ok and not step.expected_failure:
        text = Text(f"ok ({took})", style="green")
    elif step.ok:
        text = Text(f"ok ({took}), but the scenario expected a failure: {reason}", style="bold red")
    elif step.expected_failure:
        text = Text(f"failed, as the scenario expects ({reason}): {step.error}", style="yellow")
    else:
        text = Text(f"FAILED: {step.error}", style="bold red")
    if step.note and step.tool_calls:
        text.append(f" {step.note.strip()}", style="dim")
    return text


def trim(text: str, limit: int | None) -> str:
    """The text, or its head and tail when it has more than `limit` lines (None: no limit)."""
    lines = text.splitlines()
    if limit is None or len(lines) <= limit:
        return text
    if limit <= 1:
        return f"... {len(lines)} lines folded (e expands) ..."
    head, tail = max(1, limit * 2 // 3), max(0, limit - 1 - max(1, limit * 2 // 3))
    folded = len(lines) - head - tail
    return "\n".join([*lines[:head], f"... {folded} lines folded (e expands) ...", *lines[len(lines) - tail :]])


def output_view(r: StoryRunner, step: Step, fold: int | None) -> list[RenderableType]:
    """What the tool printed, sandbox paths made relative; Alembic's set-up noise left out when folded."""
    text = (step.stdout + step.stderr).rstrip().replace(f"{r.dir}/{r.adapter.app_dir}/", "")
    if step.kind == "query":
        return [Text(text)] if text else []
    if fold is not None:
        lines = text.splitlines()
        kept = [line for line in lines if not NOISE.search(line)]
        text = "\n".join(kept) + (
            f"\n({len(lines) - len(kept)} lines of set-up left out)" if len(kept) < len(lines) else ""
        )
    text = trim(text.strip(), fold)
    return [Text(text)] if text else []


def sql_view(step: Step, fold: int | None) -> list[RenderableType]:
    """The statements that wrote something, one a line; those of a table rebuild marked."""
    writes = views.writes(step)
    if not writes or step.kind in ("sql", "query"):
        return []
    rebuild = {id(step.sql[i]) for i in views.rebuild_statements(step)}
    count = f"{len(writes)} statement{'s' if len(writes) > 1 else ''}"
    title = Text(f"SQL it ran, reads left out ({count})", style="bold")
    if tables := views.rebuilt_tables(step):
        title.append(f": it rebuilds {', '.join(tables)}, the lines marked ❱", style="bold yellow")
    if fold is not None and fold <= 1:
        return [title]
    shown = writes if fold is None or len(writes) <= fold else writes[:fold]
    lines = "\n".join(" ".join(s.sql.split()) for s in shown)  # one statement a line: the lesson
    marked = {k for k, s in enumerate(shown, 1) if id(s) in rebuild}
    out: list[RenderableType] = [
        title,
        Syntax(lines, "sql", theme=THEME, line_numbers=True, highlight_lines=marked, word_wrap=True),
    ]
    if len(shown) < len(writes):
        out.append(Text(f"... {len(writes) - len(shown)} more statements folded (e expands) ...", style="dim"))
    return out


def schema_view(r: StoryRunner, step: Step, fold: int | None) -> list[RenderableType]:
    """The columns the step added, removed or changed, against the schema after the previous step."""
    story = r.story
    if step.schema is None:
        return [Text("Schema: the database could not be read after this step.", style="red")]
    previous = story.before(step)
    before = {(row.table, row.column): row for row in views.schema_rows([story], previous.id)} if previous else {}
    table = Table(title="Schema changes", title_justify="left", title_style="bold", box=None, padding=(0, 2, 0, 0))
    for name in ("change", "table.column", "before", "after"):
        table.add_column(name, style="dim" if name == "before" else None)
    for row in views.schema_rows([story], step.id, previous.id if previous else None):
        change = row.change.get(story.framework) or ("" if previous else "added")
        if not change or row.bookkeeping:
            continue
        old = before.get((row.table, row.column))
        table.add_row(
            Text(change, style=MARK[change]),
            Text(f"{row.table}.{row.column}"),
            old.text(story.framework) if old else "-",
            Text(row.text(story.framework), style=MARK[change]),
        )
    old_version = previous.schema.version if previous and previous.schema else []
    version = []
    if step.schema.version != old_version:
        applied = ", ".join(step.schema.version) or "none"
        version = [Text(f"Recorded as applied: {applied} (before: {', '.join(old_version) or 'none'})", style="cyan")]
    if not table.rows and not version:
        return [] if fold is not None else [Text("Schema: unchanged.", style="dim")]
    if fold is not None and len(table.rows) > fold:
        n = len(table.rows)
        return [Text(f"Schema changes: {n} columns (e expands)", style="bold"), *version]
    return ([table] if table.rows else []) + version


def rows_view(step: Step, fold: int | None) -> list[RenderableType]:
    """What the step did to the rows, measured: the values a new column got, values lost, rows added."""
    changes = [views.change_text(c) for c in step.data_changes]
    if not changes or step.role in ("baseline",):
        return []
    counts = ", ".join(f"{t} {n}" for t, n in (step.data.counts.items() if step.data else []))
    lines = changes if fold is None or len(changes) <= fold else [*changes[:fold], f"... {len(changes) - fold} more"]
    return [
        Text(f"Rows now: {counts}", style="bold"),
        *(Text(line, style="red" if any(b in line for b in LOSSES) else "green") for line in lines),
    ]


def files_view(r: StoryRunner, step: Step, fold: int | None) -> list[RenderableType]:
    """Files the step wrote; the migration scripts in full, and the hand edits as a diff (folded to the screen)."""
    if not step.files and not step.diff:
        return []
    names = ", ".join(f.path for f in step.files)
    parts: list[RenderableType] = [Text(f"Files written: {names}", style="bold")]
    if fold is not None and fold <= 1:
        return parts
    limit = None if fold is None else fold * 2
    if step.diff:
        parts += [Text("Edited by hand:", style="bold"), Syntax(trim(step.diff, limit), "diff", theme=THEME)]
    else:
        for f in step.files:
            if r.adapter.is_script(f.path):
                parts += [
                    Text(f"{f.path}, as the tool wrote it:", style="bold"),
                    Syntax(trim(f.text, limit), "python", theme=THEME),
                ]
    return parts


def checks_view(console: Console, runners: list[StoryRunner]) -> None:
    """The scenario's checks, one row each, one column per framework."""
    console.print()
    console.rule(Text("Checks", style="bold"), align="left")
    table = Table(show_edge=False)
    table.add_column("check")
    for r in runners:
        table.add_column(views.tool_title(r.adapter.name))
    for i, name in enumerate(c.name for c in runners[0].story.checks):
        cells = []
        for r in runners:
            c = r.story.checks[i]
            word = ("pass" if c.passed else "fail") + ("" if c.expected else " (known)")
            cells.append(
                Text(f"{word}: {c.detail}", style="green" if c.passed else "yellow" if c.as_expected else "red")
            )
        table.add_row(name, *cells)
    console.print(table)


def summary(console: Console, runners: list[StoryRunner], total: int) -> int:
    """One line per framework, the verdict; return the exit code."""
    console.print()
    console.rule(Text("Summary", style="bold"), align="left")
    for r in runners:
        steps = r.story.steps
        good = sum(s.ok != s.expected_failure for s in steps)
        line = f"{views.tool_title(r.adapter.name)}: ran {len(steps)} of {total} steps, {good} as expected"
        if r.story.failed:
            line += f"; the story stopped at '{r.story.failed.title}': {r.story.failed.error}"
        console.print(line, soft_wrap=True, markup=False)
    ok = all(r.story.ok for r in runners)
    if ok:
        console.print("Every step and check went as expected.", style="bold green")
    else:
        console.print("Some steps or checks did not go as expected.", style="bold red")
    return 0 if ok else 1
