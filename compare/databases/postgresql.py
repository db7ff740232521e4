"""PostgreSQL: a fresh database per story on the project's server (compare.pg), started if it is not running."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from compare import pg
from compare.databases.base import DJANGO_BACKEND, Database


class PostgreSQL(Database):
    name = "postgresql"
    title = "PostgreSQL"
    dialect = "postgresql"
    tracer = "psycopg"
    transactional_ddl = True
    native_enums = True
    drop_column_in_place = True
    alter_column_in_place = True
    preload = (
        "psycopg",
        "psycopg._connection_base",
        *(f"django.db.backends.postgresql.{m}" for m in DJANGO_BACKEND),
        "sqlalchemy.dialects.postgresql",
        "sqlalchemy.dialects.postgresql.psycopg",
        "alembic.ddl.postgresql",
    )
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
        from compare.sandbox import RunFault  # compare.sandbox reads traces with compare.snapshot, which asks us

        try:
            return pg.create_database(f"lab_{self.run_id}_{name}", self.admin_url(), exist_ok=False)
        except pg.PgError as exc:  # the server is unreachable or refuses: no story can run, the run stops
            raise RunFault(f"PostgreSQL: {exc}") from None

    def drop(self, url: str) -> None:
        pg.drop_database(sa.make_url(url).database, self.admin_url())

    def engine(self, url: str) -> sa.Engine:
        return sa.create_engine(url, poolclass=NullPool, connect_args=self.connect_args)

    def versions(self) -> dict[str, str]:
        try:
            return {"PostgreSQL": pg.server_version(self.admin_url())}
        except pg.PgError:
            return {"PostgreSQL": "unavailable"}

    @classmethod
    def enums(cls, conn, inspector):
        return [f"{e['name']}({', '.join(e['labels'])})" for e in inspector.get_enums()]

    @classmethod
    def storage(cls, conn):
        """Each table's relfilenode: a new one after a step means the table was rewritten."""
        sql = (
            "SELECT c.relname, c.relfilenode FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        )
        return dict(conn.execute(sa.text(sql)).all())

    @classmethod
    def autoincrement(cls, conn, table, column, pk):
        default = column.get("default")
        if not column.get("identity") and default and default.startswith("nextval("):
            return "serial"
        return super().autoincrement(conn, table, column, pk)
