"""make bench-migrate: the catalog's migrations on a table of N rows, timed, with the rewrites and locks they cause.

For each case of compare/bench_migrate.toml (a scenario's variant), framework, backend and N, in a sandbox of the
catalog's own (compare.runner.StoryRunner, the real tools, run as a user types them):

1. reach the start state with the tool (init, generate, upgrade), then bulk-load N posts with one set-based INSERT
   (compare.scale.bulk_load; not timed);
2. change the models, generate (and fix by hand where the scenario does), **upgrade**; the same upgrade again, with
   nothing left to do (the CLI's start-up and bookkeeping: what any call costs); **roll back** one step;
3. run the same change as hand-written SQL on the same rows (**raw**, up and down), in this process.

Per direction (upgrade, rollback, raw up, raw down): the CLI's wall and CPU time; the time in the DDL statements
themselves (timed inside the tool's process, compare/sqltrace/locks.py); whether the table was rewritten
(PostgreSQL: posts' relfilenode changed; SQLite: a copy-and-swap in the trace) and the database file's size before
and after (SQLite); the tool process's peak memory; on PostgreSQL the relation locks each statement left on the
migrating connection (pg_locks), how long each was held until the commit, and whether a reader or a writer would
have waited (PostgreSQL's lock conflict table). The raw DDL on PostgreSQL is also probed for real: a reader and a
writer on other connections, with a lock_timeout, while the DDL's transaction is open (or, for CONCURRENTLY, while
it runs). The checks: the rows and every value the change did not touch survive the upgrade and the rollback
(counts and per-column checksums computed in SQL, compare.scale), and what the old rows hold in a new column.

Written to reports/bench-migrate.json, .md and .html. A benchmark, not a test: nothing here fails on a number.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sqlalchemy as sa

from compare import scale, scenario, views, warm
from compare.adapters import ADAPTERS
from compare.backends import BACKENDS, Backend
from compare.model import Step, ToolCall
from compare.runner import StoryRunner
from compare.scenario import Edit, StepSpec
from compare.snapshot import schema_snapshot

REPO = Path(__file__).resolve().parent.parent
CASES = Path(__file__).with_name("bench_migrate.toml")
DEFAULT_ROWS = 1_000_000
SKIPPED_KINDS = ("sql", "query")  # the bench times the migrations, not the app's use of them
SKIPPED_ROLES = ("retry", "reapply")
RAW_BACKENDS = ("sqlite", "postgresql")  # the backends compare/bench_migrate.toml writes raw SQL for
TARGETS = {"tool_over_raw_plus_startup": 2.0, "wall_seconds_at_1m_both_backends": 900, "peak_memory_gib": 2.0}


@dataclass
class Case:
    """One scenario variant and its raw SQL: {direction: {backend: [statements]}}.

    A case with `fix` is the tool's own cheaper way for the same change: hand edits of the generated migration per
    framework (compare.scenario.Edit fields; `backends` limits one to a backend), run as the variant's fix step.
    """

    scenario: str
    variant: str
    raw: dict[str, dict[str, list[str]]]
    id: str | None = None  # the case's name when it is not scenario:variant
    backends: list[str] | None = None  # only on these (default: every backend the raw SQL is written for)
    title: str = ""
    fix: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.id or f"{self.scenario}:{self.variant}"

    def load(self) -> scenario.Scenario:
        """The scenario, with this case's fix edits as its variant's fix step."""
        sc = scenario.load(self.scenario)
        if not self.fix:
            return sc
        sc = sc.model_copy(deep=True)
        sc.variants[self.variant].edits["fix"] = {
            fw: [Edit.model_validate(e) for e in edits] for fw, edits in self.fix.items()
        }
        if not any(s.kind == "fix" for s in sc.steps):  # a scenario with steps of its own may have no fix step
            at = next(i for i, s in enumerate(sc.steps) if s.role == "generate") + 1
            fix = StepSpec(
                id="fix_migration",
                kind="fix",
                role="fix",
                edits="fix",
                title="Fix the generated migration by hand",
                narrative=self.title or "The tool's cheaper way for the same change, written by hand.",
            )
            sc.steps.insert(at, fix)
        return sc

    def runs(self, framework: str, backend: str) -> bool:
        """A fix case runs only where it edits something: elsewhere it is its base case, already measured."""
        if self.backends is not None and backend not in self.backends:
            return False
        if not self.fix:
            return True
        return any(e.get("backends") is None or backend in e["backends"] for e in self.fix.get(framework, []))

    def transactional(self, backend: str) -> bool:
        return bool(self.raw.get("transaction", {}).get(backend, True))


def load_cases() -> list[Case]:
    """The cases of compare/bench_migrate.toml, in its order."""
    with CASES.open("rb") as f:
        return [Case(**c) for c in tomllib.load(f)["cases"]]


class ScaleRunner(StoryRunner):
    """A catalog story on N bulk-loaded rows: its seed step loads them set-based, and no step copies every row
    into the report (the data is summed up by compare.scale.scale_snapshot where the bench needs it)."""

    def __init__(self, *args, rows: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = rows

    def execute(self, spec) -> Step:
        step = Step(
            id=spec.id, kind=spec.kind, title=spec.title, command=None, cwd=self.adapter.app_dir, role=spec.role
        )
        step.expected_failure = self.variant.step_fails(spec.id, self.adapter.name, self.backend.name)
        try:
            getattr(self, f"_{spec.kind}")(step, spec)
        except Exception as exc:  # recorded like a failing tool, as the catalog does
            step.ok, step.error = False, f"{type(exc).__name__}: {exc}"
        step.schema = schema_snapshot(self.engine, self.adapter.bookkeeping, self.adapter.version_sql)
        return step

    def _seed(self, step: Step, spec) -> None:
        step.command = f"bulk load: {self.rows:,} posts, set-based"
        t0 = time.perf_counter()
        scale.bulk_load(self.engine, self.rows)
        step.seconds = round(time.perf_counter() - t0, 3)


@dataclass
class Direction:
    """One direction of one migration, measured."""

    command: str | None = None
    ok: bool = True
    error: str | None = None
    wall_seconds: float = 0.0
    cpu_seconds: float | None = None
    ddl_seconds: float = 0.0
    ddl_statements: int = 0
    rewritten: list[str] = field(default_factory=list)
    how: str = ""  # rebuilt (copy and swap), rewritten (new relfilenode), in place
    file_bytes_before: int | None = None
    file_bytes_after: int | None = None
    peak_memory_mb: float | None = None
    locks: list[dict] = field(default_factory=list)
    blocks_reader_seconds: float = 0.0
    blocks_writer_seconds: float = 0.0
    probe: dict | None = None  # raw DDL on PostgreSQL: a real reader and writer on other connections
    values: str = ""  # what the check of the data found
    slowest: str = ""  # the statement the tool spent most time in, of any kind (a PRAGMA foreign_key_check...)


@dataclass
class Measurement:
    case: str
    framework: str
    backend: str
    rows: int
    seconds: float = 0.0
    error: str | None = None  # an outcome the scenario does not document: the bench exits 1
    expected: str | None = None  # a step failed as the scenario documents (its reason)
    startup_seconds: float | None = None  # the same upgrade with nothing to do, in the bench's tool mode
    # the same no-op in a fresh interpreter, imports included: the start-up a user's shell pays (compare.warm's plain
    # mode); measured once per framework, backend and N, on its first case
    plain_startup_seconds: float | None = None
    upgrade: Direction | None = None
    rollback: Direction | None = None
    raw_up: Direction | None = None
    raw_down: Direction | None = None
    old_rows: dict[str, str] = field(default_factory=dict)  # new column -> what the existing rows hold
    drift_check: str | None = None  # the tool's drift check after the upgrade (no drift, or why not)

    @property
    def ratio(self) -> float | None:
        """The tool's upgrade against raw DDL plus the CLI's start-up, on the same rows."""
        if not (self.upgrade and self.upgrade.ok and self.raw_up and self.raw_up.ok and self.startup_seconds):
            return None
        return round(self.upgrade.wall_seconds / (self.raw_up.wall_seconds + self.startup_seconds), 2)

    @property
    def ratio_typed(self) -> float | None:
        """The same ratio with the start-up a user pays: the upgrade's own work (its wall time less the no-op's, both
        measured in the bench's mode) plus a fresh interpreter's no-op, against raw DDL plus that no-op."""
        if self.ratio is None or not self.plain_startup_seconds:
            return None
        own = max(self.upgrade.wall_seconds - self.startup_seconds, 0.0)
        plain = self.plain_startup_seconds
        return round((own + plain) / (self.raw_up.wall_seconds + plain), 2)


def measure(
    case: Case,
    framework: str,
    backend: Backend,
    rows: int,
    run_dir: Path,
    timeout: float,
    plain_startup: dict[tuple[str, str, int], float],
) -> Measurement:
    """Run one case for one framework, backend and N; every figure measured in this call, but the plain start-up,
    measured here when `plain_startup` does not hold it yet for this framework, backend and N (then kept there)."""
    sc = case.load()
    adapter = ADAPTERS[framework]
    m = Measurement(case.name, framework, backend.name, rows)
    runner = ScaleRunner(sc, adapter, case.variant, backend, run_dir / f"n{rows}", timeout, None, rows=rows)
    t0 = time.perf_counter()
    try:
        if not runner.start():
            m.error = runner.story.steps[-1].error
            return m
        before: dict | None = None
        after: dict = {}
        for n, spec in enumerate(sc.steps):
            if spec.kind in SKIPPED_KINDS or spec.role in SKIPPED_ROLES:
                continue
            if spec.role in ("change", "rollback"):
                # before the rollback, the database is as the upgrade (and the no-op upgrade) left it
                state = after if spec.role == "rollback" else _state(runner)
                logs = set(runner.dir.glob("sql-*.jsonl.locks"))
                previous = runner.story.steps[-1] if runner.story.steps else None
            step = runner.run_step(n)
            if step is None:
                continue
            if spec.kind == "check":  # the drift check: do the models and the migrations (or the database) agree?
                m.drift_check = "no drift" if step.ok else (step.error or "drift")
                continue
            if not step.ok:
                reason = runner.variant.reason(framework, backend.name, step=spec.id)
                if reason:
                    m.expected = f"{spec.id} fails, as the scenario documents: {reason}"
                else:
                    m.error = f"{spec.id}: {step.error}"
            if spec.role not in ("change", "rollback"):
                if not step.ok:
                    break
                continue
            after = _state(runner)
            d = _direction(
                runner, step, previous, state, after, sorted(set(runner.dir.glob("sql-*.jsonl.locks")) - logs)
            )
            if spec.role == "change":
                before, m.upgrade = state, d
                d.values = _compare(state, after, "upgrade")
                m.old_rows = _old_rows(state, after)
                if step.ok:
                    noop = runner.sandbox.run(adapter.upgrade_command())
                    m.startup_seconds = noop.call.seconds
                    m.plain_startup_seconds = _plain_startup(runner, plain_startup, noop.call)
            else:
                m.rollback = d
                d.values = _compare(before, after, "rollback")
            if not step.ok:
                break
            if spec.role == "rollback":
                m.raw_up, m.raw_down = raw(runner.engine, case, backend.name, runner.url)
                break
    except Exception as exc:  # the measurement stands as far as it got; the report says where it stopped
        m.error = f"{type(exc).__name__}: {exc}"
    finally:
        runner.finish()
        shutil.rmtree(runner.dir, ignore_errors=True)  # a sandbox's database can be hundreds of MB at 1M rows
        m.seconds = round(time.perf_counter() - t0, 3)
    return m


def _plain_startup(runner: StoryRunner, cache: dict[tuple[str, str, int], float], noop: ToolCall) -> float | None:
    """The no-op upgrade in a fresh interpreter, as a user's shell runs it (the warm server pre-pays the imports)."""
    if noop.process == "plain":
        return noop.seconds
    key = (runner.adapter.name, runner.backend.name, runner.rows)
    if key not in cache:
        plain = runner.sandbox.run(runner.adapter.upgrade_command(), tool_mode="plain")
        if plain.call.exit_code != 0 or plain.call.process != "plain":
            return None
        cache[key] = plain.call.seconds
    return cache[key]


