"""Render-neutral views of a Report: the grids every output format shows (terminal, Markdown, HTML).

Nothing here measures; it only arranges what the run measured.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from compare.adapters import ADAPTERS
from compare.model import Column, Report, Schema, Statement, Step, Story, Table
from compare.snapshot import LOSSES, losses  # noqa: F401 (the templates read views.LOSSES)

ASPECTS = ("type", "nullable", "default", "primary_key", "autoincrement")
BEFORE = "@before"  # as `previous` of schema_rows: each story's step just before the one shown


def tool_title(framework: str) -> str:
    return ADAPTERS[framework].tool if framework in ADAPTERS else framework


def backend_title(name: str) -> str:
    """SQLite, PostgreSQL."""
    from compare.backends import BACKENDS

    return BACKENDS[name].title if name in BACKENDS else name


def frameworks(report: Report) -> list[str]:
    return list(dict.fromkeys(s.framework for s in report.stories))


def variants(report: Report) -> list[str]:
    return list(dict.fromkeys(s.variant for s in report.stories))


def backends(report: Report) -> list[str]:
    return list(dict.fromkeys(s.backend for s in report.stories))


def step_ids(stories: list[Story]) -> list[str]:
    """Every step id that ran in any of the stories, in scenario order."""
    ids: list[str] = []
    for s in stories:
        order = [st.id for st in s.steps]
        for n, step_id in enumerate(order):
            if step_id not in ids:
                later = set(order[n:])
                after = next((i for i in ids if i in later), None)  # the first known step this story runs after it
                ids.insert(len(ids) if after is None else ids.index(after), step_id)
    return ids


def step_title(stories: list[Story], step_id: str) -> str:
    return next((st.title for s in stories for st in s.steps if st.id == step_id), step_id)


def change_text(c) -> str:
    """One measured data change, as a phrase: 'posts.read_count: added, 4 rows hold 0 x4'."""
    where = f"{c.table}.{c.column}" if c.column else c.table
    if c.change == "added":
        return f"{where} added: {c.detail}" if c.column else f"{where}: {c.count} rows added ({c.detail})"
    if c.change == "moved":
        return f"{where}: {c.count} values moved {c.detail}"
    if c.change == "dropped":
        return f"{where} dropped ({c.detail})"
    return f"{where}: {c.count} {c.change}" + (f" ({c.detail})" if c.detail else "")


def groups(report: Report) -> list[tuple[str, str, list[Story]]]:
    """(variant, backend, stories in framework order) for every variant x backend that ran."""
    return [
        (v, b, [s for s in report.stories if s.variant == v and s.backend == b])
        for b in backends(report)
        for v in variants(report)
    ]


# --- known differences --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    where: str
    aspect: str
    frameworks: tuple[str, ...]
    backends: tuple[str, ...]
    text: str
    variants: tuple[str, ...] | None = None  # None: every variant
    scenarios: tuple[str, ...] | None = None  # None: every scenario


@cache
def known_differences() -> tuple[Difference, ...]:
    with (Path(__file__).parent / "differences.toml").open("rb") as f:
        data = tomllib.load(f)
    return tuple(
        Difference(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}) for d in data["differences"]
    )


def explain(where: str, aspect: str, backend: str, variant: str, scenario: str = "") -> Difference | None:
    return next(
        (
            d
            for d in known_differences() + _scenario_differences(scenario)
            if d.where == where
            and d.aspect == aspect
            and backend in d.backends
            and (d.variants is None or variant in d.variants)
            and (d.scenarios is None or scenario in d.scenarios)
        ),
        None,
    )


@cache
def _scenario_differences(name: str) -> tuple[Difference, ...]:
    """The known differences a scenario's own file lists."""
    from compare import scenario

    try:
        sc = scenario.load(name)
    except ValueError:
        return ()
    return tuple(
        Difference(
            where=d.where,
            aspect=d.aspect,
            frameworks=tuple(d.frameworks),
            backends=tuple(d.backends),
            text=d.text,
            variants=tuple(d.variants) if d.variants else None,
            scenarios=(name,),
        )
        for d in sc.differences
    )


