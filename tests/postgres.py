"""The `pg_server` fixture: a throwaway project PostgreSQL server, started and stopped through the real CLI.

Its data lives in a temp directory (COMPARE_PG_DATA), never in var/pg. When the server cannot start, the tests
that need it fail in CI (CI=true) and skip elsewhere, saying how to enable them. tests/conftest.py provides it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from compare import pg
from tests.support import missing, server_cli

HOW_TO_ENABLE = (
    "the postgresql tests need the pgserver package (`make venv`) and a machine where `make pg-up` works; "
    "with CI=true they fail instead of skipping"
)


def pg_cli(*args: str, data: Path, timeout: float = 120, **extra_env: str) -> subprocess.CompletedProcess:
    """Run `python -m compare.pg ARGS` for real, on the server whose data is in `data`."""
    return server_cli("pg", "COMPARE_PG_DATA", *args, data=data, timeout=timeout, **extra_env)


def unavailable(reason: str) -> NoReturn:
    """The server could not start: fail in CI, skip elsewhere."""
    missing(f"PostgreSQL could not start ({reason}); {HOW_TO_ENABLE}")


def start(data: Path) -> subprocess.CompletedProcess:
    """`python -m compare.pg up` on `data`; fails or skips (see `unavailable`) if the server does not start."""
    proc = pg_cli("up", data=data)
    if proc.returncode != 0:
        unavailable(proc.stderr.strip() or f"exit code {proc.returncode}")
    return proc


@dataclass
class PgServer:
    data: Path  # its data directory (COMPARE_PG_DATA)
    url: str  # admin URL (database postgres)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    """A running project server for the session, in a temp data dir; COMPARE_PG_DATA points at it meanwhile."""
    data = tmp_path_factory.mktemp("pg") / "data"
    start(data)
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("COMPARE_PG_DATA", str(data))
            env.delenv("DATABASE_URL", raising=False)
            url = pg.running_url()
            assert url, f"`python -m compare.pg up` exited 0, but no server answers in {data}"
            yield PgServer(data, url)
    finally:
        pg_cli("down", data=data)
