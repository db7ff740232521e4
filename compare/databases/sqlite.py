"""SQLite: a file per story; DDL is transactional, but ALTER TABLE can do little, so tools rebuild tables."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import sqlalchemy as sa

from compare.databases.base import DJANGO_BACKEND, Database
from compare.model import Index


class SQLite(Database):
    name = "sqlite"
    title = "SQLite"
    dialect = "sqlite"
    tracer = "sqlite3"
    transactional_ddl = True
    native_enums = False
    drop_column_in_place = True  # since SQLite 3.35; Alembic's batch mode still rebuilds
    alter_column_in_place = False
    preload = (
        "sqlite3",
        *(f"django.db.backends.sqlite3.{m}" for m in DJANGO_BACKEND),
        "sqlalchemy.dialects.sqlite",
        "sqlalchemy.dialects.sqlite.pysqlite",
        "alembic.ddl.sqlite",
    )

    def create(self, story_dir: Path, name: str) -> str:
        return f"sqlite:///{story_dir / f'{name}.sqlite3'}"

    def drop(self, url: str) -> None:
        Path(sa.make_url(url).database).unlink(missing_ok=True)

    def versions(self) -> dict[str, str]:
        return {"SQLite": sqlite3.sqlite_version}

    @classmethod
    def table_keys(cls, conn):
        # SQLite keeps the whole schema as the CREATE statements in sqlite_master, and its PRAGMAs answer from them
        # (asked through the driver itself: SQLAlchemy's result objects would cost more than the query). A table's
        # key: its own rows (the table, its indexes and triggers) and those of every table its CREATE statement
        # names, which holds each table it references (the inspector reads a referenced table's primary key when a
        # REFERENCES clause names no column). Names are matched in lower case, as SQLite matches them; a table
        # whose name is only part of a word there is included too, which costs a reuse, never a wrong one.
        rows = conn.connection.driver_connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")
        own: dict[str, list[tuple]] = {}
        for row in sorted(rows, key=lambda r: (r[2], r[0], r[1])):
            own.setdefault(row[2], []).append(row)
        # the inspector's get_table_names(): tables, sqlite's own apart
        names = [n for n, rs in own.items() if not n.startswith("sqlite_") and any(r[0] == "table" for r in rs)]
        lower = {n: n.lower() for n in names}
        keys = {}
        for name in names:
            sql = " ".join(r[3] or "" for r in own[name]).lower()
            named = sorted(n for n in names if n != name and lower[n] in sql)
            keys[name] = (sqlite3.sqlite_version, tuple(own[name]), *(tuple(own[n]) for n in named))
        return keys

    @classmethod
    def state_key(cls, url):
        # the database file and its write-ahead log are all a reader sees; a rollback journal means a transaction
        # was left unfinished (the next connection rolls it back): look again
        digest = hashlib.sha256(sqlite3.sqlite_version.encode())
        for suffix in ("", "-wal"):
            try:
                with open(url.database + suffix, "rb") as f:
                    content = f.read()
            except FileNotFoundError:
                if not suffix:
                    return None
                content = b""  # no log: as an empty one
            digest.update(b"%d\0" % len(content))
            digest.update(content)
        if os.path.exists(url.database + "-journal"):
            return None
        return digest.digest()

    @classmethod
    def autoincrement(cls, conn, table, column, pk):
        # only an INTEGER PRIMARY KEY is an alias of the rowid; any other key has an index of its own
        if column["name"] in pk and len(pk) == 1 and str(column["type"]).upper() == "INTEGER":
            sql = conn.execute(
                sa.text("SELECT sql FROM sqlite_master WHERE type='table' AND name=:n"), {"n": table}
            ).scalar()
            return "autoincrement" if "AUTOINCREMENT" in (sql or "").upper() else "rowid"
        return super().autoincrement(conn, table, column, pk)

    @classmethod
    def unique_and_indexes(cls, conn, inspector, table):
        # The inspector misses inline UNIQUE column constraints (Django writes them): ask SQLite itself.
        unique, indexes = [], []
        quote = conn.dialect.identifier_preparer.quote_identifier
        for row in conn.execute(sa.text(f"PRAGMA index_list({quote(table)})")).mappings():
            if row["origin"] == "pk":
                continue
            cols = [r["name"] for r in conn.execute(sa.text(f"PRAGMA index_info({quote(row['name'])})")).mappings()]
            if row["unique"]:
                unique.append(cols)
            else:
                indexes.append(Index(cols, False, row["name"]))
        return unique, indexes
