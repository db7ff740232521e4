"""The harness under faults, for real: Ctrl-C, a second run, a killed tool, a locked database, a read-only or full
disk, an unreachable PostgreSQL server. Each ends the run with one line naming the cause, and leaves no sandbox,
database or tool process behind.

The hanging tool call is a fixture scenario (scenarios/hang.toml): Flask's models sleep when they are imported, so
the call that generates the change's migration is in progress when a test strikes. Full and read-only disks are
real mounts (a 64 KiB tmpfs, a read-only bind mount), so these tests need root: CI runs as root; elsewhere they skip
(with CI=true they fail instead).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from compare import pg, warm
from tests.support import missing

pytestmark = pytest.mark.harness

REPO = Path(__file__).resolve().parents[2]
HANG = Path(__file__).parent / "scenarios" / "hang.toml"
STOPS_WITHIN = 10  # seconds: a run that waited for the hanging call (600 s) or its time limit (120 s) fails


def compare(*args: str, env: dict[str, str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "compare", "run", *args],
        cwd=REPO,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def processes_in(root: Path) -> list[int]:
    """Pids of the processes working in `root` (their cwd) or told to use it (TMPDIR in their environment)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(proc / "cwd")
            environ = (proc / "environ").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        if cwd.startswith(str(root)) or f"TMPDIR={root}".encode() in environ.split(b"\0"):
            found.append(int(proc.name))
    return found


def children(parent: int) -> list[int]:
    """Pids of the processes whose parent is `parent`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "stat").read_text().rsplit(")", 1)[1].split()[1] == str(parent):
                found.append(int(proc.name))
        except OSError:  # gone meanwhile
            continue
    return found


class Hanging:
    """`compare run` of the hang fixture for Flask, stopped while the generate call sleeps."""

    def __init__(self, tmp: Path, out: Path, seconds: float = 600, *extra: str):
        self.tmpdir = tmp / "tmp"
        self.tmpdir.mkdir(exist_ok=True)
        self.out = out
        self.proc = compare(
            "--scenario", str(HANG), "--framework", "flask", "--out", str(out), *extra,
            env={"TMPDIR": str(self.tmpdir), "LAB_HANG_SECONDS": str(seconds)},
        )  # fmt: skip
        for line in self.proc.stderr:
            if "Change the model" in line:
                break
        else:
            pytest.fail(f"the run ended before the change: {self.proc.stdout.read()}")

    def tool(self) -> int:
        """The pid of the tool process that hangs (it works in the story's sandbox)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            tools = [p for p in processes_in(self.tmpdir) if os.readlink(f"/proc/{p}/cwd").startswith(str(self.tmpdir))]
            if tools:
                return tools[0]
            time.sleep(0.05)
        pytest.fail("no tool process started in the sandbox")

    def end(self) -> tuple[int, str, float]:
        """Exit code, what it printed on stderr after the change began, and the seconds it took to end."""
        t0 = time.perf_counter()
        try:
            self.proc.wait(timeout=STOPS_WITHIN)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"the run did not stop within {STOPS_WITHIN} s")
        return self.proc.returncode, self.proc.stderr.read(), time.perf_counter() - t0

    def assert_clean(self) -> None:
        """No sandbox and no process of the run are left."""
        assert list(self.tmpdir.iterdir()) == []
        assert processes_in(self.tmpdir) == []


def one_line(text: str) -> str:
    """The one line of an error, after the progress lines of the fixture's steps."""
    lines = [line for line in text.strip().splitlines() if not line.startswith("hang/")]
    assert len(lines) == 1, text
    return lines[0]


def test_ctrl_c_kills_the_tool_processes_and_writes_no_report(tmp_path):
    """Ctrl-C (SIGINT) in the middle of a tool call, with a second story waiting its turn: exit 130 within
    seconds, one line saying what was interrupted and that no report was written, no sandbox and no tool process
    left, the reports untouched."""
    run = Hanging(tmp_path, tmp_path / "reports", 600, "--framework", "fastapi", "--jobs", "1")
    run.tool()
    run.proc.send_signal(signal.SIGINT)
    code, err, _ = run.end()
    assert code == 130
    line = one_line(err)
    assert "interrupted: 0 of 2 stories had finished" in line and "no report written" in line
    run.assert_clean()
    assert not (tmp_path / "reports" / "index.html").exists()


