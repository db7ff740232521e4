"""The `mariadb_server` fixture: a throwaway project MariaDB server, started and stopped through the real CLI.

Its data lives in a directory of its own under var/ (COMPARE_MARIADB_DATA), never in var/mariadb: as root the
server runs as the `mysql` user, which must be able to reach it (pytest's temp directories are private to root).
When the server cannot start, the tests that need it fail in CI (CI=true) and skip elsewhere, saying how to enable
them. tests/conftest.py provides it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from compare import mariadb
from tests.support import missing, server_cli

REPO = Path(__file__).resolve().parents[1]
HOW_TO_ENABLE = (
    "the mariadb tests need Debian's mariadb-server and the mysqlclient driver (`make mariadb-driver`, as root it "
    "installs them); with CI=true they fail instead of skipping"
)


def mariadb_cli(*args: str, data: Path, timeout: float = 120, **extra_env: str) -> subprocess.CompletedProcess:
    """Run `python -m compare.mariadb ARGS` for real, on the server whose data is in `data`."""
    return server_cli("mariadb", "COMPARE_MARIADB_DATA", *args, data=data, timeout=timeout, **extra_env)


def unavailable(reason: str) -> NoReturn:
    """The server could not start: fail in CI, skip elsewhere."""
    missing(f"MariaDB could not start ({reason}); {HOW_TO_ENABLE}")


def data_root() -> Path:
    """A fresh directory for a test server's data, reachable by the `mysql` user; remove it with shutil.rmtree."""
    (REPO / "var").mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="test-mariadb-", dir=REPO / "var"))
    root.chmod(0o755)
    return root


@dataclass
class MariaDBServer:
    data: Path  # its data directory (COMPARE_MARIADB_DATA)
    url: str  # the server's URL (no database)


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDBServer]:
    """A running project server for the session; COMPARE_MARIADB_DATA points at it meanwhile."""
    try:
        import MySQLdb  # noqa: F401
    except ImportError:
        unavailable("the mysqlclient driver is not installed")
    root = data_root()
    data = root / "data"
    try:
        proc = mariadb_cli("up", data=data)
        if proc.returncode != 0:
            unavailable(proc.stderr.strip() or f"exit code {proc.returncode}")
        with pytest.MonkeyPatch.context() as env:
            env.setenv("COMPARE_MARIADB_DATA", str(data))
            env.delenv("DATABASE_URL", raising=False)
            url = mariadb.running_url()
            assert url, f"`python -m compare.mariadb up` exited 0, but no server answers in {data}"
            yield MariaDBServer(data, url)
    finally:
        mariadb_cli("down", data=data)
        shutil.rmtree(root, ignore_errors=True)
