"""Safety lint, held against the measurements: the real squawk on the PostgreSQL SQL each tool executed, and the
lab's own rules (compare/lint.toml) for what squawk cannot see, each finding with the run's verdict on it.

Squawk reads the statements as text and predicts; the run measured what they did. For each squawk finding whose
rule makes a claim the run measures (lint.toml's [squawk.rules]): a table rewrite is confirmed or contradicted by the
tables' relfilenodes before and after the step, a required field by whether the step failed on the table with
rows; locks are not measured yet ("not measured"). The lab's rules are measurements themselves ("confirmed"). A
measured hazard (a rewrite, a failure that left debris, data lost) on a step where no rule flagged it is a finding of
its own, verdict "unflagged".
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from compare import checks, views
from compare.backends import BACKENDS
from compare.model import LintFinding, Report, Statement, Step, Story
from compare.snapshot import LOSSES

RULES_FILE = Path(__file__).resolve().parent / "lint.toml"
SEVERITIES = ("error", "warning", "info")
VERDICTS = ("confirmed", "contradicted", "not measured", "unflagged")
LINTED_KINDS = ("upgrade", "rollback")
SKIPPED_ROLES = ("start", "retry", "reapply")  # the start state, and the same SQL run again


class SquawkError(Exception):
    pass


# --- which steps, which SQL ------------------------------------------------------------------------------------


def linted_steps(story: Story) -> list[Step]:
    """Each migration once: its first upgrade and its rollback (not the start state, the retry or the re-apply)."""
    return [s for s in story.steps if s.kind in LINTED_KINDS and s.role not in SKIPPED_ROLES and views.writes(s)]


def statements(step: Step) -> list[Statement]:
    """What the step executed that changed something, minus transaction control: the migration's own SQL."""
    return [s for s in views.writes(step) if s.kind != "tx"]


# --- measured predicates: what the lab's rules and hazards assert ---------------------------------------------


@dataclass
class Hit:
    statement: str
    evidence: str


Predicate = Callable[[Story, Step], list[Hit]]
PREDICATES: dict[str, Predicate] = {}


def predicate(fn: Predicate) -> Predicate:
    PREDICATES[fn.__name__] = fn
    return fn


def _first(step: Step, pattern: str) -> str:
    rx = re.compile(pattern, re.I | re.S)
    return next((s.sql for s in statements(step) if rx.search(s.sql)), "")


def _tables_pattern(tables: list[str]) -> str:
    return r"\b(" + "|".join(re.escape(t) for t in tables) + r")\b"


@predicate
def rebuilds_table(story: Story, step: Step) -> list[Hit]:
    """The step rebuilt a table: created a copy under a temporary name, copied the rows, dropped the original and
    renamed the copy back (views.rebuilt_tables, from the executed SQL)."""
    tables = views.rebuilt_tables(step)
    if not tables:
        return []
    create = _first(step, r"^\s*CREATE TABLE")
    return [Hit(create, f"rebuilt {', '.join(tables)}: copy, drop, rename in the executed SQL")]


@predicate
def rewrites_table(story: Story, step: Step) -> list[Hit]:
    """A table now keeps its rows in a new file: a new relfilenode on PostgreSQL (views.rewritten_tables), or a
    rebuild on SQLite (rebuilds_table)."""
    tables = views.rewritten_tables(story.before(step), step)
    if tables:
        sql = _first(step, rf"^\s*ALTER TABLE\s+\"?{_tables_pattern(tables)}")
        return [Hit(sql, f"{', '.join(tables)}: relfilenode changed (the table was rewritten)")]
    return rebuilds_table(story, step)


@predicate
def ddl_outside_transaction(story: Story, step: Step) -> list[Hit]:
    """The step's DDL ran outside a transaction: no BEGIN before its first DDL statement, or a database whose DDL
    commits implicitly (views._transactional says "no")."""
    if views._transactional(step, story.backend) != "no":
        return []
    first = next((s.sql for s in step.sql if s.kind == "ddl"), "")
    database = BACKENDS.get(story.backend)
    if database and not database.transactional_ddl:
        return [Hit(first, f"{database.title} commits each DDL statement implicitly: no transaction holds them")]
    return [Hit(first, "no BEGIN before the first DDL statement in the executed SQL")]


_NOT_NULL_ERROR = re.compile(r"NotNullViolation|NOT NULL constraint failed|contains null values", re.I)


