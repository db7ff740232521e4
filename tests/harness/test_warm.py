"""Warm tool processes (compare.warm): a forked call is indistinguishable from a fresh interpreter's.

Each test runs the same real command in both modes and compares what it saw and did; the last one runs the
add_read_count scenario in both modes and compares every measurement but the timings.
"""

from __future__ import annotations

import difflib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pexpect
import pexpect.fdpexpect
import pytest

from compare import warm
from compare.sandbox import BIN

pytestmark = pytest.mark.harness

REPO = Path(__file__).resolve().parents[2]
MODES = list(warm.MODES)

# What a script sees of its interpreter: everything a fresh process would set up differently from a fork.
PROBE = """
import io, json, os, sys
streams = {
    name: [s.encoding, s.errors, s.line_buffering, s.write_through, s.name, s.mode, s.isatty(), type(s.buffer).__name__]
    for name, s in (("stdin", sys.stdin), ("stdout", sys.stdout), ("stderr", sys.stderr))
}
main = sys.modules["__main__"]
outside = sorted(
    name for name, m in list(sys.modules.items())
    if getattr(m, "__file__", None) and not m.__file__.startswith((sys.prefix, sys.base_prefix)) and m is not main
)
print(json.dumps({
    "argv": sys.argv, "orig_argv": sys.orig_argv, "cwd": os.getcwd(), "path": sys.path, "env": dict(os.environ),
    "streams": streams, "stdin": sys.stdin.read(), "main": [main.__name__, main.__file__, __name__],
    "own_group": os.getpgid(0) == os.getpid(), "own_session": os.getsid(0) == os.getpid(),
    "fds": sorted(os.listdir("/proc/self/fd")), "bytecode": sys.dont_write_bytecode, "outside": outside,
    "apps": sorted(n for n in sys.modules if n.split(".")[0] in ("app", "blog", "config", "wsgi", "manage")),
    "executable": sys.executable,
}))
print("to stderr", file=sys.stderr)
sys.exit(int(sys.argv[1]))
"""


def tool_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a sandbox's tool call (as Sandbox.env makes it)."""
    return {**warm.tool_environment(), "COMPARE_SQL_LOG": str(tmp_path / "sql.jsonl"), **extra}


def both(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 60) -> dict[str, warm.Exit]:
    return {mode: warm.call(argv, cwd, env, timeout, mode) for mode in MODES}


def test_a_forked_call_sees_what_a_fresh_interpreter_sees(tmp_path):
    (tmp_path / "probe.py").write_text(PROBE, encoding="utf-8")
    env = tool_env(tmp_path, PROBE_VALUE="é ünïcode")
    runs = both([str(BIN / "python"), "probe.py", "3"], tmp_path, env)
    assert {m: r.mode for m, r in runs.items()} == {m: m for m in MODES}
    assert runs["warm"].code == runs["plain"].code == 3
    assert runs["warm"].stderr == runs["plain"].stderr == "to stderr\n"
    seen = {m: json.loads(r.stdout) for m, r in runs.items()}
    assert seen["warm"] == seen["plain"]
    probe = seen["warm"]
    assert probe["argv"] == ["probe.py", "3"] and probe["cwd"] == str(tmp_path) and probe["env"] == env
    assert probe["path"][0] == str(tmp_path) and probe["own_session"] and probe["own_group"]
    assert probe["apps"] == [] and probe["outside"] == ["sitecustomize"]


def test_console_scripts_run_their_entry_point(tmp_path):
    env = tool_env(tmp_path)
    for argv in (["alembic", "--version"], ["flask", "--version"], ["alembic", "no-such-command"]):
        runs = both([str(BIN / argv[0]), *argv[1:]], tmp_path, env)
        assert runs["warm"].mode == "warm"
        assert (runs["warm"].code, runs["warm"].stdout, runs["warm"].stderr) == (
            runs["plain"].code,
            runs["plain"].stdout,
            runs["plain"].stderr,
        ), argv
    assert runs["plain"].code == 2  # the unknown command: argparse's usage error


LOUD = """
import sys
for n in range(2000):  # 1.2 MB in all, 20 times a pipe's buffer, in writes of every size
    print(f"{n:05d} " + "o" * (n % 600), flush=n % 3 == 0)
    print(f"{n:05d} " + "e" * (n % 300), file=sys.stderr)
"""


