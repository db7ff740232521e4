"""Loaded by every tool call the harness makes (through PYTHONPATH): records the SQL the database executes.

SQLite reports each statement it runs, with bound values expanded, through the connection's trace callback.
For psycopg (PostgreSQL), every statement sent to the server is recorded, bound values inlined, with the
transaction control psycopg sends by itself (BEGIN, COMMIT, ROLLBACK, SAVEPOINT), in the order they were sent.
For mysqlclient (MariaDB), every query the connection sends (the cursor inlines bound values itself), with COMMIT and
ROLLBACK, which it sends through the client library's calls rather than as queries.
Which driver hook runs depends on DATABASE_URL's scheme (a database module of compare/databases names its hook).
Lines go to the file named by COMPARE_SQL_LOG, one JSON string each. They are buffered and written when the
process exits (normally, on an uncaught exception, or through os._exit), or when the buffer fills; a process killed
by a signal loses what it had not written yet.
Nothing else changes: the tools run as they would for a user.

The warm tool server (compare/warm.py) imports this module without COMPARE_SQL_LOG and calls `_install()` in
each forked call, once the call's environment is in place.
"""

import atexit
import json
import os
import sys
import threading

_log_path = None
_buffer = []
_lock = threading.Lock()
_FLUSH_AT = 1000  # statements


def _record(sql):
    _buffer.append(json.dumps(sql))
    if len(_buffer) >= _FLUSH_AT:
        _flush()


def _flush():
    with _lock:
        lines = _buffer[:]  # statements another thread records meanwhile stay for the next flush
        if lines:
            with open(_log_path, "a", encoding="utf-8") as log:
                log.write("\n".join(lines) + "\n")
            del _buffer[: len(lines)]


def _exit_flushing(original):
    def _exit(*args, **kwargs):
        _flush()
        return original(*args, **kwargs)

    return _exit


def _install():
    """Trace the SQL of this process into $COMPARE_SQL_LOG."""
    global _log_path
    _log_path = os.environ["COMPARE_SQL_LOG"]
    atexit.register(_flush)
    os._exit = _exit_flushing(os._exit)
    os.register_at_fork(after_in_child=_buffer.clear)  # a forked child writes only its own statements

    import sqlite3
    import sqlite3.dbapi2

    original = sqlite3.dbapi2.connect

    def connect(*args, **kwargs):
        connection = original(*args, **kwargs)
        connection.set_trace_callback(_record)
        return connection

    sqlite3.connect = sqlite3.dbapi2.connect = connect

    if os.environ.get("COMPARE_LOCKS"):  # bench-migrate: statement times and pg_locks (compare/sqltrace/locks.py)
        import locks

        locks.install(sys.modules[__name__])
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("mysql"):
        _install_mysqlclient()
    if not url.startswith("postgres"):
        return
    import psycopg
    from psycopg._connection_base import BaseConnection

    # Statements: every execute of a client- or server-binding cursor (server-side cursors go through the
    # connection's internal commands below), with the bound values rendered as psycopg's client-side binding would.
    psycopg.Cursor.execute = _traced_execute(psycopg.Cursor.execute)
    psycopg.Cursor.executemany = _traced_executemany(psycopg.Cursor.executemany)
    # Internal commands psycopg sends by itself: the implicit BEGIN, COMMIT, ROLLBACK, savepoints of
    # conn.transaction(), DECLARE of server-side cursors. Private, but the only place they all pass through.
    BaseConnection._exec_command = _traced_command(BaseConnection._exec_command)


def _install_mysqlclient():
    """MariaDB through mysqlclient: every query of every connection, as sent, and COMMIT / ROLLBACK."""
    from MySQLdb.connections import Connection

    Connection.query = _traced_query(Connection.query)
    for name in ("commit", "rollback"):
        setattr(Connection, name, _traced_call(getattr(Connection, name), name.upper()))


def _traced_query(original):
    def query(self, sql):
        try:
            return original(self, sql)
        finally:
            _record(sql.decode("utf-8", "replace") if isinstance(sql, bytes | bytearray) else str(sql))

    return query


def _traced_call(original, sql):
    def call(self, *args, **kwargs):
        _record(sql)
        return original(self, *args, **kwargs)

    return call


def _text(cursor, query, params=None):
    """The statement as the server runs it, bound values inlined; the bare query if that cannot be done."""
    import psycopg

    try:
        return psycopg.ClientCursor(cursor.connection).mogrify(query, params)
    except Exception:
        text = query.as_string(cursor.connection) if hasattr(query, "as_string") else query
        return text.decode() if isinstance(text, bytes) else str(text)


# Statements are recorded once psycopg has sent them (failing ones too): after the BEGIN it sends first.
def _traced_execute(original):
    def execute(self, query, params=None, **kwargs):
        try:
            return original(self, query, params, **kwargs)
        finally:
            _record(_text(self, query, params))

    return execute


def _traced_executemany(original):
    def executemany(self, query, params_seq, **kwargs):
        params_seq = list(params_seq)
        try:
            return original(self, query, params_seq, **kwargs)
        finally:
            for params in params_seq:
                _record(_text(self, query, params))

    return executemany


def _traced_command(original):
    def exec_command(self, command, *args, **kwargs):
        text = command.as_string(self) if hasattr(command, "as_string") else command
        _record(text.decode() if isinstance(text, bytes) else text)
        return original(self, command, *args, **kwargs)

    return exec_command


if os.environ.get("COMPARE_SQL_LOG"):
    _install()