@predicate
def not_null_without_default(story: Story, step: Step) -> list[Hit]:
    """After the step, a column that did not exist before it is NOT NULL with no database default; or the step
    failed on a NOT NULL violation (the new column could not be filled for the rows that exist)."""
    before = story.before(step)
    old, new = (before.schema if before else None), step.schema
    hits = []
    if old is not None and new is not None:
        for t in new.tables:
            was = old.table(t.name)
            for c in t.columns:
                if was is not None and was.column(c.name) is None and not c.nullable and c.default is None:
                    sql = _first(step, rf"\b{re.escape(c.name)}\b")
                    hits.append(Hit(sql, f"{t.name}.{c.name} is {c.type} NOT NULL with no default after the step"))
    if not step.ok and _NOT_NULL_ERROR.search(step.error or ""):
        sql = _first(step, r"NOT NULL")
        hits.append(Hit(sql, f"the step failed: {views.reason(step.error)[:160]}"))
    return hits


@predicate
def loses_data(story: Story, step: Step) -> list[Hit]:
    """The step's measured data changes include values or rows lost (snapshot.LOSSES) that existed before it.

    The statement shown is the DROP that lost them, else one naming the column, else a rebuild's copy of the rows."""
    hits = []
    for c in step.data_changes:
        if c.change in LOSSES:
            where = c.column or c.table
            sql = (
                _first(step, rf"DROP\s+(COLUMN|TABLE)\s+(IF EXISTS\s+)?\"?{re.escape(where)}\b")
                or _first(step, rf"\b{re.escape(where)}\b")
                or (_first(step, r"^\s*INSERT INTO .+\bSELECT\b") if views.rebuilt_tables(step) else "")
            )
            hits.append(Hit(sql, views.change_text(c)))
    return hits


_IRREVERSIBLE = re.compile(r"IrreversibleError|NotImplementedError")


@predicate
def rollback_irreversible(story: Story, step: Step) -> list[Hit]:
    """The step failed with IrreversibleError (Django) or NotImplementedError (a downgrade that raises)."""
    if step.ok or not _IRREVERSIBLE.search(f"{step.error}\n{step.stderr[-2000:]}"):
        return []
    return [Hit("", f"the step failed: {views.reason(step.error)[:160]}")]


@predicate
def unnamed_constraint(story: Story, step: Step) -> list[Hit]:
    """The step failed with Alembic's "Constraint must have a name" (a constraint created with name None)."""
    if step.ok or "Constraint must have a name" not in f"{step.error}\n{step.stderr[-2000:]}":
        return []
    return [Hit("", f"the step failed: {views.reason(step.error)[:160]}")]


@predicate
def failure_left_debris(story: Story, step: Step) -> list[Hit]:
    """The step failed and the schema after it differs from the schema before it (checks.left_behind)."""
    if step.ok:
        return []
    before = story.before(step)
    left = checks.left_behind(before.schema if before else None, step.schema)
    if not left:
        return []
    return [Hit(next((s.sql for s in statements(step) if s.kind == "ddl"), ""), f"left {', '.join(left)}")]


# --- the rules, as data -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    when: str
    why: str
    safe: dict[str, str]
    equivalent: str = ""
    backends: tuple[str, ...] = ()  # empty: every backend
    roles: tuple[str, ...] = ()  # empty: every linted step
    covers: str = ""

    def applies(self, story: Story, step: Step) -> bool:
        return (not self.backends or story.backend in self.backends) and (not self.roles or step.role in self.roles)


@dataclass(frozen=True)
class Hazard:
    id: str
    when: str
    severity: str
    why: str


@dataclass(frozen=True)
class Rules:
    rules: tuple[Rule, ...]
    hazards: tuple[Hazard, ...]
    squawk: dict[str, dict[str, str]]  # squawk rule id -> {"claim": ..., "covers": ...}


@cache
def rules() -> Rules:
    """lint.toml, checked: every rule's predicate exists, severities are known, ids are unique."""
    with RULES_FILE.open("rb") as f:
        data = tomllib.load(f)
    out = []
    for r in data["rules"]:
        rule = Rule(**{k: tuple(v) if isinstance(v, list) else v for k, v in r.items()})
        if rule.when not in PREDICATES:
            raise ValueError(f"lint.toml: rule {rule.id}: unknown predicate {rule.when!r}")
        if rule.severity not in SEVERITIES:
            raise ValueError(f"lint.toml: rule {rule.id}: severity must be one of {', '.join(SEVERITIES)}")
        out.append(rule)
    if len({r.id for r in out}) != len(out):
        raise ValueError("lint.toml: rule ids must be unique")
    hazards = tuple(Hazard(id=k, **v) for k, v in data["hazards"].items())
    return Rules(tuple(out), hazards, data["squawk"]["rules"])


# --- squawk -----------------------------------------------------------------------------------------------------


def squawk_binary() -> str | None:
    """The squawk binary the squawk-cli package installed next to this interpreter, else the one on PATH."""
    mine = Path(sys.executable).parent / "squawk"
    return str(mine) if mine.exists() else shutil.which("squawk")


