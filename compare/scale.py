"""The database at scale: a set-based bulk load, a snapshot that does not copy the rows, and the locks a step held.

The catalog's data snapshot (compare.snapshot.data_snapshot) keeps every row, which is right for its four posts.
At a million rows the report must not hold them: `scale_snapshot` keeps, per table, the row count and, per column,
the non-NULL count, the smallest and largest value and an order-independent checksum computed in SQL (the sum of a
hash of each value's text), plus a small sample of rows. Two snapshots with the same counts and checksums hold the
same values, in any physical order.

`statement_times` and `held_locks` read what compare/sqltrace/locks.py recorded inside the tool's process.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from compare.snapshot import _plain, _quote, classify

SAMPLE = 3  # rows kept per table, the lowest ids

# A reader (SELECT: AccessShareLock) and a writer (INSERT/UPDATE/DELETE: RowExclusiveLock) wait for these modes:
# the conflict table of PostgreSQL's documentation, "Explicit Locking", table-level lock modes.
BLOCKS_READER = {"AccessExclusiveLock"}
BLOCKS_WRITER = {"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}


def bulk_load(engine: sa.Engine, n: int) -> None:
    """N posts (ids 1..N, unique titles, three categories) in one set-based INSERT per table, then ANALYZE.

    PostgreSQL: generate_series, without the per-row foreign-key triggers (session_replication_role = replica:
    every category_id is one of the three categories); SQLite: a recursive CTE. Only the columns every start state
    has are named: the others take their defaults. The id sequence (PostgreSQL) is moved past N, as a real table's
    would be. Then ANALYZE (and VACUUM, on PostgreSQL).
    """
    postgres = engine.dialect.name == "postgresql"
    series = (
        "generate_series(1, :n) AS s(i)"
        if postgres
        else "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) SELECT i FROM s) AS s"
    )
    created = (
        "timestamp '2026-01-01' + i * interval '1 second'"
        if postgres
        else "datetime('2026-01-01', '+' || i || ' seconds')"
    )
    with engine.begin() as conn:
        if postgres:  # the rows are valid by construction: skip the per-row foreign-key triggers, and the flush
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
        conn.execute(
            sa.text(
                "INSERT INTO categories (id, name, description) VALUES (1, 'Databases', 'Schemas, indexes and SQL'), "
                "(2, 'Migrations', 'Changing a live schema'), (3, 'Testing', NULL)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO posts (id, title, content, category_id, created_at) "
                f"SELECT i, 'Post ' || i || ': a title of a realistic length', "
                f"'The body of post ' || i || ', long enough to look like a paragraph of text.', "
                f"1 + i % 3, {created} FROM {series}"
            ),
            {"n": n},
        )
        if postgres:
            for table, last in (("categories", 3), ("posts", n)):
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {last})"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # PostgreSQL: VACUUM too, as a live table would have been, so that autovacuum does not start on the fresh
        # rows during the migration (measured: a DDL waited its deadlock_timeout, 1 s, to cancel it)
        conn.execute(sa.text("VACUUM ANALYZE" if postgres else "ANALYZE"))


@dataclass
class ColumnSum:
    """One column of a table at scale: how many values, their range, and an order-independent checksum."""

    non_null: int
    checksum: int
    min: object = None
    max: object = None


@dataclass
class TableSum:
    rows: int
    columns: dict[str, ColumnSum] = field(default_factory=dict)
    sample: list[dict] = field(default_factory=list)


def scale_snapshot(engine: sa.Engine, tables: list[str]) -> dict[str, TableSum]:
    """Row counts, per-column checksums and a sample of each table, computed in SQL, one scan per table."""
    out = {}
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        existing = set(inspector.get_table_names())
        if conn.dialect.name == "sqlite":
            conn.connection.driver_connection.create_function("lab_hash", 1, _crc, deterministic=True)
        for table in tables:
            if table not in existing:
                continue
            cols = [c["name"] for c in inspector.get_columns(table)]
            parts = ["count(*)"]
            for c in cols:
                q = _quote(conn, c)
                as_text = f"CAST({q} AS TEXT)"
                hashed = f"hashtext({as_text})::bigint" if conn.dialect.name == "postgresql" else f"lab_hash({as_text})"
                parts += [f"count({q})", f"coalesce(sum({hashed}), 0)", f"min({q})", f"max({q})"]
            row = conn.execute(sa.text(f"SELECT {', '.join(parts)} FROM {_quote(conn, table)}")).one()
            summary = TableSum(rows=row[0])
            for i, c in enumerate(cols):
                non_null, checksum, lo, hi = row[1 + 4 * i : 5 + 4 * i]
                summary.columns[c] = ColumnSum(int(non_null), int(checksum), _plain(lo), _plain(hi))
            sample = conn.execute(sa.text(f"SELECT * FROM {_quote(conn, table)} ORDER BY 1 LIMIT {SAMPLE}"))
            summary.sample = [{k: _plain(v) for k, v in r.items()} for r in sample.mappings()]
            out[table] = summary
    return out


def _crc(value):
    return None if value is None else zlib.crc32(value.encode())


def same_values(before: dict[str, TableSum], after: dict[str, TableSum], table: str) -> list[str]:
    """The columns of `table` present in both snapshots whose values differ (by count and checksum)."""
    old, new = before.get(table), after.get(table)
    if old is None or new is None:
        return ["(table missing)"]
    differ = [c for c in old.columns.keys() & new.columns.keys() if old.columns[c] != new.columns[c]]
    return sorted(differ) + (["(row count)"] if old.rows != new.rows else [])


# --- what the tool's process recorded (compare/sqltrace/locks.py) ------------------------------------------------


@dataclass
class Timed:
    sql: str
    kind: str
    t0: float
    t1: float
    pid: int | None = None
    locks: list[tuple[str, str]] | None = None

    @property
    def seconds(self) -> float:
        return self.t1 - self.t0


@dataclass
class CallLog:
    """One tool call's statements with their times, its transactions, and its peak memory."""

    statements: list[Timed] = field(default_factory=list)
    commits: list[Timed] = field(default_factory=list)
    maxrss_kb: int | None = None