def _state(runner: StoryRunner) -> dict:
    """What the bench compares before and after a direction: the data summed up, the file's size."""
    out = {"data": scale.scale_snapshot(runner.engine, ["posts", "categories"])}
    if runner.backend.name == "sqlite":
        out["bytes"] = _file_bytes(runner.url)
    return out


def _file_bytes(url: str) -> int:
    path = Path(sa.make_url(url).database)
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def _direction(runner, step: Step, previous: Step | None, before: dict, after: dict, logs: list[Path]) -> Direction:
    calls = [scale.read_locks_log(p) for p in logs]
    d = Direction(
        command=step.command,
        ok=step.ok,
        error=step.error,
        wall_seconds=round(step.seconds, 3),
        cpu_seconds=step.cpu_seconds,
        file_bytes_before=before.get("bytes"),
        file_bytes_after=after.get("bytes"),
    )
    d.ddl_seconds = round(sum(scale.ddl_seconds(c) for c in calls), 4)
    d.ddl_statements = sum(1 for c in calls for t in c.statements if t.kind == "ddl")
    timed = [t for c in calls for t in c.statements if t.kind != "tx"]
    if timed:
        top = max(timed, key=lambda t: t.seconds)
        d.slowest = f"{' '.join(top.sql.split())[:90]} ({top.seconds:.3f} s)"
    peaks = [c.maxrss_kb for c in calls if c.maxrss_kb]
    d.peak_memory_mb = round(max(peaks) / 1024, 1) if peaks else None
    rebuilt, rewritten = views.rebuilt_tables(step), views.rewritten_tables(previous, step)
    d.rewritten = rebuilt or rewritten
    d.how = "rebuilt (copy and swap)" if rebuilt else "rewritten (new relfilenode)" if rewritten else "in place"
    tables = {t.name for t in previous.schema.tables} if previous and previous.schema else set()
    held = [h for c in calls for h in scale.held_locks(c, tables)]
    _add_locks(d, held)
    return d


