"""The terminal view: rich tables side by side."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from compare import views
from compare.model import Report

MARK = {"added": "green", "removed": "red", "changed": "yellow"}


def render(report: Report, console: Console) -> None:
    fws = views.frameworks(report)
    for variant, backend, stories in views.groups(report):
        by_fw = {s.framework: s for s in stories}
        label = f"{variant} variant, {views.backend_title(backend)}"
        console.rule(f"[bold]{report.title}[/] - {label}")

        steps = Table(title=f"Steps ({label})", show_lines=False, expand=True)
        steps.add_column("step", style="bold", no_wrap=True)
        for fw in fws:
            steps.add_column(views.tool_title(fw), overflow="fold")
        for step_id in dict.fromkeys(st.id for s in stories for st in s.steps):
            cells = []
            for fw in fws:
                st = by_fw[fw].step(step_id) if fw in by_fw else None
                if st is None:
                    cells.append(Text("not run", style="dim"))
                    continue
                mark = Text("ok " if st.ok else "FAIL ", style="green" if st.ok else "bold red")
                mark.append(f"{st.seconds:.2f}s ", style="cyan")
                mark.append(st.command or st.note or "", style="default")
                if st.error:
                    mark.append(f"\n{st.error}", style="red")
                cells.append(mark)
            title = next(st.title for s in stories for st in s.steps if st.id == step_id)
            steps.add_row(title, *cells)
        console.print(steps)

        for step_id, previous in (
            ("upgrade_initial", None),
            ("upgrade_change", "seed"),
            ("rollback", "reapply"),
        ):
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
    verdict = "[green]all steps and checks as expected" if report.ok else "[red]some steps or checks failed"
    console.print(f"\n{verdict}[/] ({report.seconds:.1f} s)")
