"""Teaching mode: replay the story one step at a time, for real, and show what each step ran and changed.

The runner's StoryRunner measures, driven step by step (start / run_step / finish); this module only shows
the steps it recorded. With several frameworks, they advance in lockstep: step N for each, then a pause.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePath

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from compare import checks, views
from compare.adapters import ADAPTERS
from compare.backends import BACKENDS
from compare.cli import selected
from compare.model import Step, Story
from compare.runner import StoryRunner
from compare.scenario import Scenario, StepSpec

PROMPT = "Press Enter for the next step (q to quit) "
MARK = {"added": "green", "removed": "red", "changed": "yellow"}
OUTPUT_LINES = 30  # longer tool output is shown as its head and tail
THEME = "ansi_dark"  # the terminal's own colours, readable on any background


def main(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Replay the story for one framework, or all of them in lockstep. Exit 0 when every step went as expected."""
    (story,) = selected(parser, args)
    variant = args.variant or next(iter(story.variants))
    if variant not in story.variants:
        parser.error(f"scenario {story.name} has no variant '{variant}' (choose from {', '.join(story.variants)})")
    if not story.applies(args.db):
        parser.error(f"scenario {story.name} does not apply to {args.db} (only {', '.join(story.backends)})")
    frameworks = list(ADAPTERS) if args.framework == "all" else [args.framework]
    backend = BACKENDS[args.db]()
    console = Console(highlight=False)
    pause = not args.no_pause and sys.stdin.isatty()

    run_dir = Path(tempfile.mkdtemp(prefix="migration-teach-"))
    runners = [StoryRunner(story, ADAPTERS[fw], variant, backend, run_dir, args.timeout, None) for fw in frameworks]
    # Steps run in worker threads: Ctrl-C then lets the tool call under way finish before the sandbox goes.
    pool = ThreadPoolExecutor(max_workers=len(runners))
    try:
        return lesson(console, story, runners, pool, pause)
    except KeyboardInterrupt:
        console.print("\nInterrupted.", style="yellow")
        return 130
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for r in runners:
            r.finish()
        shutil.rmtree(run_dir, ignore_errors=True)
        console.print(f"Sandbox removed: {run_dir}", soft_wrap=True, markup=False)


def lesson(console: Console, story: Scenario, runners: list[StoryRunner], pool: ThreadPoolExecutor, pause: bool) -> int:
    """Run and show the steps in lockstep, pausing between them; return the exit code."""
    intro(console, story, runners, pause)
    with console.status("Copying the apps into the sandbox..."):
        list(pool.map(StoryRunner.start, runners))
    total = len(story.steps)
    for n, spec in enumerate(story.steps):
        going = [r for r in runners if not r.stopped]
        if not going:
            break
        with console.status(f"Step {n + 1}/{total}: {spec.title}..."):
            ran = list(pool.map(StoryRunner.run_step, going, [n] * len(going)))
        if not any(ran):  # nothing to do at this step for any framework (no hand fix needed, no retry...)
            continue
        show_step(console, n, spec, runners, total)
        if pause and n + 1 < total and any(not r.stopped for r in runners) and not proceed(console):
            console.print(f"Stopped after step {n + 1} of {total}.")
            return summary(console, runners, total)
    for r in runners:
        r.story.checks = checks.run_all(r.story, r.adapter, story, r.variant)
    checks_view(console, runners)
    return summary(console, runners, total)


def proceed(console: Console) -> bool:
    """Wait for Enter; False when the user types q (or closes stdin)."""
    try:
        answer = console.input(PROMPT)
    except EOFError:
        return False
    return not answer.strip().lower().startswith("q")


# --- what the console shows ---------------------------------------------------------------------------


def intro(console: Console, story: Scenario, runners: list[StoryRunner], pause: bool) -> None:
    """What the story is about, which variant and tools, and where the sandbox is."""
    variant = runners[0].variant
    console.rule(Text(story.title, style="bold"), align="left")
    console.print(story.summary, markup=False)
    tools = ", ".join(views.tool_title(r.adapter.name) for r in runners)
    console.print()
    for label, value in (
        ("Variant", f"{variant.title}. {variant.description}"),
        ("Tools", f"{tools}, on {runners[0].backend.title}"),
        ("Sandbox", f"{runners[0].dir.parent} (removed at the end)"),
    ):
        console.print(Text.assemble((f"{label}: ", "bold"), value), soft_wrap=label == "Sandbox")
    console.print(f"{len(story.steps)} steps; " + ("Enter after each one, q to quit." if pause else "no pauses."))


def show_step(console: Console, n: int, spec: StepSpec, runners: list[StoryRunner], total: int) -> None:
    """The step's title and narrative, then one panel per framework (or where its story stopped)."""
    console.print()
    console.rule(Text(f"Step {n + 1}/{total}: {spec.title}", style="bold"), align="left")
    console.print(spec.narrative, markup=False)
    for r in runners:
        tool = views.tool_title(r.adapter.name)
        step = r.story.step(spec.id)
        if step is None:
            failed = r.story.failed
            why = f"its story stopped at '{failed.title}'" if failed else "nothing to do at this step"
            console.print(Text(f"{tool}: {why}.", style="dim"))
            continue
        console.print(Panel(step_view(r, step), title=Text(f"{tool} · {step.title}"), title_align="left"))


