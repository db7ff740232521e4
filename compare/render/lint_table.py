"""`python -m compare lint`: the lint section of every scenario, from a run's compare.json, as terminal tables."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from compare import lint, views
from compare.model import FORMAT, VERSION, Catalog

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}
VERDICT_STYLE = {"confirmed": "green", "contradicted": "bold magenta", "not measured": "dim", "unflagged": "bold red"}


class NotAReport(Exception):
    """The file is missing, or not a compare.json of this format version."""


def load(path: Path) -> Catalog:
    """The catalog a run wrote to `path`; NotAReport (one line) when there is none to read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotAReport(f"{path} does not exist: run `python -m compare run` first") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotAReport(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
        found = f"{data.get('format')} version {data.get('version')}" if isinstance(data, dict) else type(data).__name__
        raise NotAReport(f"{path} is not a compare.json of format {VERSION} ({FORMAT}): found {found}")
    try:
        return TypeAdapter(Catalog).validate_python(data)
    except ValidationError as exc:
        raise NotAReport(f"{path} does not match the compare.json schema: {exc.error_count()} errors") from None


def render(catalog: Catalog, console: Console) -> None:
    """Per scenario, variant and backend: one row per step and rule, one column per framework, then a total."""
    for report in catalog.reports:
        for variant, backend, stories in views.groups(report):
            rows = lint.rows(report, stories)
            counts = "; ".join(f"{views.tool_title(s.framework)} {lint.summary(lint.of(report, s))}" for s in stories)
            title = f"{report.scenario} · {variant} · {views.backend_title(backend)}: {counts}"
            if not rows:
                console.print(f"{title}", highlight=False, soft_wrap=True)
                continue
            table = Table(title=title, title_justify="left", expand=True, show_lines=True)
            table.add_column("step · rule", overflow="fold", min_width=34, ratio=1)
            for s in stories:
                table.add_column(views.tool_title(s.framework), overflow="fold", ratio=2)
            for r in rows:
                head = Text(f"{r.step_title}\n")
                head.append(r.rule, style="bold")
                head.append(f"\n{r.source} ")
                head.append(r.severity, style=SEVERITY_STYLE.get(r.severity, ""))
                cells = [head]
                for s in stories:
                    found = r.cells.get(s.framework, [])
                    cell = Text("" if found else "not flagged", style="" if found else "dim")
                    for n, f in enumerate(found):
                        if n:
                            cell.append("\n")
                        if f.statement:
                            cell.append(" ".join(f.statement.split())[:200] + "\n", style="cyan")
                        cell.append(f.verdict, style=VERDICT_STYLE.get(f.verdict, ""))
                        cell.append(f": {f.evidence}")
                    cells.append(cell)
                table.add_row(*cells)
            console.print(table)
    findings = [f for r in catalog.reports for f in r.lint]
    errors = sum(1 for f in findings if f.severity == "error")
    n = len(catalog.reports)
    console.print(
        f"Lint: {lint.summary(findings)} on {n} scenario{'s' if n != 1 else ''} (squawk "
        f"{catalog.environment.get('squawk', 'not installed')}); "
        + (f"{errors} error-severity: exit 1" if errors else "no error-severity finding: exit 0"),
        highlight=False,
        soft_wrap=True,
    )
