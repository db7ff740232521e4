"""Checks per story, named after what they assert (like pytest-alembic's)."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable

from compare.adapters import Adapter
from compare.model import Check, File, Schema, Step, Story
from compare.sandbox import REPO
from compare.scenario import Scenario, Variant
from compare.snapshot import losses


@dataclasses.dataclass
class Context:
    story: Story
    adapter: Adapter
    scenario: Scenario
    variant: Variant

    def step(self, role: str) -> Step:
        """The story's step with this role; NotReached if it did not run or failed."""
        step = self.story.role(role)
        if step is None or not step.ok:
            name = self.scenario.roles.get(role, role)
            raise NotReached(name if step is None else f"{name} failed: {step.error}")
        return step

    def before_change(self) -> Step:
        """The step just before the change's upgrade: the state the change starts from."""
        step = self.story.before(self.step("change"))
        if step is None:
            raise NotReached("the step before the change")
        return step


class NotReached(Exception):
    pass


CHECKS: dict[str, Callable[[Context], tuple[bool, str, str]]] = {}


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


def run_all(story: Story, adapter: Adapter, scenario: Scenario, variant: Variant) -> list[Check]:
    ctx = Context(story, adapter, scenario, variant)
    results = []
    for name in variant.checks:
        fn = CHECKS[name]
        try:
            passed, detail, output = fn(ctx)
        except NotReached as exc:
            passed, detail, output = False, f"not reached: step {exc}", ""
        expected = variant.expected(name, story.framework, story.backend)
        if not expected:
            detail += (
                f" (known: {variant.reason(story.framework, story.backend, check=name)})"
                if not passed
                else " (the scenario expected a failure: the tool's behaviour has changed)"
            )
        elif not passed:
            detail += " (not expected: the tool's behaviour has changed, or the scenario's expectations are wrong)"
        results.append(Check(name=name, passed=passed, detail=detail, expected=expected, output=output))
    return results


@check
def single_head(ctx: Context) -> tuple[bool, str, str]:
    scripts = [f for s in ctx.story.steps if s.kind == "generate" for f in s.files if ctx.adapter.is_script(f.path)]
    if not scripts:
        raise NotReached("the first generate step")
    heads = ctx.adapter.heads(scripts)
    return len(heads) == 1, f"{len(heads)} head(s) among {len(scripts)} migration(s): {', '.join(heads)}", ""


@check
def upgrade_from_empty(ctx: Context) -> tuple[bool, str, str]:
    schema = ctx.step("start").schema
    tables = [t.name for t in schema.tables] if schema else []
    missing = [t for t in ctx.scenario.seed if t not in tables]
    if missing:
        return False, f"after the first upgrade these tables are missing: {', '.join(missing)}", ""
    return (
        True,
        f"created {', '.join(tables)}; version table holds {', '.join(schema.version) or 'nothing'}",
        "",
    )


@check
def models_match_migrations(ctx: Context) -> tuple[bool, str, str]:
    for step in ctx.story.steps:
        if step.wrote_no_migration:
            return False, f"{step.id}: {step.error}", step.stdout + step.stderr
    step = ctx.step("check")
    return (
        True,
        f"`{step.command}` exited {step.exit_code}: models and migrations agree",
        step.stdout + step.stderr,
    )


@check
def up_down_consistency(ctx: Context) -> tuple[bool, str, str]:
    up, again = ctx.step("change").schema, ctx.step("reapply").schema
    ctx.step("rollback")
    diff = _schema_diff(up, again)
    if diff:
        return False, "the schema after re-applying differs from the first upgrade", diff
    return True, "rollback and re-apply ran, and the schema after re-applying equals the first upgrade's", ""


@check
def rollback_leaves_no_trace(ctx: Context) -> tuple[bool, str, str]:
    before, after = ctx.before_change().schema, ctx.step("rollback").schema
    diff = _schema_diff(before, after)
    if diff:
        return False, "the schema after rollback differs from the schema before the change", diff
    moved = _reordered(before, after)
    order = f" (the same columns, in another order: {', '.join(moved)})" if moved else ""
    return True, f"the schema after rollback equals the schema before the change (tables and version){order}", ""


@check
def data_survives(ctx: Context) -> tuple[bool, str, str]:
    """Every row and every value that existed before the change is still there (or moved to a renamed column)
    after the change, the rollback and the re-apply."""
    before = ctx.before_change()
    total = sum(before.data.counts.values()) if before.data else 0
    for role in ("change", "rollback", "reapply"):
        step = ctx.step(role)
        lost = _losses(before, step)
        if lost:
            return False, f"{step.title}: {'; '.join(lost)}", _rows_diff(before, step)
    return True, f"all {total} rows and their values survived the change, the rollback and the re-apply", ""


@check
def old_rows_value(ctx: Context) -> tuple[bool, str, str]:
    """Every column the change added holds a value (not NULL) in every row that existed before it."""
    step = ctx.step("change")
    added = [c for c in step.data_changes if c.change == "added"]
    if not added:
        return False, "the change added no column to a table with rows", ""
    details = [f"{c.table}.{c.column}: {c.count} existing rows hold {c.detail}" for c in added]
    return all("NULL" not in c.detail for c in added), "; ".join(details), ""


