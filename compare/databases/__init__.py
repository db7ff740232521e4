"""One module per database, registered by name, the way Alembic keeps one file per dialect.

A `Database` creates and drops one database per story, knows its server's version, and carries what differs
between databases as data: its capabilities (class attributes the reports and checks read instead of guessing from
the executed SQL) and its schema-inspection quirks (the hooks `compare.snapshot` calls). Adding a database means one
module here (a subclass of `base.Database`) and its line in DATABASES below.

The SQL tracer runs inside each tool's own process, where the harness is not importable: its hooks live in
compare/sqltrace/sitecustomize.py, one per driver, and a database names its hook in `tracer`.
"""

from __future__ import annotations

from compare.databases.base import CAPABILITIES, Database
from compare.databases.mariadb import MariaDB
from compare.databases.postgresql import PostgreSQL
from compare.databases.sqlite import SQLite

DATABASES: dict[str, type[Database]] = {db.name: db for db in (SQLite, PostgreSQL, MariaDB)}
"""name -> class, in the order --db all runs them."""

__all__ = ["CAPABILITIES", "DATABASES", "Database", "for_dialect"]


def for_dialect(dialect: str) -> type[Database]:
    """The registered database of a SQLAlchemy dialect name (sqlite, postgresql...); the base class if none."""
    return next((db for db in DATABASES.values() if db.dialect == dialect), Database)
