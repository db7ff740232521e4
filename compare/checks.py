"""Checks per story, named after what they assert (like pytest-alembic's)."""

from __future__ import annotations

import dataclasses
import difflib
from collections import Counter
from collections.abc import Callable

from compare.adapters import Adapter
from compare.model import Check, File, Schema, Step, Story
from compare.sandbox import REPO
from compare.scenario import Scenario, Variant


@dataclasses.dataclass
class Context:
    story: Story
    adapter: Adapter
    scenario: Scenario
    variant: Variant

    def step(self, step_id: str) -> Step:
        step = self.story.step(step_id)
        if step is None or not step.ok:
            raise NotReached(step_id if step is None else f"{step_id} failed: {step.error}")
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
                f" (known: {variant.reason(name, story.framework)})"
                if not passed
                else " (the scenario expected a failure: the tool's behaviour has changed)"
            )
        results.append(Check(name=name, passed=passed, detail=detail, expected=expected, output=output))
    return results


@check
def single_head(ctx: Context) -> tuple[bool, str, str]:
    scripts = [f for s in ctx.story.steps if s.kind == "generate" for f in s.files if ctx.adapter.is_script(f.path)]
    if not scripts:
        raise NotReached("generate_initial")
    heads = ctx.adapter.heads(scripts)
    return len(heads) == 1, f"{len(heads)} head(s) among {len(scripts)} migration(s): {', '.join(heads)}", ""


@check
def upgrade_from_empty(ctx: Context) -> tuple[bool, str, str]:
    schema = ctx.step("upgrade_initial").schema
    tables = [t.name for t in schema.tables] if schema else []
    missing = [t for t in ctx.scenario.seed.tables() if t not in tables]
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
    up, again = ctx.step("upgrade_change").schema, ctx.step("reapply").schema
    ctx.step("rollback")
    diff = _schema_diff(up, again)
    if diff:
        return False, "the schema after re-applying differs from the first upgrade", diff
    return True, "rollback and re-apply ran, and the schema after re-applying equals the first upgrade's", ""


@check
def rollback_leaves_no_trace(ctx: Context) -> tuple[bool, str, str]:
    before, after = ctx.step("seed").schema, ctx.step("rollback").schema
    diff = _schema_diff(before, after)
    if diff:
        return False, "the schema after rollback differs from the schema before the upgrade", diff
    return True, "the schema after rollback equals the schema before the upgrade (tables and version)", ""


@check
def data_survives(ctx: Context) -> tuple[bool, str, str]:
    seeded = _rows(ctx, "seed")
    total = sum(len(rows) for rows in seeded.values())
    for step_id in ("upgrade_change", "rollback", "reapply"):
        rows = _rows(ctx, step_id)
        if rows != seeded:
            diff = "\n".join(difflib.unified_diff(_lines(seeded), _lines(rows), "seed", step_id, lineterm=""))
            return False, f"rows changed at {step_id}", diff
    return True, f"all {total} seeded rows identical after upgrade, rollback and re-apply", ""


@check
def old_rows_value(ctx: Context) -> tuple[bool, str, str]:
    data = ctx.step("upgrade_change").data
    rows = data.rows.get(ctx.scenario.table, []) if data else []
    values = Counter(row.get(ctx.scenario.field, "<missing>") for row in rows)
    detail = ", ".join(f"{'NULL' if v is None else v} x{n}" for v, n in values.items()) or "no rows"
    detail = f"{len(rows)} existing rows hold: {detail}"
    return bool(rows) and None not in values and "<missing>" not in values, detail, ""


@check
def generated_matches_committed(ctx: Context) -> tuple[bool, str, str]:
    generated = [f for step_id in ctx.variant.compare_committed for f in ctx.step(step_id).files]
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
    steps = ctx.story.steps
    failed = next((i for i, s in enumerate(steps) if not s.ok), None)
    if failed is None:
        return False, "no step failed, so there was nothing to roll back", ""
    if failed == 0:
        return True, f"'{steps[0].title}' failed before the database was touched", ""
    before, after = steps[failed - 1], steps[failed]
    diff = _schema_diff(before.schema, after.schema)
    if diff:
        changes = ", ".join(_changed_columns(before.schema, after.schema)) or "constraints or version changed"
        return False, f"'{after.title}' failed and left the schema changed: {changes}", diff
    if _rows_of(before) != _rows_of(after):
        return False, f"'{after.title}' failed and left the rows changed", ""
    return True, f"'{after.title}' failed ({after.error}); schema, version table and rows are as before it", ""


# --- helpers -------------------------------------------------------------------------------------------


def _schema_diff(a: Schema | None, b: Schema | None) -> str:
    def lines(s: Schema | None) -> list[str]:
        if s is None:
            return ["<no schema>"]
        out = [f"version: {', '.join(s.version)}"]
        for t in s.tables:
            out.append(f"table {t.name}")
            out += [f"  {c}" for c in t.columns]
            out += [f"  fk {fk.columns} -> {fk.ref_table}{fk.ref_columns}" for fk in t.foreign_keys]
            out += [f"  unique {u}" for u in t.unique]
            out += [f"  index {ix.columns}" for ix in t.indexes]
        return out

    return "\n".join(difflib.unified_diff(lines(a), lines(b), "before", "after", lineterm=""))


def _rows(ctx: Context, step_id: str) -> dict[str, list[dict]]:
    data = ctx.step(step_id).data
    field = ctx.scenario.field
    return {
        t: [{k: v for k, v in r.items() if k != field} for r in rows] for t, rows in (data.rows if data else {}).items()
    }


def _changed_columns(a: Schema | None, b: Schema | None) -> list[str]:
    def cols(s: Schema | None) -> set[str]:
        return {f"{t.name}.{c.name}" for t in (s.tables if s else []) for c in t.columns}

    return [f"{c} added" for c in sorted(cols(b) - cols(a))] + [f"{c} removed" for c in sorted(cols(a) - cols(b))]


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
