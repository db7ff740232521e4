"""Findings: short statements derived from a run's measurements by the rules below, and nowhere else."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator

from compare import checks, views
from compare.model import Finding, Report
from compare.scenario import Scenario
from compare.snapshot import LOSSES

Rule = Callable[[Report, Scenario], Iterator[Finding]]
RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


def derive(report: Report, scenario: Scenario) -> list[Finding]:
    """Every rule's findings, in the order the rules are written below."""
    return [f for r in RULES for f in r(report, scenario)]


def _names(frameworks: list[str]) -> str:
    titles = [views.tool_title(fw) for fw in frameworks]
    return titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " and " + titles[-1]


def _variant(report: Report, variant: str, backend: str) -> str:
    more = len(views.backends(report)) > 1
    return f"{variant} variant" + (f", {views.backend_title(backend)}" if more else "")


@rule
def old_rows(report: Report, scenario: Scenario) -> Iterator[Finding]:
    """What the rows that existed before the change hold in each column the change added."""
    for variant, backend, stories in views.groups(report):
        by_value: dict[tuple[str, str], list[str]] = defaultdict(list)
        for s in stories:
            step = s.role("change")
            for c in step.data_changes if step and step.ok else []:
                if c.change == "added":
                    by_value[(f"{c.table}.{c.column}", f"{c.count} existing rows hold {c.detail}")].append(s.framework)
        if not by_value:
            continue
        parts = [f"{column}: {_names(fws)}: {text}" for (column, text), fws in by_value.items()]
        yield Finding(
            "old_rows_value",
            "After the change, " + "; ".join(parts) + f" ({_variant(report, variant, backend)}).",
            [s.framework for s in stories],
            variant,
            backend,
        )


@rule
def data_lost(report: Report, scenario: Scenario) -> Iterator[Finding]:
    """Values a step destroyed: a dropped column's values, rows gone, values changed, per step."""
    for s in report.stories:
        for step in s.steps:
            if step.role not in ("change", "rollback", "reapply", "upgrade") or not step.ok:
                continue
            for c in step.data_changes:
                if c.change in LOSSES:
                    where = f"{c.table}.{c.column}" if c.column else c.table
                    yield Finding(
                        "data_lost",
                        f"{views.tool_title(s.framework)} ({_variant(report, s.variant, s.backend)}), "
                        f"'{step.title}': {where}: {c.count} {c.change}" + (f" ({c.detail})." if c.detail else "."),
                        [s.framework],
                        s.variant,
                        s.backend,
                    )


@rule
def rebuilds(report: Report, scenario: Scenario) -> Iterator[Finding]:
    for s in report.stories:
        for step in s.steps:
            tables = views.rebuilt_tables(step) if step.kind in ("upgrade", "rollback") else []
            if tables:
                yield Finding(
                    "table_rebuild",
                    f"{views.tool_title(s.framework)} rebuilt the {', '.join(tables)} table "
                    f"(copy, drop, rename) at '{step.title}' ({_variant(report, s.variant, s.backend)}).",
                    [s.framework],
                    s.variant,
                    s.backend,
                )


@rule
def manual_edits(report: Report, scenario: Scenario) -> Iterator[Finding]:
    seen: dict[str, int] = {}
    for s in report.stories:
        seen.setdefault(s.framework, views.manual_edit_lines(s.role("init")))
    edited = {fw: n for fw, n in seen.items() if n}
    for fw, n in edited.items():
        step = next(st.role("init") for st in report.stories if st.framework == fw)
        files = sorted({line[6:] for line in step.diff.splitlines() if line.startswith("+++ b/")})
        yield Finding(
            "manual_edit", f"{views.tool_title(fw)} needed {n} hand-edited lines in {', '.join(files)}.", [fw]
        )
    none = [fw for fw in seen if fw not in edited]
    if none:
        yield Finding("manual_edit", f"{_names(none)} needed no hand edits to set up.", none)
    for s in report.stories:
        for step in s.steps:
            n = views.manual_edit_lines(step) if step.kind == "fix" else 0
            if n or step.answers:
                how = f"{n} hand-edited lines in the generated migration" if n else ""
                typed = f"answers typed at its prompt: {', '.join(step.answers)}" if step.answers else ""
                yield Finding(
                    "manual_edit",
                    f"{views.tool_title(s.framework)} ({_variant(report, s.variant, s.backend)}) needed "
                    + " and ".join(p for p in (how, typed) if p)
                    + ".",
                    [s.framework],
                    s.variant,
                    s.backend,
                )


