"""Read a live database into the neutral model: schema snapshot, data snapshot, executed SQL."""

from __future__ import annotations

import datetime as dt
import json
import pickle
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa

from compare import databases
from compare.model import Column, Data, DataChange, ForeignKey, Schema, Statement, Table

_TYPES = {
    "INTEGER": "integer",
    "INT": "integer",
    "SERIAL": "integer",
    "BIGINT": "bigint",
    "BIGSERIAL": "bigint",
    "SMALLINT": "smallint",
    "TEXT": "text",
    "DATETIME": "timestamp",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITHOUT TIME ZONE": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "BOOLEAN": "boolean",
    "BOOL": "boolean",
}


def normalize_type(type_: sa.types.TypeEngine | str, database: type[databases.Database] = databases.Database) -> str:
    """One spelling per type across dialects: VARCHAR(50) -> varchar(50), DATETIME -> timestamp; a PostgreSQL
    enum by its type's name: enum post_status."""
    if isinstance(type_, sa.Enum) and type_.name:
        return f"enum {type_.name}"
    if isinstance(type_, sa.DateTime) and not isinstance(type_, sa.types.NullType):
        raw = "TIMESTAMP WITH TIME ZONE" if type_.timezone else "TIMESTAMP"
        if getattr(type_, "fsp", None):  # MySQL and MariaDB: DATETIME(6) keeps microseconds, DATETIME whole seconds
            return f"{raw.lower()}({type_.fsp})"
    else:
        raw = database.type_name(type_) if not isinstance(type_, str) else type_.upper()
    raw = raw.strip()
    if m := re.fullmatch(r"(?:CHARACTER VARYING|VARCHAR|NVARCHAR)\s*(?:\((\d+)\))?", raw):
        return f"varchar({m[1]})" if m[1] else "varchar"
    return _TYPES.get(raw, raw.lower())


def normalize_default(default: str | None) -> str | None:
    """A server default as a literal: '0', (0) and '0'::integer all become 0."""
    if default is None:
        return None
    value = default.strip()
    while value.startswith("(") and value.endswith(")"):
        value = value[1:-1].strip()
    value = re.sub(r"::[\w ]+$", "", value)
    if m := re.fullmatch(r"'(.*)'", value):
        value = m[1]
    return value


# reflected tables by their database's table_keys: the catalog's stories pass through the same few tables again and
# again (a step changes one table and leaves the others as they were), and reflecting one costs a millisecond of the
# harness's CPU (shared by every story's thread)
_REFLECTED: dict[tuple, bytes] = {}  # pickled: loading a copy is 7x faster than copy.deepcopy


def schema_snapshot(engine: sa.Engine, bookkeeping: Iterable[str], version_sql: str) -> Schema:
    """Tables, columns, keys, unique sets and indexes of the live database, bookkeeping tables apart."""
    with engine.connect() as conn:
        return _schema(conn, set(bookkeeping), version_sql)


def _schema(conn: sa.Connection, bookkeeping: set[str], version_sql: str) -> Schema:
    inspector = sa.inspect(conn)
    database = databases.for_dialect(conn.dialect.name)
    tables = _reflect(conn, inspector, database)
    version: list[str] = []
    if any(t.name in bookkeeping for t in tables):
        version = [str(row[0]) for row in rows(conn, version_sql)[1]]
    enums, storage = database.enums(conn, inspector), database.storage(conn)
    return Schema(
        tables=[t for t in tables if t.name not in bookkeeping],
        bookkeeping=[t for t in tables if t.name in bookkeeping],
        version=version,
        enums=sorted(enums),
        storage={t.name: storage[t.name] for t in tables if t.name in storage and t.name not in bookkeeping},
    )


def _reflect(conn: sa.Connection, inspector: sa.Inspector, database: type[databases.Database]) -> list[Table]:
    keys = database.table_keys(conn)
    if keys is None:
        return [_table(conn, inspector, name) for name in sorted(inspector.get_table_names())]
    tables = []
    for name in sorted(keys):
        key = (database.name, keys[name])
        found = _REFLECTED.get(key)
        if found is None:
            tables.append(_table(conn, inspector, name))
            _REFLECTED[key] = pickle.dumps(tables[-1])
        else:
            tables.append(pickle.loads(found))  # a step's snapshot is its own copy
    return tables