@check
def generated_matches_committed(ctx: Context) -> tuple[bool, str, str]:
    steps = {s.id: s for s in ctx.story.steps}
    missing = [i for i in ctx.variant.compare_committed if i not in steps or not steps[i].ok]
    if missing:
        raise NotReached(missing[0])
    generated = [f for step_id in ctx.variant.compare_committed for f in steps[step_id].files]
    committed = _committed(ctx.adapter)
    ours, theirs = ctx.adapter.normalize(generated), ctx.adapter.normalize(committed)
    out = []
    for path, text in sorted(ours.items()):
        if path not in theirs:
            out.append(f"{ctx.adapter.app_dir}/{path}: generated, but no committed file matches")
        elif text != theirs[path]:
            out += difflib.unified_diff(
                theirs[path].splitlines(),
                text.splitlines(),
                f"committed/{path}",
                f"generated/{path}",
                lineterm="",
            )
    what = ", ".join(ctx.variant.compare_committed)
    if out:
        return False, f"generated files differ from the committed ones ({what})", "\n".join(out)
    return True, f"{len(ours)} generated file(s) equal the committed ones ({what}), once normalized", ""


@check
def failed_step_leaves_no_trace(ctx: Context) -> tuple[bool, str, str]:
    """A step that failed left the schema, the version table and the rows exactly as they were before it."""
    failed = ctx.story.failed
    if failed is None:
        return True, "no step failed: nothing was left half-done", ""
    before = ctx.story.before(failed)
    if before is None:
        return True, f"'{failed.title}' failed before the database was touched", ""
    diff = _schema_diff(before.schema, after := failed.schema)
    if diff:
        left = ", ".join(left_behind(before.schema, after)) or "the version table changed"
        return False, f"'{failed.title}' failed and left behind: {left}", diff
    if _rows_of(before) != _rows_of(failed):
        return False, f"'{failed.title}' failed and left the rows changed", ""
    return True, f"'{failed.title}' failed ({failed.error}); schema, version table and rows are as before it", ""


def left_behind(a: Schema | None, b: Schema | None) -> list[str]:
    """What a failed step added or removed: tables (temporary ones included), columns, indexes, version rows."""
    out = []
    tables_a = {t.name: t for t in (a.tables if a else [])}
    tables_b = {t.name: t for t in (b.tables if b else [])}
    out += [f"table {n} added" for n in tables_b if n not in tables_a]
    out += [f"table {n} removed" for n in tables_a if n not in tables_b]
    for name in tables_a.keys() & tables_b.keys():
        ca = {c.name for c in tables_a[name].columns}
        cb = {c.name for c in tables_b[name].columns}
        out += [f"{name}.{c} added" for c in sorted(cb - ca)] + [f"{name}.{c} removed" for c in sorted(ca - cb)]
        ia = {tuple(i.columns) for i in tables_a[name].indexes} | {tuple(u) for u in tables_a[name].unique}
        ib = {tuple(i.columns) for i in tables_b[name].indexes} | {tuple(u) for u in tables_b[name].unique}
        out += [f"index on {name}({', '.join(i)}) added" for i in sorted(ib - ia)]
    out += [f"enum type {e} added" for e in (b.enums if b else []) if e not in (a.enums if a else [])]
    if a and b and a.version != b.version:
        out.append(f"version table {', '.join(a.version) or 'empty'} -> {', '.join(b.version) or 'empty'}")
    return out


# --- helpers -------------------------------------------------------------------------------------------


def _reordered(a: Schema | None, b: Schema | None) -> list[str]:
    """Tables whose columns are the same in both schemas but in another order (a SQLite rebuild can do that)."""
    if a is None or b is None:
        return []
    return [
        t.name
        for t in a.tables
        if (u := b.table(t.name)) and [c.name for c in t.columns] != [c.name for c in u.columns]
    ]


def _schema_diff(a: Schema | None, b: Schema | None) -> str:
    """A diff of two schemas; columns and foreign keys compared whatever their order in the table."""

    def lines(s: Schema | None) -> list[str]:
        if s is None:
            return ["<no schema>"]
        out = [f"version: {', '.join(s.version)}"] + [f"enum type {e}" for e in s.enums]
        for t in s.tables:
            out.append(f"table {t.name}")
            out += [f"  {c}" for c in sorted(t.columns, key=lambda c: c.name)]
            out += sorted(f"  fk {fk.columns} -> {fk.ref_table}{fk.ref_columns}" for fk in t.foreign_keys)
            out += [f"  unique {u}" for u in t.unique]
            out += [f"  index {ix.columns}" for ix in t.indexes]
        return out

    return "\n".join(difflib.unified_diff(lines(a), lines(b), "before", "after", lineterm=""))


def _losses(before: Step, after: Step) -> list[str]:
    """Rows and values of `before` that `after` no longer has (a value moved to a renamed column is kept)."""
    if before.data is None or after.data is None:
        return ["the data could not be read"]
    out = []
    for c in losses(before.data, after.data):
        where = f"{c.table}.{c.column}" if c.column else c.table
        out.append(f"{where}: {c.count} {c.change}" + (f" ({c.detail})" if c.detail else ""))
    return out


def _rows_diff(before: Step, after: Step) -> str:
    return "\n".join(
        difflib.unified_diff(_lines(_rows_of(before)), _lines(_rows_of(after)), before.id, after.id, lineterm="")
    )


def _rows_of(step: Step) -> dict:
    return step.data.rows if step.data else {}


def _lines(rows: dict[str, list[dict]]) -> list[str]:
    return [f"{t}: {r}" for t, rs in rows.items() for r in rs]


def _committed(adapter: Adapter) -> list[File]:
    app = REPO / adapter.app_dir
    paths = set(adapter.migration_files(app))
    for item in adapter.scaffold:
        target = app / item
        paths |= set(target.rglob("*")) if target.is_dir() else {target}
    return [
        File(str(p.relative_to(app)), p.read_text(encoding="utf-8"))
        for p in sorted(paths)
        if p.is_file() and "__pycache__" not in p.parts and p.name != "__init__.py"
    ]