# --- schema grid --------------------------------------------------------------------------------------


def describe(c: Column | None) -> str:
    if c is None:
        return "-"
    if c is UNREACHED:
        return "not reached"
    parts = [c.type, "NULL" if c.nullable else "NOT NULL"]
    if c.default is not None:
        parts.append(f"DEFAULT {c.default}")
    if c.primary_key:
        parts.append("PK" + (f" {c.autoincrement}" if c.autoincrement else ""))
    return " ".join(parts)


UNREACHED = Column("", "", False, None)  # the cell of a story that never reached the step


@dataclass
class SchemaRow:
    table: str
    column: str
    cells: dict[str, Column | None]  # framework -> column (None: absent)
    extras: dict[str, tuple[str, ...]] = field(default_factory=dict)  # framework -> UNIQUE, INDEX, FK -> table.col
    change: dict[str, str] = field(default_factory=dict)  # framework -> "added" / "removed" / "changed" by the step
    differs: list[str] = field(default_factory=list)  # aspects that differ between frameworks
    known: list[Difference] = field(default_factory=list)
    bookkeeping: bool = False

    @property
    def unreached(self) -> list[str]:
        """Frameworks (or backends) whose story never reached the step."""
        return [k for k, c in self.cells.items() if c is UNREACHED]

    @property
    def unexplained(self) -> list[str]:
        return [a for a in self.differs if not any(d.aspect == a for d in self.known)]

    def value(self, framework: str, aspect: str) -> str:
        """One aspect of the column in one framework, as text (constraints: UNIQUE, INDEX, FK)."""
        if aspect == "constraints":
            return " ".join(self.extras.get(framework, ())) or "none"
        return str(getattr(self.cells[framework], aspect))

    def text(self, framework: str) -> str:
        return " ".join([describe(self.cells.get(framework)), *self.extras.get(framework, ())])


def schema_rows(
    stories: list[Story], step_id: str, previous: str | None = None, key: str = "framework"
) -> list[SchemaRow]:
    """Columns of every table after `step_id`, aligned across frameworks, marked with what differs and changed.

    `previous` is the step the changes are measured from (BEFORE: each story's step just before `step_id`). A story
    that never reached `step_id` has UNREACHED cells, never "removed" ones.
    """
    snaps = {getattr(s, key): _schema(s, step_id) for s in stories}
    prev = {getattr(s, key): _previous(s, step_id, previous) for s in stories} if previous else {}
    keys: dict[tuple[str, str, bool], None] = {}
    for schema in list(snaps.values()) + list(prev.values()):
        if schema is None:
            continue
        for book, tables in ((False, schema.tables), (True, schema.bookkeeping)):
            for t in tables:
                for c in t.columns:
                    keys[(t.name, c.name, book)] = None
    # each schema's columns by (table, column), with their constraints: looked up once per row and framework
    look = {id(schema): _columns(schema) for schema in (*snaps.values(), *prev.values()) if schema is not None}
    rows = []
    variant, backend, scenario = (stories[0].variant, stories[0].backend, stories[0].scenario) if stories else ("",) * 3
    for table, column, book in keys:
        found = {k: look[id(snap)].get((table, column), _NONE) for k, snap in snaps.items() if snap is not None}
        cells = {k: found[k][0] if k in found else UNREACHED for k in snaps}
        extras = {k: found[k][1] for k in found if found[k][0] is not None}
        row = SchemaRow(table, column, cells, extras, bookkeeping=book)
        if not book:
            present = [c for c in cells.values() if c not in (None, UNREACHED)]
            differs = [a for a in ASPECTS if len({getattr(c, a) for c in present}) > 1]
            differs += ["constraints"] if len(set(extras.values())) > 1 else []
            for aspect in differs:
                row.differs.append(aspect)
                if key == "framework" and (d := explain(f"{table}.{column}", aspect, backend, variant, scenario)):
                    row.known.append(d)
        for k, old_schema in prev.items():
            new = cells.get(k)
            if new is UNREACHED or old_schema is None:
                continue
            old, old_extras = look[id(old_schema)].get((table, column), _NONE)
            if old is None and new is not None:
                row.change[k] = "added"
            elif old is not None and new is None:
                row.change[k] = "removed"
            elif old != new or (old and old_extras != extras[k]):
                row.change[k] = "changed"
        rows.append(row)
    return sorted(rows, key=lambda r: (r.bookkeeping, r.table))


