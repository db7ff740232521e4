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
from compare.model import Column, Report, Schema, Statement, Step, Story

ASPECTS = ("type", "nullable", "default", "primary_key", "autoincrement")


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


@cache
def known_differences() -> tuple[Difference, ...]:
    with (Path(__file__).parent / "differences.toml").open("rb") as f:
        data = tomllib.load(f)
    return tuple(
        Difference(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}) for d in data["differences"]
    )


def explain(where: str, aspect: str, backend: str, variant: str) -> Difference | None:
    return next(
        (
            d
            for d in known_differences()
            if d.where == where
            and d.aspect == aspect
            and backend in d.backends
            and (d.variants is None or variant in d.variants)
        ),
        None,
    )


# --- schema grid --------------------------------------------------------------------------------------


def describe(c: Column | None) -> str:
    if c is None:
        return "-"
    parts = [c.type, "NULL" if c.nullable else "NOT NULL"]
    if c.default is not None:
        parts.append(f"DEFAULT {c.default}")
    if c.primary_key:
        parts.append("PK" + (f" {c.autoincrement}" if c.autoincrement else ""))
    return " ".join(parts)


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
    """Columns of every table after `step_id`, aligned across frameworks, marked with what differs and changed."""
    snaps = {getattr(s, key): _schema(s, step_id) for s in stories}
    prev = {getattr(s, key): _schema(s, previous) for s in stories} if previous else {}
    keys: dict[tuple[str, str, bool], None] = {}
    for schema in list(snaps.values()) + list(prev.values()):
        if schema is None:
            continue
        for book, tables in ((False, schema.tables), (True, schema.bookkeeping)):
            for t in tables:
                for c in t.columns:
                    keys[(t.name, c.name, book)] = None
    rows = []
    variant, backend = (stories[0].variant, stories[0].backend) if stories else ("", "")
    for table, column, book in keys:
        cells = {fw: _column(snap, table, column) for fw, snap in snaps.items()}
        extras = {fw: _extras(snap, table, column) for fw, snap in snaps.items() if cells[fw] is not None}
        row = SchemaRow(table, column, cells, extras, bookkeeping=book)
        if not book:
            present = [c for c in cells.values() if c is not None]
            differs = [a for a in ASPECTS if len({getattr(c, a) for c in present}) > 1]
            differs += ["constraints"] if len(set(extras.values())) > 1 else []
            for aspect in differs:
                row.differs.append(aspect)
                if key == "framework" and (d := explain(f"{table}.{column}", aspect, backend, variant)):
                    row.known.append(d)
        for fw, old_schema in prev.items():
            old, new = _column(old_schema, table, column), cells.get(fw)
            if old is None and new is not None:
                row.change[fw] = "added"
            elif old is not None and new is None:
                row.change[fw] = "removed"
            elif old != new or (old and _extras(old_schema, table, column) != _extras(snaps[fw], table, column)):
                row.change[fw] = "changed"
        rows.append(row)
    return sorted(rows, key=lambda r: (r.bookkeeping, r.table))


def _schema(story: Story, step_id: str | None) -> Schema | None:
    step = story.step(step_id) if step_id else None
    return step.schema if step else None


def _extras(schema: Schema | None, table: str, column: str) -> tuple[str, ...]:
    t = schema.table(table) if schema else None
    if t is None:
        return ()
    out = ["UNIQUE"] if [column] in t.unique else []
    out += ["INDEX"] if any(ix.columns == [column] for ix in t.indexes) else []
    out += [f"FK {fk.ref_table}.{fk.ref_columns[0]}" for fk in t.foreign_keys if fk.columns == [column]]
    return tuple(out)


def _column(schema: Schema | None, table: str, column: str) -> Column | None:
    if schema is None:
        return None
    t = schema.table(table) or next((b for b in schema.bookkeeping if b.name == table), None)
    return t.column(column) if t else None


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
    ("Generate migration", "generate_change"),
    ("Execute migration", "upgrade_change"),
    ("Rollback", "rollback"),
    ("Drift check", "check"),
)


def operations(stories: list[Story]) -> list[tuple[str, dict[str, Step | None]]]:
    """One row per operation, one Step per framework: what ran and how long it took."""
    return [(label, {s.framework: s.step(step_id) for s in stories}) for label, step_id in OPERATIONS]


def main_group(report: Report) -> tuple[str, str, list[Story]]:
    """The group the headline table shows: the safe variant on the first backend when it ran."""
    all_groups = groups(report)
    return next((g for g in all_groups if g[0] == "safe"), all_groups[0])


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


def backend_comparisons(report: Report, step_id: str = "upgrade_change") -> list[BackendComparison]:
    """For each framework and variant: schema after `step_id`, its DDL, rebuilds and timings, per backend."""
    if len(backends(report)) < 2:
        return []
    out = []
    for variant in variants(report):
        for fw in frameworks(report):
            stories = [s for s in report.stories if s.framework == fw and s.variant == variant]
            steps = {s.backend: s.step(step_id) for s in stories}
            facts = [
                ("DDL executed", {b: _ddl_summary(st) for b, st in steps.items()}),
                ("Table rebuilt", {b: ", ".join(rebuilt_tables(st)) or "no" if st else "-" for b, st in steps.items()}),
                ("In a transaction", {b: _transactional(st) for b, st in steps.items()}),
                ("Step time", {b: f"{st.seconds:.2f} s" if st else "-" for b, st in steps.items()}),
                ("All tool calls", {s.backend: f"{s.tool_seconds:.1f} s" for s in stories}),
            ]
            rows = [r for r in schema_rows(stories, step_id, "seed", key="backend") if not r.bookkeeping]
            out.append(BackendComparison(fw, variant, [s.backend for s in stories], rows, facts))
    return out


def _ddl_summary(step: Step | None) -> str:
    if step is None:
        return "not reached"
    ddl = [s for s in step.sql if s.kind == "ddl"]
    return f"{len(ddl)} statement{'s' if len(ddl) != 1 else ''}" + ("" if step.ok else " (the step failed)")


def _transactional(step: Step | None) -> str:
    if step is None:
        return "-"
    kinds = [s.kind for s in step.sql if s.kind != "query"]
    first_ddl = next((i for i, k in enumerate(kinds) if k == "ddl"), None)
    if first_ddl is None:
        return "no DDL"
    return "yes" if "tx" in kinds[:first_ddl] else "no"
