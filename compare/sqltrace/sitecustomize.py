"""Loaded by every tool call the harness makes (through PYTHONPATH): records the SQL the database executes.

SQLite reports each statement it runs, with bound values expanded, through the connection's trace callback.
For psycopg, every statement sent to the server is recorded. Lines go to the file named by COMPARE_SQL_LOG.
Nothing else changes: the tools run as they would for a user.
"""

import json
import os

_log_path = os.environ.get("COMPARE_SQL_LOG")


def _record(sql):
    with open(_log_path, "a", encoding="utf-8") as log:
        log.write(json.dumps(sql) + "\n")


def _install():
    import sqlite3
    import sqlite3.dbapi2

    original = sqlite3.dbapi2.connect

    def connect(*args, **kwargs):
        connection = original(*args, **kwargs)
        connection.set_trace_callback(_record)
        return connection

    sqlite3.connect = sqlite3.dbapi2.connect = connect

    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        return
    import psycopg

    for cls in (psycopg.Cursor, psycopg.ServerCursor):
        for name in ("execute", "executemany"):
            _wrap(cls, name)


def _wrap(cls, name):
    original = getattr(cls, name)

    def method(self, query, *args, **kwargs):
        text = query if isinstance(query, str) else query.as_string(self) if hasattr(query, "as_string") else str(query)
        _record(text if isinstance(text, str) else text.decode())
        return original(self, query, *args, **kwargs)

    setattr(cls, name, method)


if _log_path:
    _install()