def _previous(story: Story, step_id: str, previous: str) -> Schema | None:
    if previous != BEFORE:
        return _schema(story, previous)
    step = story.step(step_id)
    before = story.before(step) if step else None
    return before.schema if before else None


def _schema(story: Story, step_id: str | None) -> Schema | None:
    step = story.step(step_id) if step_id else None
    return step.schema if step else None


_NONE = (None, ())  # a column a schema does not have


def _columns(schema: Schema) -> dict[tuple[str, str], tuple[Column, tuple[str, ...]]]:
    """(table, column) -> the column and its constraints (_extras): an app's table before a bookkeeping one."""
    out: dict[tuple[str, str], tuple[Column, tuple[str, ...]]] = {}
    for t in schema.bookkeeping:
        out.update(((t.name, c.name), (c, ())) for c in t.columns)
    for t in schema.tables:
        out.update(((t.name, c.name), (c, _extras(t, c.name))) for c in t.columns)
    return out


def _extras(t: Table, column: str) -> tuple[str, ...]:
    """The constraints of a column of its own: UNIQUE, INDEX, FK table.column."""
    out = ["UNIQUE"] if [column] in t.unique else []
    out += ["INDEX"] if any(ix.columns == [column] for ix in t.indexes) else []
    out += [f"FK {fk.ref_table}.{fk.ref_columns[0]}" for fk in t.foreign_keys if fk.columns == [column]]
    return tuple(out)


# --- executed SQL -------------------------------------------------------------------------------------


def writes(step: Step) -> list[Statement]:
    """The statements that changed something (DDL, DML, transaction control, PRAGMA settings)."""
    return [s for s in step.sql if s.kind != "query"]


_RENAME = re.compile(r'ALTER TABLE\s+"?(\w+)"?\s+RENAME TO\s+"?(\w+)"?', re.I)
_DROP = re.compile(r'DROP TABLE\s+(?:IF EXISTS\s+)?"?(\w+)"?', re.I)


def rebuilt_tables(step: Step) -> list[str]:
    """Tables the step rebuilt: created anew under a temporary name, copied, dropped, and renamed back."""
    dropped = {m[1] for s in step.sql if (m := _DROP.match(s.sql))}
    return sorted({m[2] for s in step.sql if (m := _RENAME.match(s.sql)) and m[2] in dropped})


def rewritten_tables(before: Step | None, step: Step) -> list[str]:
    """PostgreSQL: tables that exist before and after the step but whose rows now live in a new file (the table
    was rewritten, as ALTER COLUMN TYPE or a volatile DEFAULT do), measured from pg_class.relfilenode."""
    if before is None or before.schema is None or step.schema is None:
        return []
    old, new = before.schema.storage, step.schema.storage
    return sorted(t for t in old.keys() & new.keys() if old[t] != new[t])


def rebuild_statements(step: Step) -> set[int]:
    """Indexes (in step.sql) of the statements that make up a rebuild, to flag them visibly."""
    tables = rebuilt_tables(step)
    if not tables:
        return set()
    temp = {m[1] for s in step.sql if (m := _RENAME.match(s.sql)) and m[2] in tables}
    names = temp | set(tables)
    marked = set()
    for i, s in enumerate(step.sql):
        if s.kind in ("ddl", "dml") and any(re.search(rf'\b"?{re.escape(n)}"?\b', s.sql) for n in names):
            if re.match(r"(CREATE TABLE|INSERT INTO|DROP TABLE|ALTER TABLE)", s.sql, re.I):
                marked.add(i)
    return marked


def manual_edit_lines(step: Step | None) -> int:
    """Lines a user had to add or change by hand in the step's diff (blank lines not counted)."""
    if step is None or not step.diff:
        return 0
    return sum(
        1 for line in step.diff.splitlines() if line.startswith("+") and not line.startswith("+++") and line[1:].strip()
    )