def _add_locks(d: Direction, held: list[scale.HeldLock]) -> None:
    d.locks = [asdict(h) | {"seconds": round(h.seconds, 4)} for h in held]
    d.blocks_reader_seconds = round(max((h.seconds for h in held if h.blocks_reader), default=0.0), 4)
    d.blocks_writer_seconds = round(max((h.seconds for h in held if h.blocks_writer), default=0.0), 4)


def _compare(before: dict | None, after: dict, what: str) -> str:
    if before is None:
        return ""
    differ = scale.same_values(before["data"], after["data"], "posts")
    rows = after["data"]["posts"].rows if "posts" in after["data"] else 0
    return (
        f"{rows:,} rows, every value kept"
        if not differ
        else f"{rows:,} rows; changed by the {what}: {', '.join(differ)}"
    )


def _old_rows(before: dict, after: dict) -> dict[str, str]:
    old, new = before["data"].get("posts"), after["data"].get("posts")
    if old is None or new is None:
        return {}
    out = {}
    for c in new.columns.keys() - old.columns.keys():
        s = new.columns[c]
        nulls = new.rows - s.non_null
        parts = [f"NULL x{nulls:,}"] if nulls else []
        if s.non_null:
            parts.append(
                f"{s.min!r} x{s.non_null:,}" if s.min == s.max else f"{s.non_null:,} values {s.min!r}..{s.max!r}"
            )
        out[c] = ", ".join(parts)
    return out