@rule
def failed_steps(report: Report, scenario: Scenario) -> Iterator[Finding]:
    for s in report.stories:
        variant = scenario.variants[s.variant]
        for step in s.steps:
            if step.ok:
                continue
            known = variant.reason(s.framework, s.backend, step=step.id)
            why = f" As expected: {known}." if known and step.expected_failure else ""
            text = (
                f"{views.tool_title(s.framework)} ({_variant(report, s.variant, s.backend)}): '{step.title}' failed: "
            )
            error = (step.error or "").rstrip(".")
            yield Finding("failed_step", f"{text}{error}.{why}", [s.framework], s.variant, s.backend)


@rule
def left_behind(report: Report, scenario: Scenario) -> Iterator[Finding]:
    """What a migration that failed midway left in the database, per backend (transactional DDL or not)."""
    for variant, backend, stories in views.groups(report):
        clean, dirty = [], {}
        for s in stories:
            failed = s.failed
            if failed is None or failed.kind not in ("upgrade", "rollback"):
                continue
            left = checks.left_behind(s.before(failed).schema if s.before(failed) else None, failed.schema)
            if left:
                dirty[s.framework] = left
            else:
                clean.append(s.framework)
        where = _variant(report, variant, backend)
        for fw, left in dirty.items():
            yield Finding(
                "left_behind",
                f"The failed step left changes behind in {views.tool_title(fw)} ({where}): {', '.join(left)}.",
                [fw],
                variant,
                backend,
            )
        if clean:
            yield Finding(
                "left_behind",
                f"The failed step left nothing behind in {_names(clean)} ({where}): "
                "schema, version table and rows are exactly as before it.",
                clean,
                variant,
                backend,
            )


@rule
def schema_differences(report: Report, scenario: Scenario) -> Iterator[Finding]:
    """Columns that differ between frameworks after the change, one finding per difference wherever it showed."""
    seen: dict[str, tuple[list[str], str, list[str]]] = {}
    for variant, backend, stories in views.groups(report):
        for row in views.schema_rows(stories, report.step_id("change")):
            for aspect in row.differs:
                values = defaultdict(list)
                for fw, c in row.cells.items():
                    if c is not None:
                        values[row.value(fw, aspect)].append(fw)
                spread = "; ".join(f"{v} in {_names(fws)}" for v, fws in values.items())
                known = next((d.text for d in row.known if d.aspect == aspect), None)
                why = f"Known: {known}" if known else "Not listed in compare/differences.toml."
                key = f"{row.table}.{row.column} {aspect}: {spread}"
                seen.setdefault(key, ([], why, list(row.cells)))[0].append(_variant(report, variant, backend))
    for text, (where, why, fws) in seen.items():
        yield Finding("schema_difference", f"{text} ({'; '.join(where)}). {why}", fws)


@rule
def empty_migrations(report: Report, scenario: Scenario) -> Iterator[Finding]:
    for s in report.stories:
        for step in s.steps:
            if step.wrote_no_migration:
                yield Finding(
                    "empty_migration",
                    f"{views.tool_title(s.framework)} wrote no usable migration at '{step.title}': {step.error}.",
                    [s.framework],
                    s.variant,
                    s.backend,
                )


@rule
def tool_time(report: Report, scenario: Scenario) -> Iterator[Finding]:
    """CPU time of each tool's processes (independent of contention), with their wall time beside it."""
    cpu: dict[str, float] = defaultdict(float)
    wall: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    for s in report.stories:
        for st in s.steps:
            cpu[s.framework] += st.cpu_seconds
            wall[s.framework] += sum(c.seconds for c in st.tool_calls)
            calls[s.framework] += len(st.tool_calls)
    if cpu:
        parts = ", ".join(
            f"{views.tool_title(fw)} {t:.1f} s CPU over {calls[fw]} calls ({wall[fw]:.1f} s wall)"
            for fw, t in sorted(cpu.items(), key=lambda kv: kv[1])
        )
        mode = report.environment.get("Tool processes", "")
        parallel = report.environment.get("Stories in parallel", "")
        note = f" Tool processes: {mode}; stories: {parallel}, so wall times include contention." if mode else ""
        yield Finding("tool_time", f"Time spent in the tools' own processes: {parts}.{note}", list(cpu))
