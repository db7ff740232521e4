"""The project's MariaDB server (python -m compare.mariadb), for real: up, status, databases, down."""

from __future__ import annotations

import os
import shutil

import pytest

from compare import mariadb
from tests.mariadb import data_root, mariadb_cli, unavailable

pytestmark = [pytest.mark.harness, pytest.mark.mariadb]


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
