"""Database backends: each story gets a fresh database of its own, removed at the end."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from compare import pg
from compare.sandbox import SandboxError


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


class PostgresBackend(Backend):
    """A fresh database per story on the project's PostgreSQL server (compare.pg), started if it is not running."""

    name = "postgresql"
    title = "PostgreSQL"
    # The harness's own sessions read and write in UTC: the seed inserts naive UTC datetimes into timestamptz.
    connect_args = {"options": "-c timezone=UTC"}

    def __init__(self) -> None:
        self.run_id = secrets.token_hex(4)  # in every database name, so parallel runs never share one
        self._admin: str | None = None
        self._lock = threading.Lock()

    def admin_url(self) -> str:
        """The server's admin URL, starting the server on first use (stories start in parallel)."""
        with self._lock:
            if self._admin is None:
                self._admin = pg.ensure_server()
            return self._admin

    def create(self, story_dir: Path, name: str) -> str:
        try:
            return pg.create_database(f"lab_{self.run_id}_{name}", self.admin_url(), exist_ok=False)
        except pg.PgError as exc:  # recorded as the story's failed first step, like any sandbox problem
            raise SandboxError(f"PostgreSQL: {exc}") from None

    def drop(self, url: str) -> None:
        pg.drop_database(sa.make_url(url).database, self.admin_url())

    def engine(self, url: str) -> sa.Engine:
        return sa.create_engine(url, poolclass=NullPool, connect_args=self.connect_args)

    def versions(self) -> dict[str, str]:
        try:
            return {"PostgreSQL": pg.server_version(self.admin_url())}
        except pg.PgError:
            return {"PostgreSQL": "unavailable"}


BACKENDS: dict[str, type[Backend]] = {"sqlite": SQLiteBackend, "postgresql": PostgresBackend}