def _table(conn: sa.Connection, inspector: sa.Inspector, name: str) -> Table:
    pk = set(inspector.get_pk_constraint(name).get("constrained_columns") or [])
    database = databases.for_dialect(conn.dialect.name)
    columns = []
    for c in inspector.get_columns(name):
        auto = database.autoincrement(conn, name, c, pk)
        default = None if auto == "serial" else c.get("default")  # a serial's default is its sequence
        columns.append(
            Column(
                name=c["name"],
                type=normalize_type(c["type"], database),
                nullable=bool(c["nullable"]) and c["name"] not in pk,
                default=normalize_default(default),
                primary_key=c["name"] in pk,
                autoincrement=auto,
            )
        )
    fks = [
        ForeignKey(fk["constrained_columns"], fk["referred_table"], fk["referred_columns"], fk.get("name"))
        for fk in inspector.get_foreign_keys(name)
    ]
    unique, indexes = database.unique_and_indexes(conn, inspector, name)
    unique = [list(u) for u in sorted({tuple(u) for u in unique})]
    indexes = sorted(indexes, key=lambda i: i.columns)
    return Table(name=name, columns=columns, foreign_keys=fks, unique=unique, indexes=indexes)


# each database's last look: its state_key, and the pickled schema and data snapshots it gave
_LAST_LOOK: dict[str, tuple[bytes, bytes]] = {}


def snapshots(engine: sa.Engine, bookkeeping: Iterable[str], version_sql: str) -> tuple[Schema, Data]:
    """schema_snapshot and data_snapshot of the live database (the data of its tables, bookkeeping apart).

    When the database's state_key is the one of the last look at it (a step that did not write: a generate, a drift
    check), the result is a copy of that look's: half of a catalog run's steps leave the database as it was.
    """
    database = databases.for_dialect(engine.dialect.name)
    url = engine.url.render_as_string(hide_password=False)
    key = database.state_key(engine.url)
    last = _LAST_LOOK.get(url)
    if key is not None and last is not None and last[0] == key:
        return pickle.loads(last[1])
    with engine.connect() as conn:  # one connection for both
        schema = _schema(conn, set(bookkeeping), version_sql)
        data = _data(conn, [t.name for t in schema.tables])
    key = database.state_key(engine.url)  # after the look: its connection's close may checkpoint SQLite's log
    if key is None:
        _LAST_LOOK.pop(url, None)
    else:
        _LAST_LOOK[url] = key, pickle.dumps((schema, data))
    return schema, data


def forget(engine: sa.Engine) -> None:
    """Drop the last look at this database (it is about to be dropped)."""
    _LAST_LOOK.pop(engine.url.render_as_string(hide_password=False), None)


def _quote(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)


def data_snapshot(engine: sa.Engine, tables: Iterable[str]) -> Data:
    """Row counts and every row (raw values as the database returns them) of the given tables."""
    with engine.connect() as conn:
        existing = set(sa.inspect(conn).get_table_names())
        return _data(conn, [name for name in tables if name in existing])


def _data(conn: sa.Connection, tables: list[str]) -> Data:
    counts, found = {}, {}
    for name in tables:
        columns, values = rows(conn, f"SELECT * FROM {_quote(conn, name)} ORDER BY 1")
        found[name] = [dict(zip(columns, map(_plain, row), strict=True)) for row in values]
        counts[name] = len(found[name])
    return Data(counts=counts, rows=found)