def read_locks_log(path: Path) -> CallLog:
    """Parse a $COMPARE_SQL_LOG.locks file. SQLite statements, stamped only as they start, end as the next begins."""
    log = CallLog()
    if not path.exists():
        return log
    events = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    end = max((e["t1"] for e in events if e["e"] == "end"), default=None)
    starts = sorted(e["t0"] for e in events if e["e"] in ("stmt", "tx"))
    ends = ("COMMIT", "ROLLBACK")
    for e in events:
        if e["e"] == "end":
            log.maxrss_kb = max(log.maxrss_kb or 0, e["maxrss_kb"])
            continue
        t1 = e.get("t1")
        if t1 is None:  # SQLite: until the next statement of this process starts
            t1 = next((t for t in starts if t > e["t0"]), end or e["t0"])
        timed = Timed(e["sql"], classify(e["sql"]), e["t0"], t1, e.get("pid"), e.get("locks"))
        if e["e"] == "tx":
            if e["sql"].split()[0].upper() in ends:
                log.commits.append(timed)
        else:
            log.statements.append(timed)
    if all(t.pid is None for t in log.statements):  # SQLite: COMMIT is a traced statement
        log.commits = [t for t in log.statements if t.sql.split()[0].upper() in (*ends, "END")]
    return log


def ddl_seconds(log: CallLog) -> float:
    """Time spent in the DDL statements (and the copies of a rebuild: INSERT ... SELECT) themselves."""
    return sum(t.seconds for t in log.statements if t.kind == "ddl" or _is_copy(t.sql))


def _is_copy(sql: str) -> bool:
    head = sql.lstrip().upper()
    return head.startswith("INSERT INTO") and " SELECT " in head


@dataclass
class HeldLock:
    """A relation lock a migration held: from the start of the statement that took it to the end of the commit."""

    relation: str
    mode: str
    statement: str
    seconds: float
    blocks_reader: bool
    blocks_writer: bool


def held_locks(log: CallLog, tables: set[str]) -> list[HeldLock]:
    """Per relation and mode, the first statement after which pg_locks showed it, and how long until the commit.

    Whether it blocks a reader or a writer is asked only of the `tables` they use (those that existed before):
    a relation the migration creates is invisible to other transactions until the commit.
    """
    out: dict[tuple[str, str], HeldLock] = {}
    for t in log.statements:
        for relation, mode in t.locks or []:
            if (relation, mode) in out or relation.isdigit():
                continue
            commit = next((c for c in log.commits if c.pid == t.pid and c.t0 >= t.t1), None)
            until = commit.t1 if commit else t.t1
            out[(relation, mode)] = HeldLock(
                relation,
                mode,
                t.sql[:120],
                until - t.t0,
                relation in tables and mode in BLOCKS_READER,
                relation in tables and mode in BLOCKS_WRITER,
            )
    return sorted(out.values(), key=lambda h: (-h.seconds, h.relation, h.mode))
