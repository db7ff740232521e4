"""The neutral data model: what a run measured. Every output format is a view of a `Report`.

Measure (runner, inspect, checks) and render (terminal, Markdown, HTML, JSON) meet only here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FORMAT = "migration-lab/compare"
VERSION = 2  # 2: a catalog of scenarios; steps carry roles and the data changes they made


@dataclass
class Column:
    name: str
    type: str  # normalized: integer, bigint, varchar(200), text, timestamp, timestamptz...
    nullable: bool
    default: str | None  # normalized database-level default, None when there is none
    primary_key: bool = False
    autoincrement: str | None = None  # "autoincrement", "identity", "serial" or None


@dataclass
class ForeignKey:
    columns: list[str]
    ref_table: str
    ref_columns: list[str]
    name: str | None = None


@dataclass
class Index:
    columns: list[str]
    unique: bool
    name: str | None = None


@dataclass
class Table:
    name: str
    columns: list[Column]
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    unique: list[list[str]] = field(default_factory=list)  # unique column sets, constraint or index alike
    indexes: list[Index] = field(default_factory=list)  # non-unique indexes

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass
class Schema:
    """A live database's schema, with the migration tool's bookkeeping tables kept apart."""

    tables: list[Table]
    bookkeeping: list[Table] = field(default_factory=list)
    version: list[str] = field(default_factory=list)  # applied migrations / revision ids, as the tool records them
    enums: list[str] = field(default_factory=list)  # PostgreSQL enum types: "name(label, ...)"
    # PostgreSQL: table -> its relfilenode, the file that holds its rows: a new one means the table was rewritten
    storage: dict[str, int] = field(default_factory=dict)

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)


@dataclass
class Data:
    """Row counts and every row of the seeded tables, ordered by primary key."""

    counts: dict[str, int]
    rows: dict[str, list[dict[str, Any]]]


@dataclass
class DataChange:
    """What one step did to a table's rows or to one column's values, measured against the step before it.

    `change` is one of: rows added, rows lost, added (a new column; `detail` sums up its values), filled (NULLs that
    now hold a value), values changed (values that were not NULL and now differ),
    values lost (a dropped column that held non-NULL values), moved (a dropped column whose values are now in
    another column, `detail` says which), dropped (a dropped column that held only NULLs).
    """

    table: str
    column: str | None  # None: the table's rows
    change: str
    count: int  # rows or values concerned
    detail: str = ""


@dataclass
class Statement:
    sql: str
    kind: str  # ddl, dml, tx (transaction control), query (read-only introspection)


@dataclass
class File:
    path: str  # relative to the sandbox's app directory
    text: str


@dataclass
class Step:
    """One step of the story as it ran: command, outcome, and the database right after it."""

    id: str
    kind: str  # init, generate, upgrade, seed, edit, fix, sql, query, check, rollback
    title: str
    command: str | None  # exactly as a user types it, None for steps that are not a tool call
    cwd: str | None = None
    exit_code: int | None = None
    seconds: float = 0.0
    stdout: str = ""
    stderr: str = ""
    ok: bool = True
    expected_failure: bool = False  # the scenario documents that this step fails for this framework
    error: str | None = None  # one line: why the step failed
    note: str | None = None  # for example "Django needs no init step"
    sql: list[Statement] = field(default_factory=list)
    files: list[File] = field(default_factory=list)  # files the step wrote (generated migrations, init output)
    diff: str | None = None  # unified diff of a hand edit (model change, env.py edit)
    schema: Schema | None = None
    data: Data | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    role: str | None = None  # what the step is for in the scenario (baseline, change, rollback...)
    answers: list[str] = field(default_factory=list)  # what was typed at the tool's prompts
    data_changes: list[DataChange] = field(default_factory=list)  # measured against the previous step

    NO_MIGRATION = "no migration written"
    EMPTY_MIGRATION = "empty migration"

    @property
    def cpu_seconds(self) -> float:
        """CPU time of the step's tool processes: unlike wall time, it does not grow with the stories run at once."""
        return round(sum(c.cpu_seconds for c in self.tool_calls), 3)

    @property
    def wrote_no_migration(self) -> bool:
        """A generate step whose tool succeeded but left no usable migration (none, or one without operations)."""
        return self.kind == "generate" and (self.error or "").startswith((self.NO_MIGRATION, self.EMPTY_MIGRATION))