# --- the tutorial's comparison table ------------------------------------------------------------------

OPERATIONS = (
    ("Initialize", "init"),
    ("Generate migration", "generate"),
    ("Fix it by hand", "fix"),
    ("Execute migration", "change"),
    ("Rollback", "rollback"),
    ("Drift check", "check"),
)


def operations(stories: list[Story]) -> list[tuple[str, dict[str, Step | None]]]:
    """One row per operation (the scenario's steps with that role), one Step per framework."""
    return [
        (label, {s.framework: s.role(role) for s in stories})
        for label, role in OPERATIONS
        if role != "fix" or any(s.role(role) for s in stories)
    ]


def main_group(report: Report) -> tuple[str, str, list[Story]]:
    """The group the headline table shows: the safe variant on the first backend when it ran."""
    all_groups = groups(report)
    return next((g for g in all_groups if g[0] == "safe"), all_groups[0])


def schema_steps(report: Report) -> list[tuple[str, str | None]]:
    """The schema grids a scenario's report shows: (step, the step its changes are measured from)."""
    out: list[tuple[str, str | None]] = [(report.step_id("start"), None)]
    ids = list(dict.fromkeys(st.id for s in report.stories for st in s.steps))
    out += [(i, BEFORE) for i in ids if any(st.role == "upgrade" for st in _steps(report, i))]
    out += [(report.step_id("change"), BEFORE)]
    if report.step_id("rollback"):
        out.append((report.step_id("rollback"), report.step_id("change")))
    return out


def _steps(report: Report, step_id: str) -> list[Step]:
    return [st for s in report.stories if (st := s.step(step_id))]


def mermaid(schema: Schema | None) -> str:
    """A Mermaid erDiagram of the schema's application tables."""
    if schema is None:
        return ""
    out = ["erDiagram"]
    for t in schema.tables:
        out.append(f"    {t.name} {{")
        fk_cols = {c for fk in t.foreign_keys for c in fk.columns}
        for c in t.columns:
            keys = ",".join(k for k, on in (("PK", c.primary_key), ("FK", c.name in fk_cols)) if on)
            type_ = re.sub(r"\W", "_", c.type)
            note = "NULL" if c.nullable else "NOT NULL"
            if c.default is not None:
                note += f" DEFAULT {c.default}"
            out.append(f'        {type_} {c.name}{" " + keys if keys else ""} "{note}"')
        out.append("    }")
    for t in schema.tables:
        for fk in t.foreign_keys:
            out.append(f'    {fk.ref_table} ||--o{{ {t.name} : "{", ".join(fk.columns)}"')
    return "\n".join(out)


# --- the same framework on each backend -----------------------------------------------------------------


@dataclass
class BackendComparison:
    """One framework and variant on every backend that ran, side by side (cells keyed by backend)."""

    framework: str
    variant: str
    backends: list[str]
    rows: list[SchemaRow]
    facts: list[tuple[str, dict[str, str]]]


def backend_comparisons(report: Report) -> list[BackendComparison]:
    """For each framework and variant: schema after the change, its DDL, rebuilds and timings, per backend."""
    if len(backends(report)) < 2:
        return []
    step_id = report.step_id("change")
    out = []
    for variant in variants(report):
        for fw in frameworks(report):
            stories = [s for s in report.stories if s.framework == fw and s.variant == variant]
            steps = {s.backend: s.step(step_id) for s in stories}
            facts = [
                ("DDL executed", {b: _ddl_summary(st) for b, st in steps.items()}),
                ("Table rebuilt or rewritten", {b: _rebuilt(stories, b, st) for b, st in steps.items()}),
                ("In a transaction", {b: _transactional(st, b) for b, st in steps.items()}),
                ("Step time", {b: f"{st.seconds:.2f} s" if st else "-" for b, st in steps.items()}),
                ("All tool calls", {s.backend: f"{s.tool_seconds:.1f} s" for s in stories}),
            ]
            rows = [r for r in schema_rows(stories, step_id, BEFORE, key="backend") if not r.bookkeeping]
            out.append(BackendComparison(fw, variant, [s.backend for s in stories], rows, facts))
    return out


