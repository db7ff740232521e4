"""Database backends: each story gets a fresh database of its own, removed at the end."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool


class Backend:
    """Creates and drops one database per story."""

    name: str
    title: str

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


class SQLiteBackend(Backend):
    name = "sqlite"
    title = "SQLite"

    def create(self, story_dir: Path, name: str) -> str:
        return f"sqlite:///{story_dir / f'{name}.sqlite3'}"

    def drop(self, url: str) -> None:
        Path(sa.make_url(url).database).unlink(missing_ok=True)

    def versions(self) -> dict[str, str]:
        import sqlite3

        return {"SQLite": sqlite3.sqlite_version}


BACKENDS: dict[str, type[Backend]] = {"sqlite": SQLiteBackend}
