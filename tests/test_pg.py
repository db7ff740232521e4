"""python -m compare.pg, for real: a throwaway server in a temp data dir, started, used, reset and stopped."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import psycopg
import pytest

from compare import pg
from tests.postgres import pg_cli, start

pytestmark = pytest.mark.postgresql


def tables(url: str) -> list[str]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        return [r[0] for r in rows]


def test_up_url_reset_down(tmp_path: Path):
    data = tmp_path / "data"
    up = start(data)
    try:
        assert "started" in up.stdout
        urls = {fw: pg_cli("url", fw, data=data).stdout.strip() for fw in pg.FRAMEWORKS}
        for fw, url in urls.items():
            assert f"DATABASE_URL={url}" in up.stdout  # up printed the same URL the Makefile's db_env uses
            assert f"/blog_{fw}?" in url and tables(url) == []
        again = pg_cli("up", data=data)
        assert again.returncode == 0 and "already running" in again.stdout
        assert "running at postgresql://" in pg_cli("status", data=data).stdout

        # reset drops and recreates one app's database, and only that one
        for fw in ("django", "flask"):
            with psycopg.connect(urls[fw], autocommit=True) as conn:
                conn.execute("CREATE TABLE marker (id integer)")
        reset = pg_cli("reset", "django", data=data)
        assert reset.returncode == 0, reset.stderr
        assert tables(urls["django"]) == [] and tables(urls["flask"]) == ["marker"]
    finally:
        down = pg_cli("down", data=data)
    assert down.returncode == 0 and "stopped" in down.stdout
    assert "not running" in pg_cli("status", data=data).stdout
    with pytest.raises(psycopg.OperationalError):
        tables(urls["flask"])

    # `url` starts the server again when it is down (so `make <fw>-upgrade DB=postgresql` needs no manual step)
    try:
        url = pg_cli("url", "flask", data=data)
        assert url.returncode == 0, url.stderr
        assert url.stdout.strip() == urls["flask"] and tables(urls["flask"]) == ["marker"]
    finally:
        pg_cli("down", data=data)


def test_url_keeps_your_database_url(tmp_path: Path):
    data = tmp_path / "data"
    start(data)
    try:
        # the user's URL, in SQLAlchemy's spelling: printed as written, once it answers
        mine = pg_cli("url", "fastapi", data=data).stdout.strip().replace("postgresql:", "postgresql+psycopg:")
        proc = pg_cli("url", "django", data=data, DATABASE_URL=mine)
        assert (proc.returncode, proc.stdout) == (0, mine + "\n")
    finally:
        pg_cli("down", data=data)


@pytest.fixture
def silent_port():
    """A TCP port that accepts connections and never answers: a client without a timeout would hang."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


@pytest.mark.parametrize("kind", ["no server on the socket", "silent server", "not PostgreSQL"])
def test_bad_database_url_is_one_line(kind: str, tmp_path: Path, silent_port: int):
    url = {
        "no server on the socket": f"postgresql://postgres@/blog?host={tmp_path}",
        "silent server": f"postgresql://postgres:secret@127.0.0.1:{silent_port}/blog",
        "not PostgreSQL": "sqlite:///blog.sqlite3",
    }[kind]
    try:
        proc = pg_cli("url", "django", data=tmp_path / "unused", DATABASE_URL=url, timeout=5)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{kind}: `python -m compare.pg url` did not give up within 5 s")
    assert proc.returncode == 1 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("python -m compare.pg url: error: ") and "secret" not in proc.stderr


def test_server_that_cannot_start_is_one_line(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "PG_VERSION").write_text("16\n")  # a data directory with nothing else in it: postgres refuses it
    try:
        proc = pg_cli("url", "flask", data=data, timeout=5)
    except subprocess.TimeoutExpired:
        pytest.fail("`python -m compare.pg url` did not give up within 5 s on a server that cannot start")
    assert proc.returncode == 1 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "could not start PostgreSQL" in proc.stderr or "pgserver" in proc.stderr  # the latter: pgserver unusable