def test_ctrl_c_in_teaching_mode_stops_the_tool_at_once(tmp_path):
    """Ctrl-C typed on the terminal while a lesson's tool call is under way: exit 130 within seconds, saying so,
    and the lesson's sandbox and tool process are gone."""
    import pexpect

    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    lesson = pexpect.spawn(
        sys.executable, ["-m", "compare", "teach", "--scenario", str(HANG), "--framework", "flask", "--no-pause"],
        cwd=REPO, env={**os.environ, "TMPDIR": str(tmpdir), "TERM": "xterm"}, encoding="utf-8",
        dimensions=(45, 160), timeout=60,
    )  # fmt: skip
    lesson.expect("Generate the migration for the change")
    deadline = time.monotonic() + 30
    while not [p for p in processes_in(tmpdir) if os.readlink(f"/proc/{p}/cwd").startswith(str(tmpdir))]:
        assert time.monotonic() < deadline, "the tool call did not start"
        time.sleep(0.05)
    lesson.sendintr()
    lesson.expect_exact("Interrupted.", timeout=STOPS_WITHIN)
    lesson.expect(pexpect.EOF, timeout=STOPS_WITHIN)
    lesson.close()
    assert lesson.exitstatus == 130
    assert list(tmpdir.iterdir()) == [] and processes_in(tmpdir) == []


@pytest.mark.postgresql
def test_ctrl_c_on_postgresql_drops_the_stories_databases(pg_server, tmp_path):
    """Ctrl-C while a tool works on a PostgreSQL database: exit 130, and the run's databases are dropped."""
    before = set(pg.databases(pg_server.url, "lab_"))
    run = Hanging(tmp_path, tmp_path / "reports", 600, "--db", "postgresql")
    run.tool()
    assert len(set(pg.databases(pg_server.url, "lab_")) - before) == 1
    run.proc.send_signal(signal.SIGINT)
    assert run.end()[0] == 130
    assert set(pg.databases(pg_server.url, "lab_")) == before
    run.assert_clean()


def test_a_second_run_on_the_same_reports_stops_at_once(tmp_path):
    """While one run holds a reports directory, another run on it exits 1 at once, naming the first run's pid,
    and the first run goes on."""
    first = Hanging(tmp_path, tmp_path / "reports")
    second = compare("--scenario", "add_index", "--out", str(tmp_path / "reports"), env={})
    _, err = second.communicate(timeout=60)
    assert second.returncode == 1
    line = one_line(err)
    assert f"in use by the run of pid {first.proc.pid}" in line and "--out" in line
    assert first.proc.poll() is None
    first.proc.send_signal(signal.SIGINT)
    assert first.end()[0] == 130


def test_a_tool_killed_from_outside_stops_the_run(tmp_path):
    """A tool process killed by SIGKILL (not by the harness): exit 1, one line naming the command and the signal,
    nothing left behind."""
    run = Hanging(tmp_path, tmp_path / "reports")
    os.kill(run.tool(), signal.SIGKILL)
    code, err, _ = run.end()
    assert code == 1
    line = one_line(err)
    assert "`flask db migrate -m hang` was killed by SIGKILL, from outside the run" in line
    run.assert_clean()


def test_a_killed_warm_server_stops_the_run(tmp_path):
    """The warm tool server of the hanging call (`flask db migrate`) killed by SIGKILL during the call: exit 1, one
    line saying so, the call it was serving killed too, nothing left behind. A run of Flask alone starts Flask's
    server only."""
    run = Hanging(tmp_path, tmp_path / "reports", 600, "--tool-mode", "warm")
    run.tool()
    servers = {
        Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[-2]: pid
        for pid in children(run.proc.pid)
        if b"warm.py" in Path(f"/proc/{pid}/cmdline").read_bytes()
    }
    assert list(servers) == [warm.group_of("flask").encode()]  # its argv ends with its group
    server = servers[warm.group_of("flask").encode()]
    os.kill(server, signal.SIGKILL)
    code, err, _ = run.end()
    assert code == 1
    assert f"the warm tool server (pid {server}) stopped: killed by SIGKILL" in one_line(err)
    run.assert_clean()


