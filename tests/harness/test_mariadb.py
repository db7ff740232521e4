"""MariaDB for real: the project's server (python -m compare.mariadb up, status, down) and the harness on it (one
scenario, every framework and variant, on a throwaway server)."""

from __future__ import annotations

import os
import shutil

import pytest
import sqlalchemy as sa

from compare import mariadb, runner, views
from compare.adapters import ADAPTERS
from compare.backends import BACKENDS
from compare.databases.mariadb import MariaDB
from compare.scenario import load
from tests.mariadb import MariaDBServer, data_root, mariadb_cli, unavailable
from tests.support import recording

pytestmark = [pytest.mark.harness, pytest.mark.mariadb]


RecordingMariaDB = recording(MariaDB)


@pytest.fixture(scope="module")
def run(mariadb_server: MariaDBServer) -> dict:
    backend = RecordingMariaDB()
    catalog, _ = runner.run([load("add_read_count")], list(ADAPTERS), None, [backend])
    (report,) = catalog.reports
    return {"report": report, "backend": backend, "after": mariadb.databases(mariadb_server.url, "lab_")}


def test_registered_by_name_with_its_capabilities():
    assert BACKENDS["mariadb"] is MariaDB and MariaDB.title == "MariaDB"
    assert MariaDB.capabilities() == {
        "transactional_ddl": False,
        "native_enums": False,
        "drop_column_in_place": True,
        "alter_column_in_place": True,
    }
    assert BACKENDS["postgresql"].transactional_ddl and BACKENDS["sqlite"].transactional_ddl


def test_the_scenario_runs_as_documented_and_every_database_is_dropped(run: dict):
    assert run["report"].ok, [(s.framework, s.variant) for s in run["report"].stories if not s.ok]
    created = {sa.make_url(u).database for u in run["backend"].created}
    assert len(created) == len(run["report"].stories) and not created & set(run["after"])


@pytest.mark.parametrize("framework", ["flask", "fastapi"])
def test_a_not_null_column_with_no_default_fills_old_rows_with_zero(run: dict, framework: str):
    """Where SQLite and PostgreSQL refuse the column, MariaDB gives the rows the type's implicit default."""
    story = run["report"].story(framework, "unsafe", "mariadb")
    step = story.step("upgrade_change")
    assert step.ok and {r["read_count"] for r in step.data.rows["posts"]} == {0}
    column = step.schema.table("posts").column("read_count")
    assert not column.nullable and column.default is None


@pytest.mark.parametrize("framework", list(ADAPTERS))
def test_the_trace_has_the_ddl_and_the_report_reads_the_capability(run: dict, framework: str):
    step = run["report"].story(framework, "safe", "mariadb").step("upgrade_change")
    assert any(s.kind == "ddl" and "read_count" in s.sql for s in step.sql), [s.sql for s in step.sql]
    # Alembic's sessions COMMIT (and ROLLBACK before the DDL); Django runs it in autocommit, since MySQL cannot roll
    # DDL back: either way the report asks the database whether the DDL was transactional, not the trace
    assert views._transactional(step, "mariadb") == "no"
    column = step.schema.table("posts").column("read_count")
    assert column.type == "integer" and column.default == "0"


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_up_status_down_leaves_no_process():
    root = data_root()
    data = root / "data"
    try:
        up = mariadb_cli("up", data=data)
        if up.returncode != 0:
            unavailable(up.stderr.strip())
        assert "MariaDB 10." in up.stdout and "started" in up.stdout
        assert "blog_flask" in up.stdout and "unix_socket=" in up.stdout
        pid = int((data / "mariadbd.pid").read_text())
        assert alive(pid)
        again = mariadb_cli("up", data=data)
        assert again.returncode == 0 and "already running" in again.stdout
        status = mariadb_cli("status", data=data)
        assert "running at mysql://" in status.stdout
        env = os.environ.copy()
        os.environ["COMPARE_MARIADB_DATA"] = str(data)
        try:
            url = mariadb.running_url()
            assert {"blog_django", "blog_flask", "blog_fastapi"} <= set(mariadb.databases(url, "blog_"))
            assert mariadb.databases(url, "nosuch_") == []
        finally:
            os.environ.clear()
            os.environ.update(env)
        down = mariadb_cli("down", data=data)
        assert down.returncode == 0 and "stopped" in down.stdout
        assert not alive(pid), "make mariadb-down must leave no process behind"
        assert "not running" in mariadb_cli("status", data=data).stdout
        assert "was not running" in mariadb_cli("down", data=data).stdout
    finally:
        mariadb_cli("down", data=data)
        shutil.rmtree(root, ignore_errors=True)


def test_a_bad_command_is_one_line_and_exit_2():
    proc = mariadb_cli("url", "nosuch", data=mariadb.REPO / "var" / "never-created")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def test_an_unreachable_database_url_is_one_line_and_exit_1():
    """A DATABASE_URL of the user's own that answers nothing: one line on stderr, within seconds, no traceback."""
    proc = mariadb_cli(
        "url",
        "flask",
        data=mariadb.REPO / "var" / "never-created",
        DATABASE_URL="mysql://nobody@localhost/blog?unix_socket=/nonexistent/mariadbd.sock",
        timeout=30,
    )
    assert proc.returncode == 1 and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("python -m compare.mariadb url: error: cannot connect to mysql://nobody@localhost/blog")


def test_status_of_a_server_never_started_says_how_to_start_it():
    proc = mariadb_cli("status", data=mariadb.REPO / "var" / "never-created")
    assert proc.returncode == 0 and "not running (make mariadb-up)" in proc.stdout