def step_view(r: StoryRunner, step: Step) -> Group:
    """One framework's step: the command, its outcome and output, the SQL it ran, what changed."""
    output = trim((step.stdout + step.stderr).rstrip(), OUTPUT_LINES)
    sections = [
        [command(step), outcome(r, step), *([Text(output)] if output else [])],
        sql_view(step),
        schema_view(r.story, step),
        files_view(r, step),
    ]
    parts: list[RenderableType] = []
    for section in filter(None, sections):
        parts += [Text(), *section] if parts else section
    return Group(*parts)


def command(step: Step) -> Text:
    """The command as a learner types it; what happened otherwise (a hand edit, the harness's INSERTs)."""
    if step.tool_calls:
        return Text("\n".join(f"$ cd {step.cwd} && {c.command}" for c in step.tool_calls), style="bold")
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


def trim(text: str, limit: int) -> str:
    """The text, or its head and tail when it has more than `limit` lines."""
    lines = text.splitlines()
    if len(lines) <= limit:
        return text
    head, tail = limit * 2 // 3, limit // 3
    return "\n".join([*lines[:head], f"... ({len(lines) - head - tail} lines not shown) ...", *lines[-tail:]])


def sql_view(step: Step) -> list[RenderableType]:
    """The statements that wrote something, one a line; those of a table rebuild marked."""
    writes = views.writes(step)
    if not writes:
        return []
    rebuild = {id(step.sql[i]) for i in views.rebuild_statements(step)}
    count = f"{len(writes)} statement{'s' if len(writes) > 1 else ''}"
    title = Text(f"SQL it ran, reads left out ({count})", style="bold")
    if tables := views.rebuilt_tables(step):
        title.append(f": it rebuilds {', '.join(tables)}, the lines marked ❱", style="bold yellow")
    lines = "\n".join(" ".join(s.sql.split()) for s in writes)  # all of it, one statement a line: the lesson
    marked = {k for k, s in enumerate(writes, 1) if id(s) in rebuild}
    return [title, Syntax(lines, "sql", theme=THEME, line_numbers=True, highlight_lines=marked, word_wrap=True)]


def schema_view(story: Story, step: Step) -> list[RenderableType]:
    """The columns the step added, removed or changed, against the schema after the previous step."""
    if step.schema is None:
        return [Text("Schema: the database could not be read after this step.", style="red")]
    i = story.steps.index(step)
    previous = story.steps[i - 1] if i else None
    before = {(r.table, r.column): r for r in views.schema_rows([story], previous.id)} if previous else {}
    table = Table(title="Schema changes", title_justify="left", title_style="bold", box=None, padding=(0, 2, 0, 0))
    for name in ("change", "table.column", "before", "after"):
        table.add_column(name, style="dim" if name == "before" else None)
    for row in views.schema_rows([story], step.id, previous.id if previous else None):
        change = row.change.get(story.framework) or ("" if previous else "added")
        if not change:
            continue
        old = before.get((row.table, row.column))
        name = f"{row.table}.{row.column}" + (" (bookkeeping)" if row.bookkeeping else "")
        table.add_row(
            Text(change, style=MARK[change]),
            Text(name),
            old.text(story.framework) if old else "-",
            Text(row.text(story.framework), style=MARK[change]),
        )
    old_version = previous.schema.version if previous and previous.schema else []
    version = []
    if step.schema.version != old_version:
        applied = ", ".join(step.schema.version) or "none"
        version = [Text(f"Recorded as applied: {applied} (before: {', '.join(old_version) or 'none'})", style="cyan")]
    if not table.rows and not version:
        return [Text("Schema: unchanged.", style="dim")]
    return ([table] if table.rows else []) + version


def files_view(r: StoryRunner, step: Step) -> list[RenderableType]:
    """Files the step wrote; the migration scripts in full, and the hand edits as a diff."""
    if not step.files and not step.diff:
        return []
    parts: list[RenderableType] = [Text("Files written: " + ", ".join(f.path for f in step.files), style="bold")]
    for f in step.files:
        if PurePath(f.path).match(r.adapter.migrations_glob) and PurePath(f.path).name != "__init__.py":
            parts += [Text(f"{f.path}, as the tool wrote it:", style="bold"), Syntax(f.text, "python", theme=THEME)]
    if step.diff:
        parts += [Text("Edited by hand:", style="bold"), Syntax(step.diff, "diff", theme=THEME)]
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
        if steps and not steps[-1].ok:
            line += f"; the story stopped at '{steps[-1].title}': {steps[-1].error}"
        console.print(line, soft_wrap=True, markup=False)
    ok = all(r.story.ok for r in runners)
    if ok:
        console.print("Every step and check went as expected.", style="bold green")
    else:
        console.print("Some steps or checks did not go as expected.", style="bold red")
    return 0 if ok else 1