# --- the raw baseline ---------------------------------------------------------------------------------------------


def raw(engine: sa.Engine, case: Case, backend: str, url: str) -> tuple[Direction, Direction]:
    """The case's hand-written SQL, up then down, on the rows the tool's rollback left."""
    up = _raw(engine, case.raw["up"].get(backend, []), case.transactional(backend), url)
    down = _raw(engine, case.raw["down"].get(backend, []), case.transactional(backend), url) if up.ok else None
    return up, down


def _raw(engine: sa.Engine, statements: list[str], transactional: bool, url: str) -> Direction:
    postgres = engine.dialect.name == "postgresql"
    d = Direction(command="\n".join(statements) or "(no statement needed)")
    before_bytes = None if postgres else _file_bytes(url)
    node = _relfilenode(engine) if postgres else None
    t0 = time.perf_counter()
    try:
        if transactional:
            with engine.connect() as conn:  # timed from the first statement: the connection is not the DDL's
                conn.exec_driver_sql("SELECT 1").all()
                t0 = time.perf_counter()
                for sql in statements:
                    conn.exec_driver_sql(sql)
                d.ddl_seconds = time.perf_counter() - t0
                if postgres:  # the transaction is still open: its locks, and would a reader, a writer wait?
                    held = conn.exec_driver_sql(_locks_sql().replace("%", "%%")).all()
                    d.probe = probe(engine)
                t_commit = time.perf_counter()
                conn.commit()
                d.wall_seconds = d.ddl_seconds + time.perf_counter() - t_commit
            if postgres:
                _add_locks(d, _raw_held(held, d.wall_seconds))
        else:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("SELECT 1").all()
                stop = threading.Event()
                found: dict = {}
                watcher = threading.Thread(target=_probe_while, args=(engine, stop, found))
                watcher.start()
                t0 = time.perf_counter()
                try:
                    for sql in statements:
                        conn.exec_driver_sql(sql)
                finally:
                    d.ddl_seconds = d.wall_seconds = time.perf_counter() - t0
                    stop.set()
                    watcher.join()
                d.probe = found
    except sa.exc.SQLAlchemyError as exc:
        d.ok, d.error = False, " ".join(str(exc.orig or exc).split())[:300]
        d.wall_seconds = time.perf_counter() - t0
    d.wall_seconds, d.ddl_seconds = round(d.wall_seconds, 4), round(d.ddl_seconds, 4)
    d.ddl_statements = len(statements)
    if postgres:
        d.rewritten = ["posts"] if node != _relfilenode(engine) else []
    else:
        d.file_bytes_before, d.file_bytes_after = before_bytes, _file_bytes(url)
    d.how = "rewritten (new relfilenode)" if d.rewritten else "in place"
    return d


def _locks_sql() -> str:
    from compare.sqltrace.locks import LOCKS_SQL

    return LOCKS_SQL


APP_TABLES = ("posts", "categories")


def _raw_held(rows, seconds: float) -> list[scale.HeldLock]:
    return [
        scale.HeldLock(
            rel,
            mode,
            "(raw)",
            seconds,
            rel in APP_TABLES and mode in scale.BLOCKS_READER,
            rel in APP_TABLES and mode in scale.BLOCKS_WRITER,
        )
        for rel, mode in rows
        if not str(rel).isdigit()
    ]


def _relfilenode(engine: sa.Engine) -> int | None:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT relfilenode FROM pg_class WHERE relname = 'posts'").scalar()


PROBES = {
    "reader": "SELECT title FROM posts WHERE id = 1",
    "writer": "UPDATE posts SET category_id = category_id WHERE id = 1",
}
LOCK_TIMEOUT_MS = 200


