"""Fixtures: fresh databases, one live server per framework for the whole session, clean tables per test."""

import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.apps import APPS_BY_NAME, NAMES
from tests.support import TOKEN, Api, LiveServer


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], str]:
    """Factory of URLs of fresh, empty databases (today a SQLite file; the one place to add PostgreSQL)."""
    root = tmp_path_factory.mktemp("databases")
    numbers = itertools.count(1)

    def make(name: str) -> str:
        slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")
        return f"sqlite:///{root / f'{next(numbers):03d}-{slug}.sqlite3'}"

    return make


class ServerPool:
    """Live servers started on first use and kept until the end of the session."""

    def __init__(self, database_url: Callable[[str], str], log_dir: Path):
        self.database_url = database_url
        self.log_dir = log_dir
        self.servers: dict[tuple[str, str | None], LiveServer] = {}
        self.failures: dict[tuple[str, str | None], str] = {}

    def get(self, name: str, token: str | None = TOKEN) -> LiveServer:
        """The server of framework `name` run with BLOG_API_TOKEN=`token` (None: unset)."""
        key = (name, token)
        if key in self.failures:  # do not wait again for a server that could not start
            pytest.fail(self.failures[key], pytrace=False)
        if key not in self.servers:
            label = name if token else f"{name}-without-token"
            server = LiveServer(APPS_BY_NAME[name], self.database_url(label), token, self.log_dir / f"{label}.log")
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


@pytest.fixture(params=NAMES)
def server(request: pytest.FixtureRequest, servers: ServerPool) -> LiveServer:
    """The live server of each framework in turn (the contract tests are parametrised by this fixture)."""
    return servers.get(request.param)


@pytest.fixture
def api(server: LiveServer) -> Iterator[Api]:
    """A client of the server with the API token, on empty tables."""
    server.db.reset()
    with Api(server) as client:
        yield client
