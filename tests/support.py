"""Shared helpers for the black-box suite: run an app's CLI, a live server, SQL access, an API client."""

import json
import os
import socket
import subprocess
import sys
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
from sqlalchemy import MetaData, Table, create_engine, func, select, text

from compare import warm
from tests.apps import BIN, REPO, App

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(message: str) -> NoReturn:
    """Something a test needs is not on this machine: skip here, fail in CI (CI=true), where every test must run."""
    if IN_CI:
        pytest.fail(f"{message} (CI must run every test)", pytrace=False)
    pytest.skip(message)


def server_cli(
    module: str, data_var: str, *args: str, data: Path, timeout: float = 120, **extra_env: str
) -> subprocess.CompletedProcess:
    """Run `python -m compare.MODULE ARGS` for real, on the project server whose data is in `data` (its directory
    variable `data_var`), without a DATABASE_URL of yours."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({data_var: str(data)}, **extra_env)
    return subprocess.run(
        [sys.executable, "-m", f"compare.{module}", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


TOKEN = "contract-suite-token"
# Every client's TLS settings: httpx's defaults, made once. A Client left to make its own loads certifi's CA bundle
# each time (45 ms of CPU), and the contract tests make thousands of clients, all for plain HTTP to 127.0.0.1.
TLS = httpx.create_ssl_context()
CREATED_AT = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"
# Apps and their CLIs run in a non-UTC local zone (UTC+05:30) so that using local time instead of UTC shows.
LOCAL_TZ = "IST-5:30"
START_TIMEOUT = 60


def app_env(database_url: str, token: str | None) -> dict[str, str]:
    """The environment of an app process: only what the table in the brief says, plus the virtualenv."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "BLOG_API_TOKEN", "DJANGO_SETTINGS_MODULE") and not key.startswith("FLASK_")
    }
    env.update(
        DATABASE_URL=database_url,
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        TZ=LOCAL_TZ,
    )
    if token is not None:
        env["BLOG_API_TOKEN"] = token
    return env


def run(app: App, command: tuple[str, ...], database_url: str, *, check: bool = True):
    """Run one of the app's commands in its directory, as the harness runs a tool by default: forked from a warm
    server that has imported the tools (compare.warm; the same script, argv, cwd and environment as a fresh
    interpreter, and tests/harness/test_warm.py shows both see and do the same), or as a fresh process when the
    command is not a Python script of the virtualenv (`python -m app.seed`). With `check`, a failure fails the
    test, with output."""
    argv = app.argv(command)
    done = warm.call(argv, app.directory, app_env(database_url, TOKEN), 300, "warm")
    if done.timed_out:
        pytest.fail(f"{app.name}: `{' '.join(command)}` timed out after 300 s", pytrace=False)
    result = subprocess.CompletedProcess(argv, done.code, done.stdout, done.stderr)
    if check and result.returncode != 0:
        pytest.fail(
            f"{app.name}: `{' '.join(command)}` exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}",
            pytrace=False,
        )
    return result


