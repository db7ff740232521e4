"""MariaDB: a fresh database per story on the project's server (compare.mariadb), started if it is not running.

Every DDL statement commits implicitly, before and after itself: a migration that fails halfway leaves its first
statements behind, whatever the tool, and Django and Alembic both say so in their documentation.
"""

from __future__ import annotations

import re
import secrets
import threading
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from compare import mariadb
from compare.databases.base import DJANGO_BACKEND, Database

_DISPLAY_WIDTH = re.compile(r"^(TINYINT|SMALLINT|MEDIUMINT|INT|INTEGER|BIGINT)\(\d+\)")


class MariaDB(Database):
    name = "mariadb"
    title = "MariaDB"
    dialect = "mysql"  # SQLAlchemy's MySQL dialect speaks MariaDB too (it reports "mysql" for both)
    tracer = "mysqlclient"
    transactional_ddl = False  # each DDL statement commits the transaction it is in, and itself
    native_enums = False  # an ENUM(...) column type, no named type of its own
    drop_column_in_place = True
    alter_column_in_place = True
    preload = (
        "MySQLdb",
        *(f"django.db.backends.mysql.{m}" for m in DJANGO_BACKEND),
        "sqlalchemy.dialects.mysql",
        "sqlalchemy.dialects.mysql.mysqldb",
        "alembic.ddl.mysql",
    )

    def __init__(self) -> None:
        self.run_id = secrets.token_hex(4)  # in every database name, so parallel runs never share one
        self._server: str | None = None
        self._lock = threading.Lock()

    def server_url(self) -> str:
        """The server's URL, starting the server on first use (stories start in parallel)."""
        with self._lock:
            if self._server is None:
                self._server = mariadb.ensure_server()
            return self._server

    def create(self, story_dir: Path, name: str) -> str:
        from compare.sandbox import RunFault  # compare.sandbox reads traces with compare.snapshot, which asks us

        try:
            return mariadb.create_database(f"lab_{self.run_id}_{name}"[:64], self.server_url(), exist_ok=False)
        except mariadb.MariaDBError as exc:  # the server is unreachable or refuses: no story can run, the run stops
            raise RunFault(f"MariaDB: {exc}") from None

    def engine(self, url: str) -> sa.Engine:
        """The harness's own sessions (snapshots, the scenarios' SQL) read || as standard SQL's concatenation, as the
        other databases do; the tools' sessions are left as they are."""
        mode = "SET SESSION sql_mode = CONCAT(@@sql_mode, ',PIPES_AS_CONCAT')"
        return sa.create_engine(url, poolclass=NullPool, connect_args={"init_command": mode})

    def drop(self, url: str) -> None:
        mariadb.drop_database(sa.make_url(url).database, self.server_url())

    def versions(self) -> dict[str, str]:
        try:
            return {"MariaDB": mariadb.server_version(self.server_url())}
        except mariadb.MariaDBError:
            return {"MariaDB": "unavailable"}

    @classmethod
    def type_name(cls, type_: sa.types.TypeEngine) -> str:
        """INTEGER(11) is INTEGER: the display width changes nothing stored."""
        return _DISPLAY_WIDTH.sub(r"\1", super().type_name(type_))

    @classmethod
    def autoincrement(cls, conn, table, column, pk):
        if column["name"] in pk and column.get("autoincrement") is True:
            return "auto_increment"
        return super().autoincrement(conn, table, column, pk)
