"""Loaded by the SQL tracer (sitecustomize) when COMPARE_LOCKS is set: when each statement ran, and the locks it left.

For `python -m compare.bench_migrate`. Next to the tracer's own log ($COMPARE_SQL_LOG), this writes
$COMPARE_SQL_LOG.locks, one JSON object a line:

- `{"e": "stmt", "t0": start, "t1": end, "sql": ..., "pid": ..., "locks": [[relation, mode], ...]}` for every
  statement a psycopg cursor executes (PostgreSQL), timed around the driver call; `locks` (DDL and DML run inside a
  transaction only) are the relation locks this backend holds right after the statement, read from `pg_locks` on
  the migrating connection itself (`pid = pg_backend_pid()`), so they are the locks kept until the commit;
- `{"e": "tx", "t0": ..., "t1": ..., "sql": "COMMIT", "pid": ...}` for the transaction control psycopg sends;
- `{"e": "stmt", "t0": start, "sql": ...}` for every SQLite statement, stamped by the trace callback as it starts
  (SQLite reports no end: a statement lasts until the next one starts, or the process ends);
- `{"e": "end", "t1": ..., "maxrss_kb": ...}` as the process exits: its peak resident memory (getrusage).

Times are time.monotonic() seconds, one clock for every process of the machine. The lock query runs on its own
cursor through psycopg's unwrapped execute, so the tracer never sees it and the tool's results are untouched.
"""

import atexit
import json
import os
import re
import resource
import threading
import time

_DDL_OR_DML = re.compile(r"(?:^|;)\s*(CREATE|ALTER|DROP|INSERT|UPDATE|DELETE|TRUNCATE|COMMENT)\b", re.I)
LOCKS_SQL = (
    "SELECT coalesce(c.relname, l.relation::text), l.mode FROM pg_locks l "
    "LEFT JOIN pg_class c ON c.oid = l.relation LEFT JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted "
    "AND coalesce(n.nspname, '') NOT IN ('pg_catalog', 'information_schema') "
    "AND coalesce(n.nspname, '') NOT LIKE 'pg_toast%' ORDER BY 1, 2"
)
_lines = []
_lock = threading.Lock()
_path = None


def _write(event):
    with _lock:
        _lines.append(json.dumps(event))


def _flush():
    with _lock:
        if _lines:
            with open(_path, "a", encoding="utf-8") as log:
                log.write("\n".join(_lines) + "\n")
            _lines.clear()


def _end():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _write({"e": "end", "t1": time.monotonic(), "maxrss_kb": usage.ru_maxrss})
    _flush()


def install(tracer):
    """Time every statement and read the locks left after each write, in this process; `tracer` is sitecustomize.

    Called by the tracer's `_install()` before it patches psycopg, so these wrappers sit inside its own: the
    timings are the driver's, and the lock query is never traced.
    """
    global _path
    _path = os.environ["COMPARE_SQL_LOG"] + ".locks"
    atexit.register(_end)
    os._exit = _exiting(os._exit)
    os.register_at_fork(after_in_child=_lines.clear)
    _install_sqlite(tracer)
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        _install_psycopg()


def _exiting(original):
    def _exit(*args, **kwargs):
        _end()
        return original(*args, **kwargs)

    return _exit


def _install_sqlite(tracer):
    import sqlite3
    import sqlite3.dbapi2

    traced = sqlite3.dbapi2.connect

    def stamp_and_trace(sql):
        _write({"e": "stmt", "t0": time.monotonic(), "sql": sql[:300]})
        tracer._record(sql)

    def connect(*args, **kwargs):
        connection = traced(*args, **kwargs)
        connection.set_trace_callback(stamp_and_trace)
        return connection

    sqlite3.connect = sqlite3.dbapi2.connect = connect


def _install_psycopg():
    import psycopg
    from psycopg._connection_base import BaseConnection
    from psycopg.pq import TransactionStatus
    from psycopg.rows import tuple_row

    original_execute = psycopg.Cursor.execute

    def locks_held(connection):
        cursor = psycopg.Cursor(connection, row_factory=tuple_row)
        try:
            original_execute(cursor, LOCKS_SQL)
            return [list(row) for row in cursor.fetchall()]
        except psycopg.Error:
            return None
        finally:
            cursor.close()

    def execute(self, query, params=None, **kwargs):
        t0 = time.monotonic()
        try:
            return original_execute(self, query, params, **kwargs)
        finally:
            t1 = time.monotonic()
            text = query.as_string(self.connection) if hasattr(query, "as_string") else query
            text = text.decode() if isinstance(text, bytes) else str(text)
            event = {"e": "stmt", "t0": t0, "t1": t1, "sql": text[:300], "pid": self.connection.info.backend_pid}
            status = self.connection.info.transaction_status
            if _DDL_OR_DML.search(text) and status == TransactionStatus.INTRANS:
                event["locks"] = locks_held(self.connection)
            _write(event)

    psycopg.Cursor.execute = execute

    original_command = BaseConnection._exec_command

    def exec_command(self, command, *args, **kwargs):
        text = command.as_string(self) if hasattr(command, "as_string") else command
        text = text.decode() if isinstance(text, bytes) else str(text)
        gen = original_command(self, command, *args, **kwargs)
        return gen if gen is None else _timed(gen, text, self.info.backend_pid)

    BaseConnection._exec_command = exec_command


def _timed(gen, text, pid):
    t0 = time.monotonic()
    result = yield from gen
    _write({"e": "tx", "t0": t0, "t1": time.monotonic(), "sql": text[:100], "pid": pid})
    return result
