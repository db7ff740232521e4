"""The terminal view: rich tables side by side."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from compare import views
from compare.model import Catalog, Report

MARK = {"added": "green", "removed": "red", "changed": "yellow"}


OUTCOME_STYLE = {
    "works": "green",
    "rebuild": "green",
    "hand_edits": "blue",
    "caveat": "yellow",
    "loses_data": "dark_orange",
    "fails_debris": "bold red",
    "fails_clean": "magenta",
}


def render(catalog: Catalog, console: Console) -> None:
    """One scenario in detail, then the catalog matrix and the verdict."""
    if len(catalog.reports) == 1:
        render_report(catalog.reports[0], console)
    matrix(catalog, console)
    verdict = "[green]all steps and checks as expected" if catalog.ok else "[red]some steps or checks failed"
    console.print(f"\n{verdict}[/] ({catalog.seconds:.1f} s)")


def matrix(catalog: Catalog, console: Console) -> None:
    """The catalog matrix: outcome and a few words per framework x backend."""
    columns, rows = views.matrix(catalog.reports)
    table = Table(title="The catalog: what each tool did", expand=True, show_lines=True)
    table.add_column("scenario / variant", no_wrap=True, style="bold")
    for fw, b in columns:
        table.add_column(f"{views.tool_title(fw)} · {views.backend_title(b)}", overflow="fold")
    for r in rows:
        cells = []
        for col in columns:
            c = r.cells.get(col)
            if c is None:
                cells.append(Text("n/a", style="dim"))
                continue
            text = Text(c.label + (" (UNEXPECTED)" if c.unexpected else ""), style=OUTCOME_STYLE[c.outcome])
            text.append("\n" + c.why, style="default")
            cells.append(text)
        table.add_row(f"{r.scenario}\n[dim]{r.variant}[/]", *cells)
    console.print(table)
    counts = "; ".join(f"{n} {views.OUTCOMES[k]}" for k, n in views.tally(rows).items())
    console.print(f"{len(catalog.stories)} stories: {counts}.")


def render_report(report: Report, console: Console) -> None:
    fws = views.frameworks(report)
    for variant, backend, stories in views.groups(report):
        by_fw = {s.framework: s for s in stories}
        label = f"{variant} variant, {views.backend_title(backend)}"
        console.rule(f"[bold]{report.title}[/] - {label}")

        steps = Table(title=f"Steps ({label})", show_lines=False, expand=True)
        steps.add_column("step", style="bold", no_wrap=True)
        for fw in fws:
            steps.add_column(views.tool_title(fw), overflow="fold")
        for step_id in views.step_ids(stories):
            cells = []
            for fw in fws:
                st = by_fw[fw].step(step_id) if fw in by_fw else None
                if st is None:
                    reached = fw in by_fw and by_fw[fw].failed is None
                    cells.append(Text("-" if reached else "not reached", style="dim"))
                    continue
                if st.ok:
                    mark = Text("ok ", style="green")
                else:
                    mark = Text("failed, as expected " if st.expected_failure else "FAIL ", style="bold red")
                mark.append(f"{st.cpu_seconds:.2f}s CPU " if st.tool_calls else f"{st.seconds:.2f}s ", style="cyan")
                mark.append(st.command or st.note or "", style="default")
                if st.error:
                    mark.append(f"\n{st.error}", style="red")
                cells.append(mark)
            steps.add_row(views.step_title(stories, step_id), *cells)
        console.print(steps)

        for step_id, previous in views.schema_steps(report):
            rows = [r for r in views.schema_rows(stories, step_id, previous) if not r.bookkeeping]
            if not rows:
                continue
            title = next((st.title for s in stories for st in s.steps if st.id == step_id), step_id)
            grid = Table(title=f"Schema after '{title}' ({label})", expand=True)
            grid.add_column("table.column", no_wrap=True)
            for fw in fws:
                grid.add_column(views.tool_title(fw))
            for r in rows:
                cells = []
                for fw in fws:
                    style = MARK.get(r.change.get(fw, ""), "")
                    if r.differs and not style:
                        style = "magenta" if r.unexplained else "yellow"
                    cells.append(Text(r.text(fw), style=style))
                grid.add_row(f"{r.table}.{r.column}", *cells)
            console.print(grid)

        checks = Table(title=f"Checks ({label})", expand=True)
        checks.add_column("check", no_wrap=True)
        for fw in fws:
            checks.add_column(views.tool_title(fw))
        names = list(dict.fromkeys(c.name for s in stories for c in s.checks))
        for name in names:
            cells = []
            for fw in fws:
                c = next((c for c in by_fw[fw].checks if c.name == name), None) if fw in by_fw else None
                if c is None:
                    cells.append(Text("-", style="dim"))
                    continue
                word, style = ("pass", "green") if c.passed else ("FAIL", "bold red")
                if not c.expected:
                    word, style = (word + " (known)", "yellow") if not c.passed else (word + " (unexpected)", "red")
                cells.append(Text(f"{word}: ", style=style) + Text(c.detail))
            checks.add_row(name, *cells)
        console.print(checks)

    for c in views.backend_comparisons(report):
        versus = " vs ".join(map(views.backend_title, c.backends))
        grid = Table(title=f"{views.tool_title(c.framework)}, {c.variant} variant: {versus}", expand=True)
        grid.add_column("", no_wrap=True)
        for b in c.backends:
            grid.add_column(views.backend_title(b))
        for label, cells in c.facts:
            grid.add_row(Text(label, style="bold"), *(cells.get(b, "-") for b in c.backends))
        for r in c.rows:
            style = "yellow" if r.differs else ""
            grid.add_row(
                f"{r.table}.{r.column}",
                *(Text(r.text(b), style=MARK.get(r.change.get(b, ""), style)) for b in c.backends),
            )
        console.print(grid)

    console.rule("[bold]Findings")
    for f in report.findings:
        console.print(f" - {f.text}")