def dumps(value: Any) -> bytes:
    """The exact bytes the contract requires for a JSON value."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def expect_json(response: httpx.Response, status: int) -> Any:
    """Assert the status and a JSON content type; return the decoded body."""
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    assert response.headers.get("content-type", "").split(";")[0].strip() == "application/json", response.headers
    return response.json()


def expect_error(response: httpx.Response, status: int) -> Any:
    """Assert an error answer: the status and a JSON object with `detail`; return the detail."""
    body = expect_json(response, status)
    assert isinstance(body, dict) and "detail" in body, body
    return body["detail"]


def as_utc(value: datetime) -> datetime:
    """A datetime read from the database as an aware UTC datetime (naive values are stored in UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _stored(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """Values with aware datetimes converted to UTC, made naive for columns without a time zone."""
    stored = dict(values)
    for key, value in values.items():
        if isinstance(value, datetime):
            value = value.astimezone(UTC)
            stored[key] = value if table.c[key].type.timezone else value.replace(tzinfo=None)
    return stored


class Database:
    """Direct SQL access to one app's database, to arrange and check state without going through the app."""

    def __init__(self, url: str):
        self.url = url
        options = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {}
        self.engine = create_engine(url, **options)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def table(self, name: str) -> Table:
        """The table as it is now in the database (reflected on every call: migrations change it)."""
        return Table(name, MetaData(), autoload_with=self.engine)

    def reset(self) -> None:
        """Empty both tables and restart their ids at 1."""
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("TRUNCATE posts, categories RESTART IDENTITY CASCADE"))
                return
            if self.dialect == "mysql":  # TRUNCATE restarts AUTO_INCREMENT; it refuses a referenced table otherwise
                conn.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
                conn.execute(text("TRUNCATE posts"))
                conn.execute(text("TRUNCATE categories"))
                conn.execute(text("SET FOREIGN_KEY_CHECKS = 1"))
                return
            conn.execute(text("DELETE FROM posts"))
            conn.execute(text("DELETE FROM categories"))
            if conn.scalar(text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_sequence'")):
                conn.execute(text("DELETE FROM sqlite_sequence"))

    def insert(self, table_name: str, **values: Any) -> int:
        """Insert one row and return its id; datetimes are stored the way the column expects (in UTC)."""
        table = self.table(table_name)
        with self.engine.begin() as conn:
            return conn.execute(table.insert().values(**_stored(table, values))).inserted_primary_key[0]

    def insert_category(self, name: str, description: str | None = None) -> int:
        return self.insert("categories", name=name, description=description)

    def insert_post(
        self, category_id: int, title: str, content: str = "Some content.", created_at: datetime | None = None
    ) -> int:
        created_at = created_at or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        return self.insert("posts", category_id=category_id, title=title, content=content, created_at=created_at)

    def update(self, table_name: str, row_id: int, **values: Any) -> None:
        table = self.table(table_name)
        with self.engine.begin() as conn:
            conn.execute(table.update().where(table.c.id == row_id).values(**_stored(table, values)))

    def rows(self, table_name: str) -> list[dict[str, Any]]:
        """Every row of the table, ordered by id, as dicts."""
        table = self.table(table_name)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(select(table).order_by(table.c.id))]

    def count(self, table_name: str) -> int:
        table = self.table(table_name)
        with self.engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(table))

    def read_count(self, post_id: int) -> int:
        with self.engine.connect() as conn:
            return conn.scalar(text("SELECT read_count FROM posts WHERE id = :id"), {"id": post_id})

    def execute(self, sql: str, **params: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(sql), params)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """One app served by its production server on a free port, on its own database migrated by its own CLI."""

    def __init__(self, app: App, database_url: str, token: str | None, log_path: Path):
        self.app = app
        self.token = token
        self.log_path = log_path
        self.database_url = database_url
        self.db = Database(database_url)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    @property
    def backend(self) -> str:
        """sqlite, postgresql or mariadb."""
        return {"postgresql": "postgresql", "mysql": "mariadb"}.get(self.url_scheme, "sqlite")

    @property
    def url_scheme(self) -> str:
        return self.database_url.split(":", 1)[0].split("+", 1)[0]

    def start(self) -> None:
        run(self.app, self.app.upgrade, self.database_url)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.app.argv(self.app.server, port=self.port),
                cwd=self.app.directory,
                env=app_env(self.database_url, self.token),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so that stop() reaches every worker
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                self._fail(f"exited with {self.process.returncode}")
            try:
                httpx.get(f"{self.url}/api/categories", timeout=2)
                return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                self._fail(f"did not answer within {START_TIMEOUT}s")
            time.sleep(0.2)

    def _fail(self, reason: str) -> None:
        message = f"{self.app.name} server {reason}; its log ({self.log_path}):\n{self.log()}"
        print(message)
        pytest.fail(message, pytrace=False)

    def stop(self) -> None:
        """Terminate the whole process group (server and workers)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, 15)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, needle: str, start: int = 0, timeout: float = 10) -> str:
        """The log after offset `start` once it contains `needle` (or whatever it holds after `timeout`)."""
        deadline = time.monotonic() + timeout
        while True:
            tail = self.log()[start:]
            if needle in tail or time.monotonic() > deadline:
                return tail
            time.sleep(0.1)

    def client(self, token: str | None = TOKEN, scheme: str = "Bearer") -> httpx.Client:
        """An HTTP client for this server; `token=None` sends no Authorization header."""
        headers = {} if token is None else {"Authorization": f"{scheme} {token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, verify=TLS)


class Api(httpx.Client):
    """An HTTP client that sends the API token, with shortcuts to create data and the server's database."""

    def __init__(self, server: LiveServer):
        super().__init__(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30, verify=TLS)
        self.server = server
        self.db = server.db

    def create_category(self, name: str, description: str | None = None) -> dict:
        response = self.post("/api/categories", json={"name": name, "description": description})
        return expect_json(response, 201)

    def create_post(self, category_id: int, title: str, content: str = "Some content.") -> dict:
        body = {"title": title, "content": content, "category_id": category_id}
        return expect_json(self.post("/api/posts", json=body), 201)


def known_contract_difference(test: str, server: LiveServer) -> dict | None:
    """The entry of compare/differences.toml's [[contract]] for this test, app and backend, if any."""
    with (REPO / "compare" / "differences.toml").open("rb") as f:
        entries = tomllib.load(f).get("contract", [])
    return next(
        (
            e
            for e in entries
            if e["test"] == test and server.app.name in e["frameworks"] and server.backend in e["backends"]
        ),
        None,
    )


def recording(database: type) -> type:
    """The real database class of the harness, noting the URL of every database it creates (to check the drops)."""

    class Recording(database):
        def __init__(self) -> None:
            super().__init__()
            self.created: list[str] = []

        def create(self, story_dir: Path, name: str) -> str:
            url = super().create(story_dir, name)
            self.created.append(url)
            return url

    return Recording
