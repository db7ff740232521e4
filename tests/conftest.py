"""Fixtures: fresh databases, one live server per framework for the whole session, clean tables per test."""

import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from compare import mariadb, pg
from tests.apps import APPS_BY_NAME, BACKENDS, NAMES
from tests.mariadb import mariadb_server  # noqa: F401  (a fixture)
from tests.postgres import pg_server  # noqa: F401  (a fixture)
from tests.support import TOKEN, Api, LiveServer

# The longest files by junit times, longest first: `make test` hands whole files to its workers in collection order,
# and a long file taken last would leave the other worker idle (README: Tests).
LONGEST_FIRST = (
    "tests/harness/test_catalog.py",
    "tests/contract/test_hostile.py",
    "tests/migrations/test_migrations.py",
    "tests/harness/test_bench_migrate.py",
    "tests/harness/test_warm.py",
    "tests/contract/test_posts.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that run on PostgreSQL or MariaDB carry its marker (select them with -m postgresql, -m mariadb); the
    files of LONGEST_FIRST are collected first, the rest keep their order."""
    for item in items:
        for backend in ("postgresql", "mariadb"):
            if f"-{backend}" in item.name or f"[{backend}" in item.name:
                item.add_marker(getattr(pytest.mark, backend))
    if missing := [path for path in LONGEST_FIRST if not (config.rootpath / path).is_file()]:
        raise pytest.UsageError(f"tests/conftest.py LONGEST_FIRST names files that do not exist: {missing}")
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Callable[..., str]:
    """Factory of URLs of fresh, empty databases: a SQLite file, or a new database on the test PostgreSQL or MariaDB
    server."""
    root = tmp_path_factory.mktemp("databases")
    numbers = itertools.count(1)

    def make(name: str, backend: str = "sqlite") -> str:
        slug = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
        number = next(numbers)
        if backend == "postgresql":
            server = request.getfixturevalue("pg_server")  # skips or fails (CI) when no server can start
            return pg.create_database(f"t{number:03d}_{slug}"[:63], server.url, exist_ok=False)
        if backend == "mariadb":
            server = request.getfixturevalue("mariadb_server")  # skips or fails (CI) when no server can start
            return mariadb.create_database(f"t{number:03d}_{slug}"[:64], server.url, exist_ok=False)
        return f"sqlite:///{root / f'{number:03d}-{slug}.sqlite3'}"

    return make


class ServerPool:
    """Live servers started on first use and kept until the end of the session."""

    def __init__(self, database_url: Callable[[str], str], log_dir: Path):
        self.database_url = database_url
        self.log_dir = log_dir
        self.servers: dict[tuple[str, str, str | None], LiveServer] = {}
        self.failures: dict[tuple[str, str, str | None], str] = {}

    def get(self, name: str, backend: str = "sqlite", token: str | None = TOKEN) -> LiveServer:
        """The server of framework `name` on `backend`, run with BLOG_API_TOKEN=`token` (None: unset)."""
        key = (name, backend, token)
        if key in self.failures:  # do not wait again for a server that could not start
            pytest.fail(self.failures[key], pytrace=False)
        if key not in self.servers:
            label = f"{name}-{backend}" + ("" if token else "-without-token")
            url = self.database_url(label, backend)
            server = LiveServer(APPS_BY_NAME[name], url, token, self.log_dir / f"{label}.log")
            try:
                server.start()
            except pytest.fail.Exception as error:
                self.failures[key] = str(error)
                raise
            self.servers[key] = server
        return self.servers[key]

    def stop_all(self) -> None:
        for server in self.servers.values():
            server.stop()
            server.db.engine.dispose()


@pytest.fixture(scope="session")
def servers(database_url, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    pool = ServerPool(database_url, tmp_path_factory.mktemp("logs"))
    yield pool
    pool.stop_all()


@pytest.fixture(params=[(n, b) for b in BACKENDS for n in NAMES], ids=lambda p: f"{p[0]}-{p[1]}")
def server(request: pytest.FixtureRequest, servers: ServerPool) -> LiveServer:
    """The live server of each framework on each backend in turn (the contract tests are parametrised by this)."""
    name, backend = request.param
    return servers.get(name, backend)


@pytest.fixture
def api(server: LiveServer) -> Iterator[Api]:
    """A client of the server with the API token, on empty tables."""
    server.db.reset()
    with Api(server) as client:
        yield client