def test_all_of_a_loud_tools_output_is_captured(tmp_path):
    (tmp_path / "loud.py").write_text(LOUD, encoding="utf-8")
    runs = both([str(BIN / "python"), "loud.py"], tmp_path, tool_env(tmp_path))
    expected = ["".join(f"{n:05d} {c * (n % size)}\n" for n in range(2000)) for c, size in (("o", 600), ("e", 300))]
    for done in runs.values():
        assert (done.code, done.stdout, done.stderr) == (0, *expected)


CRASH = """
import os, sqlite3, sys
db = sqlite3.connect("crash.sqlite3")
db.execute("CREATE TABLE t (x INTEGER)")
db.execute("INSERT INTO t VALUES (1)")
db.commit()
if sys.argv[1] == "exception":
    raise RuntimeError("the tool crashed")
sys.stdout.flush()
os._exit(7)
"""


@pytest.mark.parametrize("how", ["exception", "os._exit"])
def test_a_crashing_tool_still_leaves_its_sql(tmp_path, how):
    (tmp_path / "crash.py").write_text(CRASH, encoding="utf-8")
    logs = {}
    for mode in MODES:
        (tmp_path / "crash.sqlite3").unlink(missing_ok=True)
        env = tool_env(tmp_path, COMPARE_SQL_LOG=str(tmp_path / f"{mode}.jsonl"))
        done = warm.call([str(BIN / "python"), "crash.py", how], tmp_path, env, 60, mode)
        assert done.code == (1 if how == "exception" else 7)
        if how == "exception":
            lines = done.stderr.splitlines()
            assert lines[0] == "Traceback (most recent call last):"
            assert lines[1].startswith(f'  File "{tmp_path / "crash.py"}", line ')
            assert lines[-1] == "RuntimeError: the tool crashed"
        logs[mode] = [json.loads(line) for line in (tmp_path / f"{mode}.jsonl").read_text().splitlines()]
    assert logs["warm"] == logs["plain"]
    assert "INSERT INTO t VALUES (1)" in logs["plain"]


THREADS = """
import sqlite3, threading
def work(n):
    db = sqlite3.connect(":memory:")
    for i in range(700):
        db.execute(f"SELECT {n} * 1000 + {i}")
threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
for t in threads: t.start()
for t in threads: t.join()
"""


@pytest.mark.parametrize("mode", MODES)
def test_every_statement_of_every_thread_is_logged_once(tmp_path, mode):
    (tmp_path / "threads.py").write_text(THREADS, encoding="utf-8")
    done = warm.call([str(BIN / "python"), "threads.py"], tmp_path, tool_env(tmp_path), 60, mode)
    assert done.code == 0, done.stderr
    logged = [json.loads(line) for line in (tmp_path / "sql.jsonl").read_text().splitlines()]
    assert sorted(logged) == sorted(f"SELECT {n} * 1000 + {i}" for n in range(4) for i in range(700))


HANG = """
import subprocess, sys, time
child = subprocess.Popen(["sleep", "600"])
print(child.pid, flush=True)
time.sleep(600)
"""


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("mode", MODES)
def test_a_timeout_kills_the_whole_process_group(tmp_path, mode):
    (tmp_path / "hang.py").write_text(HANG, encoding="utf-8")
    done = warm.call([str(BIN / "python"), "hang.py"], tmp_path, tool_env(tmp_path), 2, mode)
    assert done.timed_out and done.code is None and done.mode == mode
    grandchild = int(done.stdout.split()[0])
    for _ in range(100):  # the kill is asynchronous: give the kernel a moment, but do not time anything
        if _gone(grandchild):
            break
        time.sleep(0.1)
    assert _gone(grandchild)


def test_concurrent_calls_each_get_their_own_process(tmp_path):
    (tmp_path / "probe.py").write_text(PROBE, encoding="utf-8")

    def one(n: int) -> tuple[int, dict]:
        cwd = tmp_path / f"call-{n}"
        cwd.mkdir()
        done = warm.call([str(BIN / "python"), "../probe.py", str(n)], cwd, tool_env(tmp_path, N=str(n)), 60, "warm")
        return done.code, json.loads(done.stdout)

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(one, range(12)))
    for n, (code, seen) in enumerate(results):
        assert code == n and seen["env"]["N"] == str(n) and seen["cwd"] == str(tmp_path / f"call-{n}")
        assert seen["fds"] == results[0][1]["fds"]  # nothing of the other calls leaked into this one