def _env() -> dict[str, str]:
    """Squawk's environment: nothing that would make it talk to GitHub (its only network use)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "SQUAWK_"))}
    env["SQUAWK_DISABLE_GITHUB_ANNOTATIONS"] = "1"
    return env


@cache
def versions() -> dict[str, str]:
    """{"squawk": its version}, from the binary itself, for the report's environment."""
    binary = squawk_binary()
    if binary is None:
        return {"squawk": "not installed"}
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, env=_env())
    return {"squawk": out.stdout.strip().removeprefix("squawk ").strip() or "unknown"}


@dataclass
class SquawkFinding:
    rule: str
    level: str
    message: str
    help: str
    statement: int  # index into the linted statements


def squawk(files: list[tuple[list[Statement], bool]], pg_version: str = "") -> list[list[SquawkFinding]]:
    """Run squawk once on every (statements, in a transaction) item: one SQL file per item, the JSON reporter.

    Returns each item's findings, each pointed at the statement it names.
    """
    binary = squawk_binary()
    if binary is None:
        raise SquawkError("the squawk binary is not installed (make venv installs squawk-cli)")
    out: list[list[SquawkFinding]] = [[] for _ in files]
    groups = {tx: [i for i, (_, t) in enumerate(files) if t == tx and files[i][0]] for tx in (True, False)}
    with tempfile.TemporaryDirectory(prefix="squawk-") as tmp:
        for tx, items in groups.items():
            if not items:
                continue
            starts: dict[str, list[int]] = {}
            paths = []
            for i in items:
                path = Path(tmp) / f"{i}.sql"
                lines, text = [], ""
                for st in files[i][0]:
                    lines.append(text.count("\n"))
                    text += st.sql.rstrip().rstrip(";") + ";\n"
                path.write_text(text, encoding="utf-8")
                starts[path.name] = lines
                paths.append(str(path))
            argv = [binary, "--reporter", "json", *(["--assume-in-transaction"] if tx else [])]
            argv += [f"--pg-version={pg_version}"] if pg_version else []
            proc = subprocess.run([*argv, *paths], capture_output=True, text=True, timeout=120, cwd=tmp, env=_env())
            try:
                found = json.loads(proc.stdout or "null")
            except json.JSONDecodeError:
                found = None
            if not isinstance(found, list):
                raise SquawkError(f"squawk exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[:300]}")
            for f in found:
                name = Path(f["file"]).name
                lines = starts.get(name)
                if lines is None:
                    continue
                index = max((n for n, start in enumerate(lines) if start <= f["line"]), default=0)
                out[int(name.removesuffix(".sql"))].append(
                    SquawkFinding(f["rule_name"], f["level"].lower(), f["message"], f.get("help") or "", index)
                )
    return out


_ALTERED = re.compile(r'^\s*ALTER TABLE\s+(?:IF EXISTS\s+)?(?:ONLY\s+)?(?:"?\w+"?\.)?"?(\w+)"?', re.I)


def verdict(claim: str, story: Story, step: Step, sql: str) -> tuple[str, str]:
    """The run's verdict on what a squawk rule claims about the statement `sql` of `step`, with the evidence."""
    if claim == "rewrite":
        m = _ALTERED.match(sql)
        before = story.before(step)
        if not step.ok:
            return "not measured", "the step failed and was rolled back: no rewrite to measure"
        if m is None or before is None or not before.schema or not step.schema or m[1] not in before.schema.storage:
            return "not measured", "no relfilenode measured for the statement's table"
        if m[1] in views.rewritten_tables(before, step):
            return "confirmed", f"{m[1]}: relfilenode changed (the table was rewritten)"
        old = before.schema.storage[m[1]]
        return "contradicted", f"{m[1]}: relfilenode unchanged ({old}): the table was not rewritten"
    if claim == "required-field":
        if not step.ok:
            return "confirmed", f"the step failed on the table with rows: {views.reason(step.error)[:120]}"
        return "contradicted", "the step ran on the table with rows"
    if claim == "lock":
        return "not measured", "squawk predicts a lock; locks are not measured yet"
    return "not measured", "nothing this run measures"


# --- lint a report ---------------------------------------------------------------------------------------------