def rows(conn: sa.Connection, sql: str) -> tuple[list[str], list[tuple]]:
    """The column names and the rows of a query without parameters, as the driver returns them (through its own
    cursor: SQLAlchemy's result objects cost more than the query itself, and a look makes several)."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
        return [d[0] for d in cursor.description], cursor.fetchall()
    finally:
        cursor.close()


LOSSES = ("rows lost", "values lost", "values changed")  # the data changes that destroy something that was there


def data_changes(before: Data, after: Data) -> list[DataChange]:
    """What happened to the rows and values between two data snapshots (rows matched by id, else by position)."""
    out: list[DataChange] = []
    for table in dict.fromkeys([*before.rows, *after.rows]):
        old, new = before.rows.get(table), after.rows.get(table)
        if old is None or new is None:
            rows = new if old is None else old
            if rows:
                what = ("rows added", "a new table") if old is None else ("rows lost", "the table was dropped")
                out.append(DataChange(table, None, what[0], len(rows), what[1]))
            continue
        old_by, new_by = _by_key(old), _by_key(new)
        common = [k for k in old_by if k in new_by]
        for change, keys in (
            ("rows lost", old_by.keys() - new_by.keys()),
            ("rows added", new_by.keys() - old_by.keys()),
        ):
            if keys:
                out.append(DataChange(table, None, change, len(keys)))
        old_cols = list(old[0]) if old else []
        new_cols = list(new[0]) if new else []
        fresh = [c for c in new_cols if c not in old_cols]
        moved_to: set[str] = set()
        for c in old_cols:
            if c in new_cols:
                differ = [k for k in common if old_by[k][c] != new_by[k][c]]
                filled = [k for k in differ if old_by[k][c] is None]
                changed = [k for k in differ if old_by[k][c] is not None]
                for change, keys in (("filled", filled), ("values changed", changed)):
                    if keys:
                        out.append(DataChange(table, c, change, len(keys), _values(new_by[k][c] for k in keys)))
                continue
            target = next((d for d in fresh if common and all(new_by[k][d] == old_by[k][c] for k in common)), None)
            values = [r[c] for r in old if r[c] is not None]
            if target and values:
                moved_to.add(target)
                out.append(DataChange(table, c, "moved", len(values), f"to {target}"))
            elif values:
                out.append(DataChange(table, c, "values lost", len(values), _values(values)))
            else:
                out.append(DataChange(table, c, "dropped", 0, "it held only NULLs"))
        for d in fresh:
            if d not in moved_to:
                out.append(DataChange(table, d, "added", len(new), _values(r[d] for r in new)))
    return out


def losses(before: Data, after: Data) -> list[DataChange]:
    """The changes between two snapshots that destroyed something that was there (rows, values)."""
    return [c for c in data_changes(before, after) if c.change in LOSSES]


def _by_key(rows: list[dict]) -> dict:
    return {(r["id"] if "id" in r else i): r for i, r in enumerate(rows)}


def _values(values: Iterable) -> str:
    """A short tally of values: NULL x4, or 0 x2, 3 x1..."""
    counts = Counter("NULL" if v is None else _short(v) for v in values)
    parts = [f"{v} x{n}" for v, n in counts.most_common(4)]
    return ", ".join(parts) + (f", {len(counts) - 4} more" if len(counts) > 4 else "")


def _short(value) -> str:
    text = str(value)
    if not text.strip():  # an empty or blank string would not show: quote it
        return repr(text)
    return text if len(text) <= 24 else text[:21] + "..."


def _plain(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


_KINDS = {
    "CREATE": "ddl",
    "ALTER": "ddl",
    "DROP": "ddl",
    "INSERT": "dml",
    "UPDATE": "dml",
    "DELETE": "dml",
    "BEGIN": "tx",
    "COMMIT": "tx",
    "ROLLBACK": "tx",
    "SAVEPOINT": "tx",
    "RELEASE": "tx",
    "END": "tx",
}


_RANK = ("ddl", "dml", "tx", "pragma", "query")


def classify(sql: str) -> str:
    """ddl, dml, tx, pragma (a PRAGMA that sets something) or query; for several statements sent as one
    (Django's `SET CONSTRAINTS ... IMMEDIATE; ALTER TABLE ...`), the kind of the one that changes most."""
    several = ";" in sql.rstrip().rstrip(";") and "'" not in sql  # never split inside a string literal
    parts = [p for p in sql.split(";") if p.strip()] if several else [sql]
    return min((_classify_one(p) for p in parts), key=_RANK.index, default="query")


def _classify_one(sql: str) -> str:
    words = sql.lstrip("( \n\t").split(None, 1)
    first = words[0].upper().rstrip(";") if words else ""
    if first == "PRAGMA":
        return "pragma" if "=" in sql else "query"
    return _KINDS.get(first, "query")


def read_sql_log(path: Path) -> list[Statement]:
    """The statements a tool call executed, as the sqltrace hook recorded them."""
    if not path.exists():
        return []
    statements = []
    for line in path.read_text(encoding="utf-8").splitlines():
        sql = json.loads(line).strip() if line else ""
        if sql:
            statements.append(Statement(sql=sql, kind=classify(sql)))
    return statements