def test_a_prestarted_server_serves_the_calls_and_an_unused_one_is_killed(tmp_path):
    (tmp_path / "probe.py").write_text(PROBE, encoding="utf-8")
    warm.stop()
    warm.prestart()
    servers = {s.group: s for s in warm._servers.values()}
    assert sorted(servers) == sorted(warm.GROUPS)  # one per group of tools, all at once
    done = warm.call([str(BIN / "python"), "probe.py", "0"], tmp_path, tool_env(tmp_path), 60, "warm")
    assert (done.code, done.mode) == (0, "warm")
    used = servers[warm.group_of("probe.py")]
    assert list(warm._servers.values()) == list(servers.values()) and used.served  # went to a prestarted server
    warm.stop()
    assert used.proc.returncode == 0  # a server that served calls stops by itself when its channel closes
    assert all(s.proc.returncode == -signal.SIGKILL for s in servers.values() if s is not used)


def test_prestarting_some_groups_starts_only_their_servers():
    warm.stop()
    warm.prestart(["django"])
    warm.prestart(["django"])  # one already started is left as it is
    assert [s.group for s in warm._servers.values()] == ["django"]
    warm.stop()


@pytest.mark.parametrize("framework", ["django", "flask", "fastapi"])
def test_a_framework_s_script_names_the_group_whose_server_forks_its_calls(framework):
    from compare.adapters import ADAPTERS

    adapter = ADAPTERS[framework]
    expected = {"django": "django", "flask": "sqlalchemy", "fastapi": "sqlalchemy"}[framework]
    assert warm.group_of(adapter.script()) == expected
    for argv in (adapter.upgrade_command(), adapter.generate_command("x"), adapter.check_command()):
        script, _ = warm._script([str(BIN / argv[0]), *argv[1:]])  # as Sandbox.run calls it
        assert warm.group_of(script) == expected


LOADED = "import sys; print(' '.join(sorted(n for n in sys.argv[1:] if n in sys.modules)))"


@pytest.mark.parametrize("script", ["manage.py", "loaded.py"])
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_call_starts_with_its_own_tools_and_the_run_s_databases_only(tmp_path, database, script):
    from compare.backends import BACKENDS

    (tmp_path / script).write_text(LOADED, encoding="utf-8")
    warm.stop()
    warm.preload(BACKENDS[database].preload)
    group = warm.group_of(script)
    # libpq and its libraries are mapped in every fork; the other tools' libraries fill every fork's memory
    names = ["psycopg", "django.db.backends.postgresql.base", "django.db.migrations", "sqlalchemy", "alembic"]
    done = warm.call([str(BIN / "python"), script, *names], tmp_path, tool_env(tmp_path), 60, "warm")
    assert (done.code, done.mode) == (0, "warm")
    own = {"django": ["django.db.migrations"], "sqlalchemy": ["sqlalchemy", "alembic"]}[group]
    drivers = [d for d in names[:2] if d in BACKENDS[database].preload and warm._in_group(d, group)]
    assert done.stdout.split() == sorted(own + drivers)  # a child starts with what its server imported, only that
    assert [s.group for s in warm._servers.values()] == [group]  # preload() starts no server: the call did
    warm.stop()


def _collapse_works() -> bool:
    """Whether this kernel moves memory onto huge pages on request (MADV_COLLAPSE, Linux 6.1)."""
    import ctypes
    import mmap

    size = 4 << 20
    region = mmap.mmap(-1, size)
    region.write(b"x" * size)  # touched: 4 KB pages to collapse
    address = ctypes.addressof(ctypes.c_char.from_buffer(region))
    return warm.collapse(address, address + size)  # the 2 MB-aligned part of it


def test_the_server_memory_is_on_huge_pages_where_the_kernel_can(tmp_path):
    (tmp_path / "probe.py").write_text(PROBE, encoding="utf-8")
    warm.stop()
    done = warm.call([str(BIN / "python"), "probe.py", "0"], tmp_path, tool_env(tmp_path), 60, "warm")
    assert (done.code, done.mode) == (0, "warm")  # where the kernel cannot, the server serves all the same
    [server] = warm._servers.values()

    def huge_kb() -> int:
        rollup = Path(f"/proc/{server.proc.pid}/smaps_rollup").read_text()
        return int(re.search(r"^AnonHugePages:\s+(\d+) kB", rollup, re.M).group(1))

    if _collapse_works():  # moved before the first call
        assert huge_kb() >= 16 * 1024  # most of the preloaded heap (measured: 68-70 MB of 80 when it is ready)