def _rebuilt(stories: list[Story], backend: str, step: Step | None) -> str:
    if step is None:
        return "-"
    story = next(s for s in stories if s.backend == backend)
    if tables := rebuilt_tables(step):
        return f"rebuilt: {', '.join(tables)} (copy, drop, rename)"
    if tables := rewritten_tables(story.before(step), step):
        return f"rewritten: {', '.join(tables)} (new relfilenode)"
    return "no"


def _ddl_summary(step: Step | None) -> str:
    if step is None:
        return "not reached"
    ddl = [s for s in step.sql if s.kind == "ddl"]
    return f"{len(ddl)} statement{'s' if len(ddl) != 1 else ''}" + ("" if step.ok else " (the step failed)")


def _transactional(step: Step | None, backend: str | None = None) -> str:
    """Whether the step's DDL ran in a transaction: "no" where the database commits each DDL statement (its
    transactional_ddl capability), else read from the trace: a BEGIN (or other transaction control) before it."""
    if step is None:
        return "-"
    from compare.backends import BACKENDS

    if backend in BACKENDS and not BACKENDS[backend].transactional_ddl:
        return "no DDL" if not any(s.kind == "ddl" for s in step.sql) else "no"
    kinds = [s.kind for s in step.sql if s.kind != "query"]
    first_ddl = next((i for i, k in enumerate(kinds) if k == "ddl"), None)
    if first_ddl is None:
        return "no DDL"
    return "yes" if "tx" in kinds[:first_ddl] else "no"


# --- the catalog matrix ---------------------------------------------------------------------------------

# outcome -> what it means, worst first: a cell shows the worst outcome its story measured.
OUTCOMES = {
    "fails_debris": "fails and leaves debris",
    "fails_clean": "fails cleanly",
    "loses_data": "loses data",
    "caveat": "works, with a caveat",
    "hand_edits": "works after hand edits",
    "rebuild": "works, rebuilds the table",
    "works": "works",
}


@dataclass
class Cell:
    """One story's outcome in the catalog matrix, with a few words of why, all measured."""

    outcome: str
    why: str
    story: Story
    lint: dict[str, int] = field(default_factory=dict)  # severity -> how many lint findings on the story

    @property
    def lint_text(self) -> str:
        """'lint: 1 error, 2 warnings', or 'lint: none'."""
        return "lint: " + (", ".join(f"{n} {sev}{'s' if n != 1 else ''}" for sev, n in self.lint.items()) or "none")

    @property
    def label(self) -> str:
        return OUTCOMES[self.outcome]

    @property
    def unexpected(self) -> bool:
        """Some step or check did not go as the scenario expects: the tool's behaviour changed."""
        return not self.story.ok


@dataclass
class MatrixRow:
    scenario: str
    title: str
    variant: str
    variant_title: str
    cells: dict[tuple[str, str], Cell]  # (framework, backend) -> cell; absent: does not apply


