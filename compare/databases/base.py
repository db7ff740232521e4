"""The base class of every database module: what the harness asks a database, and its capabilities as data."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from compare.model import Index


class Database:
    """Creates and drops one database per story; its class attributes are what the database can do."""

    name: str  # the registry key, --db NAME
    title: str  # as the reports name it
    dialect: str  # SQLAlchemy's dialect name (engine.dialect.name)
    tracer: str  # the driver hook of compare/sqltrace/sitecustomize.py that records its SQL
    transactional_ddl: bool  # DDL inside a transaction is undone by a ROLLBACK (a failed migration leaves nothing)
    native_enums: bool  # CREATE TYPE ... AS ENUM: SQLAlchemy's Enum becomes a named type of its own
    drop_column_in_place: bool  # ALTER TABLE ... DROP COLUMN, no rebuild of the table by the tools
    alter_column_in_place: bool  # type and nullability change with ALTER TABLE (SQLite: Alembic's batch rebuild)
    # The tools' modules for this database (its driver, Django's backend, the dialects), which the warm server
    # imports before it forks when the run uses it (compare.warm.preload); a call imports any others itself.
    preload: tuple[str, ...] = ()

    def create(self, story_dir: Path, name: str) -> str:
        """Create an empty database and return its URL."""
        raise NotImplementedError

    def drop(self, url: str) -> None:
        raise NotImplementedError

    def engine(self, url: str) -> sa.Engine:
        return sa.create_engine(url, poolclass=NullPool)

    def versions(self) -> dict[str, str]:
        """The database server's version, for the report."""
        return {}

    @classmethod
    def capabilities(cls) -> dict[str, bool]:
        return {k: getattr(cls, k) for k in CAPABILITIES}

    # --- schema-inspection quirks (compare.snapshot) -------------------------------------------------------

    @classmethod
    def table_keys(cls, conn: sa.Connection) -> dict[str, tuple] | None:
        """Each table's name -> what its reflection is a pure function of, read from the database itself (a table
        with the key of one reflected before, in this database or another, reflects the same, so it may reuse that
        reflection); the names are the inspector's get_table_names(). None: reflect every table every time."""
        return None

    @classmethod
    def state_key(cls, url: sa.URL) -> bytes | None:
        """A digest of everything the database holds, read without connecting to it (two looks with the same key
        see the same schema and rows, so the second may reuse the first's); None: look every time."""
        return None

    @classmethod
    def enums(cls, conn: sa.Connection, inspector: sa.Inspector) -> list[str]:
        """The database's own enum types, as name(label, ...)."""
        return []

    @classmethod
    def storage(cls, conn: sa.Connection) -> dict[str, object]:
        """Where each table keeps its rows (a new value after a step: the table was rewritten); {} if unknown."""
        return {}

    @classmethod
    def type_name(cls, type_: sa.types.TypeEngine) -> str:
        """The reflected type as the database spells it, upper case (compare.snapshot.normalize_type reads it)."""
        return str(type_).upper()

    @classmethod
    def autoincrement(cls, conn: sa.Connection, table: str, column: dict, pk: set[str]) -> str | None:
        """How the column numbers its rows (identity, serial, rowid...), or None."""
        return "identity" if column.get("identity") else None

    @classmethod
    def unique_and_indexes(cls, conn: sa.Connection, inspector: sa.Inspector, table: str):
        """The table's unique column sets and its other indexes, as SQLAlchemy's inspector reports them."""
        unique = [u["column_names"] for u in inspector.get_unique_constraints(table)]
        indexes = []
        for ix in inspector.get_indexes(table):
            if ix.get("duplicates_constraint"):
                continue
            if ix["unique"]:
                unique.append(ix["column_names"])
            else:
                indexes.append(Index(ix["column_names"], False, ix["name"]))
        return unique, indexes


# The modules of a Django database backend (django.db.backends.NAME.*) that its commands import
DJANGO_BACKEND = ("base", "schema", "introspection", "features", "operations", "client", "creation")

CAPABILITIES = ("transactional_ddl", "native_enums", "drop_column_in_place", "alter_column_in_place")