PROMPT = """
import os, sys
print("terminal:", os.isatty(0), os.isatty(1), os.isatty(2), tuple(os.get_terminal_size()), flush=True)
os.close(os.open("/dev/tty", os.O_RDWR))  # it is the session's controlling terminal
answer = input("Your answer? ")
print("got", answer, file=sys.stderr)
sys.exit(4)
"""


def _answered(child) -> str:
    transcript = io.StringIO()
    child.logfile_read = transcript
    child.expect("Your answer\\? ", timeout=60)
    child.sendline("42")
    child.expect(pexpect.EOF, timeout=60)
    return transcript.getvalue()


def test_a_tool_on_a_terminal_is_answered_the_same_in_both_modes(tmp_path):
    (tmp_path / "prompt.py").write_text(PROMPT, encoding="utf-8")
    argv, env = [str(BIN / "python"), "prompt.py"], tool_env(tmp_path)
    seen = {}
    for mode in MODES:
        terminal = warm.Terminal(argv, tmp_path, env, dimensions=(50, 200), tool_mode=mode)
        try:
            transcript = _answered(pexpect.fdpexpect.fdspawn(terminal.fd, encoding="utf-8"))
            done = terminal.wait(60)
        finally:
            terminal.close()
        assert (done.code, done.mode, done.timed_out) == (4, mode, False)
        seen[mode] = transcript
    spawned = pexpect.spawn(argv[0], argv[1:], cwd=tmp_path, env=env, encoding="utf-8", dimensions=(50, 200))
    seen["pexpect.spawn"] = _answered(spawned)
    spawned.close()
    assert seen["warm"] == seen["plain"] == seen["pexpect.spawn"]
    assert "terminal: True True True (200, 50)" in seen["plain"] and "got 42" in seen["plain"]


# --- the proof: the same scenario in both modes measures the same things ------------------------------------

_TIMINGS = {"seconds", "cpu_seconds", "harness_seconds", "process", "started_at", "environment", "sandbox"}


def _normalized(value):
    """The report without timings, temp paths and the tools' random ids and dates."""
    if isinstance(value, dict):
        return {k: _normalized(v) for k, v in value.items() if k not in _TIMINGS}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    if isinstance(value, str):
        for described in warm.MODES.values():  # the report says which mode ran
            value = value.replace(described, "<tool processes>")
        value = re.sub(r"/[^\s'\"]*/migration-lab-\w+", "<run>", value)  # in $TMPDIR or /dev/shm
        value = re.sub(r"(?<![0-9a-f])[0-9a-f]{12}(?![0-9a-f])", "<revision>", value)
        value = re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?", "<date>", value)
        return re.sub(r"\d+(\.\d+)? s\b", "<n> s", value)
    return value


def _tool_calls(report: dict) -> list[dict]:
    stories = [s for r in report.get("reports", [report]) for s in r["stories"]]
    return [c for s in stories for step in s["steps"] for c in step["tool_calls"]]


def test_the_scenario_measures_the_same_in_both_modes(tmp_path):
    reports = {}
    for mode in MODES:
        out = tmp_path / mode
        proc = subprocess.run(
            [sys.executable, "-m", "compare", "run", "--scenario", "add_read_count", "--quiet", "--out", str(out)],
            cwd=REPO,
            # one hash seed for every process: what a tool prints in set order must not differ by chance; output
            # buffered, as a user's is (unbuffered, what is written to a stream nobody flushes reaches the output)
            env={
                **{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
                warm.ENV_VAR: mode,
                "PYTHONHASHSEED": "0",
            },
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode in (0, 1), proc.stderr
        reports[mode] = json.loads((out / "compare.json").read_text(encoding="utf-8"))
        assert {c["process"] for c in _tool_calls(reports[mode])} == {mode}
    assert len(_tool_calls(reports["warm"])) > 20
    plain, warmed = (json.dumps(_normalized(reports[m]), indent=1, sort_keys=True).splitlines() for m in MODES)
    diff = list(difflib.unified_diff(plain, warmed, "plain", "warm", lineterm=""))
    assert not diff, "\n".join(diff[:80])