def outcome(story: Story) -> Cell:
    """The worst thing the story measured: a failure and what it left, data lost, a failed check, hand edits,
    a table rebuild; else it works."""
    from compare.checks import left_behind

    failed = story.failed
    if failed is not None:
        before = story.before(failed)
        touches = failed.kind in ("upgrade", "rollback")
        left = left_behind(before.schema if before else None, failed.schema) if touches else []
        what = f"{failed.role or failed.kind} failed" + (f" (exit {failed.exit_code})" if failed.exit_code else "")
        retry = story.role("retry")
        again = f"; retry {'works' if retry.ok else 'fails: ' + _short(reason(retry.error), 50)}" if retry else ""
        if left:
            return Cell("fails_debris", f"{what}; left {', '.join(left[:2])}{again}", story)
        return Cell("fails_clean", f"{what}: {_short(reason(failed.error), 70)}{again}", story)
    change = story.role("change")
    before = story.before(change) if change else None
    for role in ("change", "rollback", "reapply"):
        step = story.role(role)
        if step is None or before is None or before.data is None or step.data is None:
            continue
        lost = losses(before.data, step.data)
        if lost:
            return Cell("loses_data", f"{role}: " + "; ".join(change_text(c) for c in lost[:2]), story)
    bad = [c for c in story.checks if not c.passed]
    if bad:
        return Cell("caveat", f"{bad[0].name}: {_short(bad[0].detail.split(' (known')[0])}", story)
    fixes = sum(manual_edit_lines(s) for s in story.steps if s.kind == "fix")
    answers = [a for s in story.steps for a in s.answers]
    if fixes or answers:
        parts = [f"{fixes} lines edited in the migration"] if fixes else []
        parts += [f"answered {', '.join(answers)} at the prompt"] if answers else []
        return Cell("hand_edits", "; ".join(parts) + _rebuild_note(story), story)
    if _rebuild_note(story):
        return Cell("rebuild", _rebuild_note(story).lstrip("; "), story)
    ddl = sum(1 for q in change.sql if q.kind == "ddl") if change else 0
    # what the existing rows got in a new column (MariaDB's implicit '' for a NOT NULL column, say)
    added = [change_text(c) for c in (change.data_changes if change else []) if c.change == "added" and c.column]
    return Cell(
        "works", f"{ddl} DDL statement{'s' if ddl != 1 else ''}, in place" + "".join(f"; {a}" for a in added[:2]), story
    )


_PREFIXES = re.compile(r"^(exit code -?\d+: )?([\w.]+(Error|Exception|Exit): )*(\([\w.]+\) )?")


def reason(error: str | None) -> str:
    """A step's error without the exit code and exception class prefixes: what a person reads first."""
    return _PREFIXES.sub("", (error or "").strip()) or (error or "")


def _rebuild_note(story: Story) -> str:
    parts = []
    for role in ("change", "rollback"):
        step = story.role(role)
        if step is None:
            continue
        if tables := rebuilt_tables(step):
            parts.append(f"{role} rebuilds {', '.join(tables)}")
        elif tables := rewritten_tables(story.before(step), step):
            parts.append(f"{role} rewrites {', '.join(tables)}")
    return "; " + "; ".join(parts) if parts else ""


def _short(text: str | None, limit: int = 90) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def matrix(reports: list[Report]) -> tuple[list[tuple[str, str]], list[MatrixRow]]:
    """The catalog's front page: (framework, backend) columns, one row per scenario x variant."""
    stories = [s for r in reports for s in r.stories]
    columns = list(dict.fromkeys((s.framework, s.backend) for s in sorted(stories, key=_column_order)))
    rows = []
    for r in reports:
        for variant in variants(r):
            cells = {(s.framework, s.backend): outcome(s) for s in r.stories if s.variant == variant}
            for cell in cells.values():
                cell.lint = lint_counts(r, cell.story)
            rows.append(MatrixRow(r.scenario, r.title, variant, r.variant_titles.get(variant, variant), cells))
    return columns, rows


LINT_SEVERITIES = ("error", "warning", "info")


def lint_counts(report: Report, story: Story) -> dict[str, int]:
    """How many of the report's lint findings fall on the story, per severity, worst first (only those present)."""
    mine = [
        f.severity
        for f in report.lint
        if (f.framework, f.variant, f.backend) == (story.framework, story.variant, story.backend)
    ]
    order = [*LINT_SEVERITIES, *sorted(set(mine) - set(LINT_SEVERITIES))]
    return {sev: mine.count(sev) for sev in order if sev in mine}


def _column_order(story: Story) -> tuple[int, int]:
    from compare.backends import BACKENDS

    fws = list(ADAPTERS)
    return (list(BACKENDS).index(story.backend) if story.backend in BACKENDS else 99, fws.index(story.framework))


def cells(rows: list[MatrixRow]) -> list[Cell]:
    return [c for row in rows for c in row.cells.values()]


def tally(rows: list[MatrixRow]) -> dict[str, int]:
    """How many cells have each outcome, worst first."""
    counts = dict.fromkeys(OUTCOMES, 0)
    for row in rows:
        for cell in row.cells.values():
            counts[cell.outcome] += 1
    return {k: n for k, n in counts.items() if n}