@dataclass
class ToolCall:
    command: str
    exit_code: int | None
    seconds: float  # wall time
    cpu_seconds: float = 0.0  # user + system time of the tool's process (and the children it waited for)
    harness_seconds: float = 0.0  # the sandbox's own work around the call: hashing the files, reading the SQL log
    process: str = "plain"  # how the tool process ran: plain (a fresh interpreter) or warm (forked, compare.warm)


@dataclass
class Check:
    name: str
    passed: bool
    detail: str  # one line, measured
    expected: bool = True  # False when the scenario documents this outcome as a known failure
    output: str = ""  # the evidence (tool output, diff) when it failed

    @property
    def as_expected(self) -> bool:
        return self.passed == self.expected


@dataclass
class Story:
    """One framework x variant x backend run of the scenario."""

    framework: str
    variant: str
    backend: str
    tool_versions: dict[str, str]
    scenario: str = ""
    steps: list[Step] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    sandbox: str | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)  # what the harness could not clean up

    @property
    def key(self) -> str:
        return f"{self.scenario}/{self.framework}/{self.variant}/{self.backend}"

    @property
    def tool_seconds(self) -> float:
        return sum(c.seconds for s in self.steps for c in s.tool_calls)

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def role(self, role: str) -> Step | None:
        """The first step that ran with this role."""
        return next((s for s in self.steps if s.role == role), None)

    def before(self, step: Step) -> Step | None:
        """The step that ran just before `step`."""
        i = next((n for n, s in enumerate(self.steps) if s is step), 0)
        return self.steps[i - 1] if i else None

    @property
    def failed(self) -> Step | None:
        """The first step that failed (where the story stopped, or was retried)."""
        return next((s for s in self.steps if not s.ok), None)

    @property
    def ok(self) -> bool:
        return all(s.ok != s.expected_failure for s in self.steps) and all(c.as_expected for c in self.checks)


@dataclass
class Finding:
    rule: str
    text: str
    frameworks: list[str] = field(default_factory=list)
    variant: str | None = None
    backend: str | None = None


@dataclass
class LintFinding:
    """What a migration linter (squawk, or one of the lab's own rules in compare/lint.toml) says about the SQL a
    step actually executed, held against what the run measured."""

    rule: str  # squawk's rule id (adding-required-field...) or the lab's own (sqlite-table-rebuild...)
    source: str  # "squawk" or "lab"
    severity: str  # error, warning, info
    framework: str
    variant: str
    backend: str
    step: str  # the step id whose SQL was linted
    message: str
    statement: str = ""  # the statement it points at, if any
    equivalent: str = ""  # the same rule in other linters (squawk, django-migration-linter)
    verdict: str = ""  # confirmed, contradicted, not measured, or unflagged (a measured hazard no rule flagged)
    evidence: str = ""  # the measurement behind the verdict


@dataclass
class Report:
    """One scenario of the catalog, as it ran for every framework, variant and backend."""

    scenario: str
    title: str
    started_at: str  # the run's start
    seconds: float  # its own stories', from the first one's start to the last one's end
    environment: dict[str, str]
    stories: list[Story] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    question: str = ""
    summary: str = ""
    roles: dict[str, str] = field(default_factory=dict)  # role -> step id
    variant_titles: dict[str, str] = field(default_factory=dict)
    lint: list[LintFinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.stories)

    def step_id(self, role: str) -> str:
        """The id of the scenario's step with this role ("" when it has none)."""
        return self.roles.get(role, "")

    def story(self, framework: str, variant: str, backend: str = "sqlite") -> Story | None:
        return next(
            (s for s in self.stories if (s.framework, s.variant, s.backend) == (framework, variant, backend)),
            None,
        )


@dataclass
class Catalog:
    """A whole run: every scenario that ran. What compare.json holds."""

    started_at: str
    seconds: float
    environment: dict[str, str]
    reports: list[Report] = field(default_factory=list)
    format: str = FORMAT
    version: int = VERSION

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.reports)

    @property
    def stories(self) -> list[Story]:
        return [s for r in self.reports for s in r.stories]

    def report(self, scenario: str) -> Report | None:
        return next((r for r in self.reports if r.scenario == scenario), None)