def lint(report: Report, scenario=None) -> list[LintFinding]:
    """Every finding on the report's stories: squawk's (PostgreSQL), the lab's rules, then the unflagged hazards."""
    cfg = rules()
    steps = [(s, st) for s in report.stories for st in linted_steps(s)]
    pg = [(s, st) for s, st in steps if s.backend == "postgresql"]
    out: dict[int, list[LintFinding]] = {id(st): [] for _, st in steps}
    covered: dict[int, set[str]] = {id(st): set() for _, st in steps}

    def add(story: Story, step: Step, finding: LintFinding, covers: str = "") -> None:
        out[id(step)].append(finding)
        if covers:
            covered[id(step)].add(covers)

    def base(story: Story, step: Step, **kw) -> LintFinding:
        return LintFinding(framework=story.framework, variant=story.variant, backend=story.backend, step=step.id, **kw)

    if pg:
        version = report.environment.get("PostgreSQL", "").split(" ")[0].split(".")[0]
        items = [(statements(st), views._transactional(st) == "yes") for _, st in pg]
        try:
            results = squawk(items, version if version.isdigit() else "")
        except (SquawkError, OSError, subprocess.SubprocessError) as exc:
            s, st = pg[0]
            add(s, st, base(s, st, rule="squawk-failed", source="squawk", severity="error", message=str(exc)))
            results = [[] for _ in pg]
        for (s, st), found, (sql, _) in zip(pg, results, items, strict=True):
            for f in found:
                known = cfg.squawk.get(f.rule, {})
                text = sql[f.statement].sql if f.statement < len(sql) else ""
                claim = known.get("claim", "")
                v, evidence = verdict(claim, s, st, text)
                message = f.message + (f" {f.help}" if f.help else "")
                finding = base(s, st, rule=f.rule, source="squawk", severity=f.level, message=message)
                finding.statement, finding.verdict, finding.evidence = text, v, evidence
                finding.equivalent = known.get("equivalent", "")
                add(s, st, finding, known.get("covers") or ("rewrite" if claim == "rewrite" else ""))
    for s, st in steps:
        for rule in cfg.rules:
            if not rule.applies(s, st):
                continue
            for hit in PREDICATES[rule.when](s, st):
                finding = base(s, st, rule=rule.id, source="lab", severity=rule.severity, message=rule.why)
                finding.statement, finding.equivalent = hit.statement, rule.equivalent
                finding.verdict, finding.evidence = "confirmed", hit.evidence
                add(s, st, finding, rule.covers)
        for hazard in cfg.hazards:
            if hazard.id in covered[id(st)]:
                continue
            for hit in PREDICATES[hazard.when](s, st):
                rule = f"unflagged-{hazard.id}"
                finding = base(s, st, rule=rule, source="lab", severity=hazard.severity, message=hazard.why)
                finding.statement = hit.statement
                finding.verdict, finding.evidence = "unflagged", hit.evidence
                add(s, st, finding)
    return [f for _, st in steps for f in out[id(st)]]


def safe_ways(rule_id: str) -> dict[str, str]:
    """framework -> how to do it safely, for one of the lab's rules ({} for squawk's)."""
    return next((dict(r.safe) for r in rules().rules if r.id == rule_id), {})


def summary(findings: list[LintFinding]) -> str:
    """'1 error, 2 warnings' ('no findings' when there are none), worst first."""
    n = Counter(f.severity for f in findings)
    order = [*SEVERITIES, *sorted(set(n) - set(SEVERITIES))]
    return ", ".join(f"{n[sev]} {sev}{'s' if n[sev] != 1 else ''}" for sev in order if n[sev]) or "no findings"


def of(report: Report, story: Story) -> list[LintFinding]:
    """The report's findings on one story."""
    key = (story.framework, story.variant, story.backend)
    return [f for f in report.lint if (f.framework, f.variant, f.backend) == key]


VERDICT_CLASS = {"confirmed": "pass", "contradicted": "fail", "not measured": "none", "unflagged": "fail"}


@dataclass
class LintRow:
    """One (step, rule) of a variant x backend, one cell per framework: its findings there (none: not flagged)."""

    step: str
    step_title: str
    rule: str
    source: str
    severity: str  # the worst of its findings
    equivalent: str
    cells: dict[str, list[LintFinding]]

    def safe(self, framework: str) -> str:
        return safe_ways(self.rule).get(framework, "")


def rows(report: Report, stories: list[Story]) -> list[LintRow]:
    """The lint findings on these stories (one variant and backend), aligned across frameworks by step and rule."""
    by_key: dict[tuple[str, str], LintRow] = {}
    order = views.step_ids(stories)
    for s in stories:
        for f in of(report, s):
            row = by_key.setdefault(
                (f.step, f.rule),
                LintRow(f.step, views.step_title(stories, f.step), f.rule, f.source, f.severity, f.equivalent, {}),
            )
            row.cells.setdefault(s.framework, []).append(f)
            if _rank(f.severity) < _rank(row.severity):
                row.severity = f.severity
    return sorted(
        by_key.values(),
        key=lambda r: (order.index(r.step) if r.step in order else 99, _rank(r.severity), r.source != "lab"),
    )


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)