def probe(engine: sa.Engine) -> dict:
    """A reader and a writer on connections of their own, each with a lock_timeout: blocked, or not."""
    out = {}
    for name, sql in PROBES.items():
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"SET lock_timeout = '{LOCK_TIMEOUT_MS}ms'")
            t0 = time.perf_counter()
            try:
                conn.exec_driver_sql(sql)
                out[name] = "not blocked"
            except sa.exc.OperationalError as exc:
                if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
                    raise
                out[name] = f"blocked (lock_timeout {LOCK_TIMEOUT_MS} ms reached)"
            out[f"{name}_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    return out


def _probe_while(engine: sa.Engine, stop: threading.Event, found: dict) -> None:
    """Probe again and again until `stop`: the worst each probe met while the statements ran."""
    found.update(reader="not blocked", writer="not blocked", reader_ms=0.0, writer_ms=0.0, probes=0)
    while not stop.is_set():
        result = probe(engine)
        found["probes"] += 1
        for name in PROBES:
            found[f"{name}_ms"] = max(found[f"{name}_ms"], result[f"{name}_ms"])
            if result[name] != "not blocked":
                found[name] = result[name]
        stop.wait(0.01)


# --- the run --------------------------------------------------------------------------------------------------------


def run(
    cases: list[Case],
    frameworks: list[str],
    backends: list[str],
    sizes: list[int],
    timeout: float = 1800.0,
    progress=print,
) -> dict:
    """Measure every case x framework x backend x N, one at a time (timings are not shared with other stories)."""
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    run_dir = Path(tempfile.mkdtemp(prefix="bench-migrate-"))
    os.environ["COMPARE_LOCKS"] = "1"  # every tool call records its statement times, locks and peak memory
    plan = [(c, fw, b, n) for n in sizes for b in backends for c in cases for fw in frameworks if c.runs(fw, b)]
    made = {b: BACKENDS[b]() for b in backends}
    plain_startup: dict[tuple[str, str, int], float] = {}
    out: list[Measurement] = []
    t0 = time.perf_counter()
    try:
        for i, (case, fw, b, n) in enumerate(plan, 1):
            m = measure(case, fw, made[b], n, run_dir, timeout, plain_startup)
            out.append(m)
            progress(f"[{i}/{len(plan)}] {_line(m)}")
    finally:
        os.environ.pop("COMPARE_LOCKS", None)
        shutil.rmtree(run_dir, ignore_errors=True)
    usage_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "benchmark": "bench-migrate",
        "started_at": started,
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "wall_seconds_by_rows": {str(n): round(sum(m.seconds for m in out if m.rows == n), 1) for n in sizes},
        "rows": sizes,
        "backends": backends,
        "frameworks": frameworks,
        "cases": [c.name for c in cases],
        "titles": {c.name: c.title for c in cases if c.title},
        "targets": TARGETS,
        "peak_memory_mb": {
            "bench_process": round(usage_self / 1024, 1),
            "largest_tool_process": max(
                (d.peak_memory_mb for m in out for d in (m.upgrade, m.rollback) if d and d.peak_memory_mb),
                default=None,
            ),
        },
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            "cpus": os.cpu_count(),
            **{k: v for b in made.values() for k, v in b.versions().items()},
            **warm.environment(),
        },
        "measurements": [asdict(m) | {"ratio": m.ratio, "ratio_typed": m.ratio_typed} for m in out],
    }


def _line(m: Measurement) -> str:
    head = f"{m.case} {m.framework} {m.backend} N={m.rows:,}:"
    if m.error and not m.upgrade:
        return f"{head} {m.error}"
    parts = []
    for name, d in (("upgrade", m.upgrade), ("rollback", m.rollback), ("raw", m.raw_up)):
        if d:
            parts.append(
                f"{name} {d.wall_seconds:.2f} s (DDL {d.ddl_seconds:.2f} s, {d.how})" if d.ok else f"{name} failed"
            )
    ratio = f", x{m.ratio} of raw + start-up (x{m.ratio_typed} with a fresh interpreter's)" if m.ratio else ""
    note = f" [{m.error}]" if m.error else f" [{m.expected[:100]}]" if m.expected else ""
    return f"{head} {'; '.join(parts)}{ratio}{note}"


