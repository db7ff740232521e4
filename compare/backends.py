"""The databases the harness runs stories on, by name: compare.databases under the names the harness imports."""

from compare.databases import DATABASES as BACKENDS
from compare.databases import Database as Backend
from compare.databases.postgresql import PostgreSQL as PostgresBackend
from compare.databases.sqlite import SQLite as SQLiteBackend

__all__ = ["BACKENDS", "Backend", "PostgresBackend", "SQLiteBackend"]