def test_a_database_locked_by_another_process_stops_the_run(tmp_path):
    """Another process holds the story's SQLite write lock: the next tool call is not made; exit 1, one line
    naming the database file, nothing left behind."""
    run = Hanging(tmp_path, tmp_path / "reports", 3)
    (database,) = run.tmpdir.glob("*/*/*.sqlite3")
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        code, err, _ = run.end()
    finally:
        holder.close()
    assert code == 1
    line = one_line(err)
    assert f"the SQLite database {database} is locked by another process" in line
    run.assert_clean()


@contextlib.contextmanager
def mounted(kind: str, path: Path, files: dict[str, str] | None = None) -> Iterator[Path]:
    """A real read-only bind mount, or a 64 KiB tmpfs filled up, at `path`, holding `files` (name -> text)."""
    if os.geteuid() != 0:
        message = "the full and read-only disk tests mount file systems, which needs root"
        missing(message)
    path.mkdir(parents=True)

    def write_files():
        for name, text in (files or {}).items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_text(text)

    if kind == "read-only":
        write_files()
        subprocess.run(["mount", "--bind", "-o", "ro", str(path), str(path)], check=True)
    else:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(path)], check=True)
        write_files()
        with contextlib.suppress(OSError), (path / "filler").open("wb") as f:
            while True:
                f.write(b"\0" * 1024)
                f.flush()
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


CAUSE = {"read-only": "Read-only file system", "full": "No space left on device"}


@pytest.mark.parametrize("kind", ["read-only", "full"])
def test_a_read_only_or_full_tmpdir_stops_the_run(tmp_path, kind):
    """TMPDIR read-only or full: exit 1 within seconds, one line naming the cause and TMPDIR; nothing left."""
    with mounted(kind, tmp_path / "tmp") as tmpdir:
        proc = compare(
            "--scenario", "add_read_count", "--framework", "flask", "--out", str(tmp_path / "reports"),
            env={"TMPDIR": str(tmpdir)},
        )  # fmt: skip
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1
        line = one_line(err)
        assert f"{CAUSE[kind]} in {tmpdir} (TMPDIR" in line and "no report written" in line
        assert {p.name for p in tmpdir.iterdir()} <= {"filler"}
        assert processes_in(tmpdir) == []


@pytest.mark.parametrize("kind", ["read-only", "full"])
def test_a_read_only_or_full_reports_directory_keeps_the_old_reports(tmp_path, kind):
    """The reports directory read-only or full: exit 1, one line naming the cause and the directory, and the
    previous run's report is still there, byte for byte, alone."""
    old = "the previous run's report\n"
    with mounted(kind, tmp_path / "disk", {"reports/index.html": old}) as disk:
        reports = disk / "reports"
        proc = compare("--scenario", "add_read_count", "--framework", "flask", "--out", str(reports), env={})
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 1
        line = one_line(err)
        assert f"cannot write the reports to {reports}: {CAUSE[kind]}" in line
        assert [p.name for p in reports.iterdir() if p.name != ".lock"] == ["index.html"]
        assert (reports / "index.html").read_text() == old


def test_an_unreachable_postgresql_server_stops_the_run(tmp_path):
    """The project's PostgreSQL server cannot be started (its data directory is on a read-only disk): exit 1
    within seconds, one line naming PostgreSQL and the cause; no sandbox left."""
    with mounted("read-only", tmp_path / "ro") as ro:
        tmpdir = tmp_path / "tmp"
        tmpdir.mkdir()
        proc = compare(
            "--scenario", "add_read_count", "--framework", "flask", "--db", "postgresql",
            "--out", str(tmp_path / "reports"),
            env={"TMPDIR": str(tmpdir), "COMPARE_PG_DATA": str(ro / "pg")},
        )  # fmt: skip
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    line = err.strip().splitlines()[-1]  # after the notice about the project's server
    assert (
        line.startswith("python -m compare: error: PostgreSQL: could not start PostgreSQL in") and "Read-only" in line
    )
    assert list(tmpdir.iterdir()) == []