def write(result: dict, out: Path) -> list[Path]:
    """reports/bench-migrate.json, .md and .html (each written whole, then moved into place)."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "bench-migrate.json": json.dumps(result, indent=1) + "\n",
        "bench-migrate.md": markdown(result),
        "bench-migrate.html": html(result),
    }
    paths = []
    for name, text in files.items():
        path = out / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        paths.append(path)
    return paths


class Parser(argparse.ArgumentParser):
    """Usage errors are one line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parse_sizes(text: str) -> list[int]:
    """'10000,100000,1e6' or '1_000_000' -> sorted positive integers."""
    try:
        sizes = sorted({int(float(s.replace("_", ""))) for s in text.split(",") if s.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of row counts: {text!r}") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError(f"row counts must be positive: {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    cases = load_cases()
    names = [c.name for c in cases]
    p = Parser(
        prog="python -m compare.bench_migrate",
        description="Migrations at scale: each framework's real upgrade and rollback on N bulk-loaded posts, "
        "against the same change as raw SQL; wall, CPU, DDL time, rewrites, file size, peak memory, and on "
        "PostgreSQL the locks held. Writes reports/bench-migrate.{json,md,html}. A benchmark, not a test.",
    )
    p.add_argument(
        "--rows",
        type=parse_sizes,
        default=[DEFAULT_ROWS],
        metavar="N[,N...]",
        help=f"posts to load; several for a scaling chart, e.g. 10000,100000,1000000 (default: {DEFAULT_ROWS:,})",
    )
    p.add_argument(
        "--db",
        default="all",
        choices=[*RAW_BACKENDS, "all"],
        help="backend: sqlite, postgresql or all (default: all; the raw SQL is written for these two)",
    )
    p.add_argument(
        "--scenario",
        action="append",
        metavar="NAME[:VARIANT]",
        help=f"a case (repeatable; default: all of them): {', '.join(names)}",
    )
    p.add_argument("--framework", action="append", choices=list(ADAPTERS), help="repeatable (default: all three)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per tool call (default: 1800)")
    p.add_argument("--out", type=Path, default=REPO / "reports", help="directory for the reports (default: reports/)")
    p.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="measure nothing: write the reports again from a bench-migrate.json (after a template change)",
    )
    args = p.parse_args(argv)
    if args.render:
        try:
            result = json.loads(args.render.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            p.error(f"--render: cannot read {args.render}: {exc}")
        for path in write(result, args.out):
            print(f"wrote {path}")
        return 0
    chosen = cases
    if args.scenario:
        chosen = [c for c in cases if any(c.name == s or c.scenario == s for s in args.scenario)]
        unknown = [s for s in args.scenario if not any(c.name == s or c.scenario == s for c in cases)]
        if unknown:
            p.error(f"unknown case {unknown[0]!r} (choose from {', '.join(names)})")
    backends = list(RAW_BACKENDS) if args.db == "all" else [args.db]
    result = run(chosen, args.framework or list(ADAPTERS), backends, args.rows, args.timeout)
    for path in write(result, args.out):
        print(f"wrote {path}")
    print(
        f"{len(result['measurements'])} measurements in {result['wall_seconds']:.0f} s; peak memory: bench "
        f"{result['peak_memory_mb']['bench_process']:.0f} MB, largest tool process "
        f"{result['peak_memory_mb']['largest_tool_process'] or 0:.0f} MB"
    )
    failed = [m for m in result["measurements"] if m["error"]]
    for m in failed:
        print(f"not measured to the end: {m['case']} {m['framework']} {m['backend']}: {m['error']}", file=sys.stderr)
    return 1 if failed else 0


# --- the reports ------------------------------------------------------------------------------------------------------

COLORS = {"django": "#0c4b33", "flask": "#1f77b4", "fastapi": "#d62728", "raw": "#777777"}


def _size(n: int | None) -> str:
    if n is None:
        return ""
    return f"{n / 1e6:.1f} MB"


def table_rows(result: dict) -> list[dict]:
    """One row per measurement, as both reports show it."""
    rows = []
    titles = result.get("titles", {})
    for m in result["measurements"]:
        up, down, raw_up = m["upgrade"], m["rollback"], m["raw_up"]

        def cell(d: dict | None) -> str:
            if not d:
                return ""
            if not d["ok"]:
                return f"fails: {d['error'] or ''}"[:120]
            return f"{d['wall_seconds']:.2f} s"

        def locks(d: dict | None) -> str:
            if not d or not d["locks"]:
                return ""
            strongest = [h for h in d["locks"] if h["relation"] in APP_TABLES]
            parts = [f"{h['mode']} on {h['relation']} {h['seconds']:.3f} s" for h in strongest[:2]]
            waits = []
            if d["blocks_writer_seconds"]:
                waits.append(f"writers wait {d['blocks_writer_seconds']:.3f} s")
            if d["blocks_reader_seconds"]:
                waits.append(f"readers wait {d['blocks_reader_seconds']:.3f} s")
            return "; ".join(parts) + (f" ({', '.join(waits)})" if waits else " (nobody waits)")

        rows.append(
            {
                "case": m["case"],
                "framework": m["framework"],
                "backend": m["backend"],
                "rows": f"{m['rows']:,}",
                "upgrade": cell(up),
                "upgrade_cpu": f"{up['cpu_seconds']:.2f} s" if up and up["cpu_seconds"] is not None else "",
                "upgrade_ddl": f"{up['ddl_seconds']:.3f} s" if up else "",
                "upgrade_how": up["how"] if up else "",
                "slowest": (up or {}).get("slowest", ""),
                "rollback": cell(down),
                "rollback_ddl": f"{down['ddl_seconds']:.3f} s" if down else "",
                "rollback_how": down["how"] if down else "",
                "startup": f"{m['startup_seconds']:.2f} s" if m["startup_seconds"] else "",
                "startup_plain": f"{m['plain_startup_seconds']:.2f} s" if m.get("plain_startup_seconds") else "",
                "raw_up": cell(raw_up),
                "raw_down": cell(m["raw_down"]),
                "ratio": f"x{m['ratio']:.2f}" if m["ratio"] is not None else "",
                "within_target": _within(m["ratio"]),
                "ratio_typed": f"x{m['ratio_typed']:.2f}" if m.get("ratio_typed") is not None else "",
                "typed_within_target": _within(m.get("ratio_typed")),
                "file": (
                    f"{_size(up['file_bytes_before'])} -> {_size(up['file_bytes_after'])}"
                    if up and up["file_bytes_before"]
                    else ""
                ),
                "memory": f"{up['peak_memory_mb']:.0f} MB" if up and up["peak_memory_mb"] else "",
                "locks_up": locks(up),
                "locks_down": locks(down),
                "kept": "; ".join(v for v in (up and up["values"], down and down["values"]) if v),
                "old_rows": ", ".join(f"{c}: {v}" for c, v in m["old_rows"].items()),
                "drift": m.get("drift_check") or "",
                "error": m["error"] or "",
                "expected": m.get("expected") or "",
                "title": titles.get(m["case"], ""),
            }
        )
    return rows


def _by_key(result: dict) -> dict[tuple[str, str, str, int], dict]:
    return {(m["case"], m["framework"], m["backend"], m["rows"]): m for m in result["measurements"]}


def highlights(result: dict) -> list[dict]:
    """At the largest N, per case: each framework's upgrade and rollback on each backend, in one line each."""
    n = max(result["rows"])
    by = _by_key(result)
    out = []
    for case in result["cases"]:
        cells = []
        for backend in result["backends"]:
            for fw in result["frameworks"]:
                m = by.get((case, fw, backend, n))
                if m is None:
                    continue
                up, down = m["upgrade"], m["rollback"]
                text = "not measured" if not up else _brief(up)
                if down:
                    text += f"; rollback {_brief(down)}"
                if m["ratio"] is not None:
                    text += f"; x{m['ratio']:.2f} of raw + start-up"
                if m.get("ratio_typed") is not None:
                    text += f" (x{m['ratio_typed']:.2f} with a fresh interpreter's)"
                cells.append({"framework": fw, "backend": backend, "text": text, "over": _over(m)})
        if cells:
            out.append(
                {"case": case, "title": result.get("titles", {}).get(case, ""), "rows": f"{n:,}", "cells": cells}
            )
    return out


def _brief(d: dict) -> str:
    if not d["ok"]:
        return "fails"
    how = {"rebuilt (copy and swap)": "rebuilds", "rewritten (new relfilenode)": "rewrites"}.get(d["how"], "in place")
    return f"{d['wall_seconds']:.2f} s ({how}, DDL {d['ddl_seconds']:.2f} s)"


def _within(ratio: float | None) -> bool:
    return ratio is not None and ratio <= TARGETS["tool_over_raw_plus_startup"]


def _over(m: dict) -> bool:
    return m["ratio"] is not None and not _within(m["ratio"])


def target_check(result: dict) -> list[dict]:
    """Issue 11's first target at the largest N: for add_read_count, does each framework have a shipped (safe) or
    shown (native) migration within 2x of raw DDL plus the CLI's start-up, on each backend? Judged twice: with the
    start-up of the bench's tool processes (warm: the imports pre-paid) and with a fresh interpreter's, the one a
    user's shell pays."""
    n = max(result["rows"])
    by = _by_key(result)
    out = []
    for backend in result["backends"]:
        for fw in result["frameworks"]:
            tried = [
                (case, m["ratio"], m.get("ratio_typed"))
                for case in ("add_read_count:safe", "add_read_count:safe:native")
                if (m := by.get((case, fw, backend, n))) and m["ratio"] is not None
            ]
            if not tried:
                continue
            warm_best, typed_best = _best(tried, 1), _best(tried, 2)
            out.append(
                {
                    "framework": fw,
                    "backend": backend,
                    "rows": f"{n:,}",
                    "tried": ", ".join(
                        f"{c.removeprefix('add_read_count:')} x{r:.2f}" + (f" (x{t:.2f})" if t is not None else "")
                        for c, r, t in tried
                    ),
                    "best": warm_best[0],
                    "met": _within(warm_best[1]),
                    # where the best case spent its time, when it misses: the statement it spent most time in
                    "slowest": ""
                    if _within(warm_best[1])
                    else by[(f"add_read_count:{warm_best[0]}", fw, backend, n)]["upgrade"].get("slowest", ""),
                    "typed_best": typed_best[0] if typed_best else "",
                    "typed_met": typed_best is not None and _within(typed_best[1]),
                }
            )
    return out


def _best(tried: list[tuple], i: int) -> tuple[str, float] | None:
    """The case with the lowest ratio in column i of (case, ratio, ratio with a fresh start-up) rows."""
    found = [(t[0].removeprefix("add_read_count:"), t[i]) for t in tried if t[i] is not None]
    return min(found, key=lambda t: t[1]) if found else None


def lock_proof(result: dict) -> list[dict]:
    """The raw DDL on PostgreSQL, probed for real by a reader and a writer, next to what pg_locks predicted."""
    out = []
    for m in result["measurements"]:
        if m["backend"] != "postgresql" or m["framework"] != result["frameworks"][0]:
            continue
        for direction in ("raw_up", "raw_down"):
            d = m[direction]
            if not d or not d["probe"]:
                continue
            app = [h for h in d["locks"] if h["relation"] in APP_TABLES]
            out.append(
                {
                    "case": m["case"],
                    "rows": f"{m['rows']:,}",
                    "sql": d["command"],
                    "locks": ", ".join(f"{h['mode']} on {h['relation']}" for h in app) or "none after the statement",
                    "predicted_reader": "blocked" if any(h["blocks_reader"] for h in app) else "not blocked",
                    "predicted_writer": "blocked" if any(h["blocks_writer"] for h in app) else "not blocked",
                    "reader": d["probe"]["reader"],
                    "writer": d["probe"]["writer"],
                }
            )
    return out


def charts(result: dict, width: int = 460, height: int = 240) -> list[dict]:
    """Per case and backend, the upgrade's time in its DDL statements against N, on log-log axes (with two or more
    N): one line per framework, and the raw DDL. A flat line is O(1) in the rows; one decade per decade is O(N)."""
    if len(result["rows"]) < 2:
        return []
    import math

    out = []
    pad_l, pad_r, pad_t, pad_b = 52, 90, 14, 34
    for case in result["cases"]:
        for backend in result["backends"]:
            ms = [m for m in result["measurements"] if m["case"] == case and m["backend"] == backend]
            series: dict[str, list[tuple[int, float]]] = {}
            for m in ms:
                if m["upgrade"] and m["upgrade"]["ok"]:
                    series.setdefault(m["framework"], []).append((m["rows"], max(m["upgrade"]["ddl_seconds"], 1e-4)))
                if m["raw_up"] and m["raw_up"]["ok"] and m["framework"] == result["frameworks"][0]:
                    series.setdefault("raw", []).append((m["rows"], max(m["raw_up"]["ddl_seconds"], 1e-4)))
            values = [v for pts in series.values() for _, v in pts]
            if not values:
                continue
            xs = [math.log10(n) for n in result["rows"]]
            y_lo, y_hi = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
            y_hi = max(y_hi, y_lo + 1)

            def px(n, xs=xs):
                span = (xs[-1] - xs[0]) or 1
                return pad_l + (math.log10(n) - xs[0]) / span * (width - pad_l - pad_r)

            def py(v, lo=y_lo, hi=y_hi):
                return pad_t + (hi - math.log10(v)) / (hi - lo) * (height - pad_t - pad_b)

            lines = []
            for name, pts in series.items():
                pts = sorted(pts)
                coords = [(round(px(n), 1), round(py(v), 1), n, v) for n, v in pts]
                lines.append(
                    {
                        "name": name,
                        "color": COLORS.get(name, "#333"),
                        "points": coords,
                        "path": " ".join(f"{x},{y}" for x, y, _, _ in coords),
                        "label_y": coords[-1][1],
                    }
                )
            _spread_labels(lines)
            out.append(
                {
                    "case": case,
                    "backend": backend,
                    "width": width,
                    "height": height,
                    "lines": lines,
                    "xticks": [(round(px(n), 1), f"{n:,}") for n in result["rows"]],
                    "yticks": [(round(py(10.0**e), 1), _seconds_label(10.0**e)) for e in range(y_lo, y_hi + 1)],
                    "plot": (pad_l, pad_t, width - pad_r, height - pad_b),
                }
            )
    return out


def _spread_labels(lines: list[dict], gap: float = 11.0) -> None:
    """Move the line labels at the right edge apart so they do not overlap."""
    placed: list[float] = []
    for line in sorted(lines, key=lambda x: x["label_y"]):
        y = line["label_y"]
        if placed and y - placed[-1] < gap:
            y = placed[-1] + gap
        line["label_y"] = y
        placed.append(y)


def _seconds_label(s: float) -> str:
    return f"{s * 1000:g} ms" if s < 1 else f"{s:g} s"


def _render(name: str, result: dict, autoescape: bool) -> str:
    from compare.render import base

    env = base.environment(autoescape=autoescape)
    env.filters["rowcount"] = lambda n: f"{n:,}"
    return env.get_template(name).render(
        result=result,
        rows=table_rows(result),
        proof=lock_proof(result),
        charts=charts(result),
        highlights=highlights(result),
        targets=target_check(result),
    )


def markdown(result: dict) -> str:
    """reports/bench-migrate.md."""
    return _render("bench-migrate.md.j2", result, autoescape=False)


def html(result: dict) -> str:
    """reports/bench-migrate.html: one self-contained page, the scaling charts inline SVG."""
    return _render("bench-migrate.html.j2", result, autoescape=True)


def index_summary(path: Path) -> dict | None:
    """For the catalog's front page, when a bench-migrate.json is beside it: at its largest N, one row per case and
    one cell per framework x backend (the upgrade's wall time, rebuilt or rewritten, the ratio to raw + start-up).
    None when there is no such file, or it cannot be read."""
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
        n = max(result["rows"])
    except (OSError, ValueError, KeyError):
        return None
    by = _by_key(result)
    columns = [(fw, b) for b in result["backends"] for fw in result["frameworks"]]
    rows = []
    for case in result["cases"]:
        cells = []
        for fw, b in columns:
            m = by.get((case, fw, b, n))
            up = m and m["upgrade"]
            if not up:
                cells.append({"text": "", "over": False})
                continue
            text = _brief(up).replace(f", DDL {up['ddl_seconds']:.2f} s", "") if up["ok"] else "fails"
            cells.append({"text": text + (f" x{m['ratio']:.1f}" if m["ratio"] is not None else ""), "over": _over(m)})
        if any(c["text"] for c in cells):
            rows.append({"case": case, "cells": cells})
    return {
        "rows": f"{n:,}",
        "started_at": result["started_at"],
        "wall_seconds": result["wall_seconds"],
        "columns": columns,
        "cases": rows,
        "targets": target_check(result),
        "tool_processes": result.get("machine", {}).get("Tool processes", ""),
    }


if __name__ == "__main__":
    sys.exit(main())
