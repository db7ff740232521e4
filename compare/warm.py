"""Tool processes: a fresh interpreter per call (plain), or a fork of one that has already imported the tools (warm).

A tool call's cost is almost all imports. In warm mode one server process per group of tools (GROUPS: Django's
`manage.py`; Alembic and Flask) per harness run imports that group's libraries and their dependencies, nothing of
the apps under test and nothing of the other group's tools, then forks once per call of its group (`python -m
compare run` starts those of the run's frameworks first thing, so that they import on the cores while the harness
imports itself; before its first call each moves its memory onto 2 MB pages, which makes each fork and each
child's exit about twice as cheap).
The child becomes the call: its own session (so a timeout kills its whole process group), the call's stdin, stdout
and stderr, working directory, environment (os.environ replaced), sys.argv and sys.path as a fresh interpreter
would have them for that script and directory, and the SQL tracer installed as `sitecustomize` installs it. It then
runs the very script plain mode runs (the console script in the virtualenv, which calls the tool's entry point, or
`manage.py`) as `__main__`, and exits the way an interpreter does (threads joined, atexit run, streams
flushed; only the teardown of every module is skipped). The server reaps it with `os.wait4` and sends back the exit
status and the child's CPU time.

What a fork cannot give each call: its own hash seed (all calls share the server's, random per run as plain mode's
are per call), and warnings a library emits while it is imported (the server imports it once; it reports them on
its stderr). tests/harness/test_warm.py runs the same calls, and the add_read_count scenario, in both modes and
compares what they saw and did.

The harness talks to each server over one socket pair. Its first message names the modules of the run's databases
(each database's `preload`: psycopg only when the run uses PostgreSQL, so a SQLite run's forks copy none of libpq's
mappings); the server imports those of its group after its part of PRELOAD. Then each request carries the call as
JSON and four file descriptors (a reply socket, stdin, stdout, stderr), so the server, single-threaded, serves
concurrent calls.
This file is also the server's program; it imports nothing of the harness.
"""

from __future__ import annotations

import atexit
import bisect
import fcntl
import functools
import json
import locale
import os
import resource
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MODES = {
    "plain": "plain (a fresh interpreter per call)",
    "warm": "warm (forked from a pre-imported server)",
}
DEFAULT_MODE = "warm"  # measured: see compare/bench.py and reports/bench-compare.json
ENV_VAR = "COMPARE_TOOL_MODE"

# What the server imports before it forks: the tools and the libraries the apps use, never the apps themselves;
# and then the modules of the run's databases (their drivers and dialects: each database's `preload`, see preload()).
PRELOAD = (
    "json",
    "logging.config",
    "argparse",
    "uuid",
    # Django: the management commands and database backends (nothing here reads the settings at import)
    "django.core.management",
    "django.core.management.base",
    "django.core.management.commands.migrate",
    "django.core.management.commands.makemigrations",
    "django.db.migrations.autodetector",
    "django.db.migrations.executor",
    "django.db.migrations.questioner",
    "django.db.migrations.writer",
    "django.db.models",
    "django.db.models.sql.compiler",
    "django.urls",
    "django.http",
    "django.template.backends.django",
    "django.templatetags.static",
    "django.core.checks",
    "django.core.cache.backends.locmem",
    "django.views.debug",
    "django.views.csrf",
    "django.template.defaulttags",
    "django.template.loader_tags",
    "django.templatetags.i18n",
    "django.templatetags.l10n",
    "django.templatetags.tz",
    "django.templatetags.cache",
    "django.utils.translation.reloader",
    "django.utils.lorem_ipsum",
    "dj_database_url",
    "sqlparse",
    # SQLAlchemy and Alembic
    "sqlalchemy",
    "sqlalchemy.orm",
    "alembic",
    "alembic.config",
    "alembic.command",
    "alembic.context",
    "alembic.op",
    "alembic.autogenerate",
    "alembic.runtime.migration",
    "alembic.runtime.environment",
    "alembic.script",
    "alembic.util.messaging",
    "mako.template",
    # Flask, Flask-SQLAlchemy, Flask-Migrate
    "flask",
    "flask.cli",
    "flask.json.provider",
    "flask_sqlalchemy",
    "flask_sqlalchemy.cli",
    "flask_migrate",
    "flask_migrate.cli",
    "werkzeug.exceptions",
    "werkzeug.routing",
    "dotenv",
    "jinja2",
    # the FastAPI app's settings
    "pydantic",
    "pydantic_settings",
)


@dataclass(frozen=True)
class Group:
    """The tools one server forks for: it imports their libraries, and no other tool's."""

    scripts: tuple[str, ...]  # the file names of the scripts whose calls it serves
    packages: tuple[str, ...]  # the top-level packages of PRELOAD (and of a database's preload) only it imports
    arena_mb: int  # Python's 1 MB arenas it maps before it imports (see _side_by_side_arenas)


# One server per group of tools, all started at once, so that they import on both cores while the harness imports
# itself; a call goes to the server of its script (a script of no group, to the first), and its process holds
# nothing of the other tools, as a fresh `python manage.py` holds nothing of SQLAlchemy. A module of no group's
# packages (the standard library's, a database driver) is imported by every server. Measured on the 2-core machine,
# SQLite: the arenas the imports fill, 37 and 20 (47 for one server with both); a fork and a child's exit cost,
# without huge pages, 2.4 + 4.0 ms and 1.0 + 2.0 ms (2.6 + 3.9 ms with both).
GROUPS = {
    "sqlalchemy": Group(
        scripts=("alembic", "flask"),
        packages=(
            "sqlalchemy",
            "alembic",
            "mako",
            "flask",
            "flask_sqlalchemy",
            "flask_migrate",
            "werkzeug",
            "dotenv",
            "jinja2",
            "pydantic",
            "pydantic_settings",
        ),
        arena_mb=40,
    ),
    "django": Group(scripts=("manage.py",), packages=("django", "dj_database_url", "sqlparse"), arena_mb=24),
}


def group_of(script: str) -> str:
    """The group whose server forks for a call of this script."""
    name = os.path.basename(script)
    return next((g for g, group in GROUPS.items() if name in group.scripts), next(iter(GROUPS)))


def _in_group(module: str, group: str) -> bool:
    """Whether this group's server imports the module: one of its own packages', or of no group's."""
    top = module.partition(".")[0]
    owner = next((g for g, grp in GROUPS.items() if top in grp.packages), None)
    return owner in (None, group)


# Variables a fresh interpreter reads as it starts; a call whose values differ from the server's runs plain.
_STARTUP_VARS = ("LANG", "LANGUAGE")
_STARTUP_PREFIXES = ("PYTHON", "LC_")

_mode: str | None = None


def mode() -> str:
    """The tool mode of this run: set_mode()'s, else $COMPARE_TOOL_MODE, else the default."""
    name = _mode or os.environ.get(ENV_VAR) or DEFAULT_MODE
    if name not in MODES:
        raise ValueError(f"unknown tool mode {name!r} (choose from {', '.join(MODES)})")
    return name


def set_mode(name: str | None) -> None:
    """Choose the tool mode for the calls that follow (None: back to $COMPARE_TOOL_MODE or the default)."""
    if name is not None and name not in MODES:
        raise ValueError(f"unknown tool mode {name!r} (choose from {', '.join(MODES)})")
    global _mode
    _mode = name


BIN = Path(sys.executable).parent  # the virtualenv's scripts: the tools' console scripts and python
SQLTRACE = Path(__file__).resolve().parent / "sqltrace"  # the SQL tracer, installed as sitecustomize
# Variables of the developer's shell that must not leak into a tool call.
_SCRUB = (
    "DATABASE_URL",
    "FLASK_APP",
    "DJANGO_SETTINGS_MODULE",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "COMPARE_SQL_LOG",
    "COMPARE_TOOL_MODE",
)


def tool_environment() -> dict[str, str]:
    """The environment of every tool call, before a sandbox adds its own variables (its database, its SQL log)."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", PYTHONPATH=str(SQLTRACE), PYTHONDONTWRITEBYTECODE="1")
    return env


def environment() -> dict[str, str]:
    """For the report's environment section: how the tool processes ran."""
    return {"Tool processes": MODES[mode()]}


# --- cancelling a run: every call in progress is killed, every new one refused ----------------------------------


class Cancelled(Exception):
    """The run was cancelled (Ctrl-C, or a fault in another story): this call was refused or killed."""


class ServerError(RuntimeError):
    """A warm server did not start, or it went away during a call (killed from outside, out of memory)."""


_live: set = set()  # the children of the calls in progress
_live_lock = threading.Lock()
_cancelled = threading.Event()


def cancel() -> None:
    """Kill every call in progress (its whole process group) and refuse new calls, until reset()."""
    _cancelled.set()
    with _live_lock:
        children = list(_live)
    for child in children:
        child.kill()


def reset() -> None:
    """Accept calls again after cancel()."""
    _cancelled.clear()


def _track(child) -> None:
    with _live_lock:
        _live.add(child)
    if _cancelled.is_set():  # cancel() may have run between the caller's check and the line above
        child.kill()


def _untrack(child) -> None:
    with _live_lock:
        _live.discard(child)


def raise_if_cancelled() -> None:
    """Raise Cancelled if the run was cancelled."""
    if _cancelled.is_set():
        raise Cancelled("the run was cancelled")


@dataclass
class Exit:
    """How one tool call ended."""

    code: int | None  # None when it timed out; negative: killed by that signal
    stdout: str
    stderr: str
    seconds: float  # wall time from the spawn to the end (a warm server's own start is not counted)
    cpu_seconds: float  # user + system time of the call's process and the descendants it reaped
    mode: str  # plain or warm: how it actually ran
    timed_out: bool = False

    @property
    def signal(self) -> str | None:
        """The name of the signal that killed the tool (SIGKILL...), None if it exited or timed out."""
        if self.code is None or self.code >= 0:
            return None
        try:
            return signal.Signals(-self.code).name
        except ValueError:
            return f"signal {-self.code}"


def call(argv: list[str], cwd: Path, env: dict[str, str], timeout: float, tool_mode: str | None = None) -> Exit:
    """Run one tool command (argv[0] an absolute path) with stdin on /dev/null, its output captured as text."""
    raise_if_cancelled()
    name = tool_mode or mode()
    server = _server_for(argv, env) if name == "warm" else None
    # Output goes to in-memory files, read once the call has ended: a pipe would wake the harness at every write
    out, err = os.memfd_create("stdout"), os.memfd_create("stderr")
    devnull = os.open(os.devnull, os.O_RDWR)
    start = time.perf_counter()
    try:
        try:
            if server is not None:
                child = server.spawn(argv, cwd, env, (devnull, out, err))
            else:
                child = _Plain(argv, cwd, env, (devnull, out, err))
        finally:
            os.close(devnull)
        _track(child)
        try:
            timed_out = _wait(child, timeout)
        finally:
            child.close()
            _untrack(child)
        stdout, stderr = _contents(out), _contents(err)
    finally:
        os.close(out)
        os.close(err)
    raise_if_cancelled()  # a call killed by cancel() has no result
    seconds = time.perf_counter() - start
    code = None if timed_out else child.code
    text = _text(stdout), _text(stderr)
    return Exit(code, *text, seconds, child.cpu_seconds, "warm" if server else "plain", timed_out)


def _text(data: bytes) -> str:
    """Decode output as subprocess's text mode does: the locale's encoding, universal newlines."""
    text = data.decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _wait(child, timeout: float) -> bool:
    """Wait for the call's exit; kill its process group at the deadline (and then wait for it). Whether it timed
    out."""
    deadline, timed_out = time.monotonic() + timeout, False
    with selectors.DefaultSelector() as sel:
        sel.register(child.exit_fd, selectors.EVENT_READ)
        while True:
            wait = None if timed_out else max(deadline - time.monotonic(), 0)
            if sel.select(wait):
                if child.poll():
                    return timed_out
            elif not timed_out:
                child.kill()
                timed_out = True


def _contents(fd: int) -> bytes:
    """All that was written to an output file (its writers may have moved its offset anywhere)."""
    return os.pread(fd, os.fstat(fd).st_size, 0)


class _Plain:
    """A fresh interpreter per call: the console script run by the kernel, in its own session."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str], fds: tuple[int, int, int]):
        # a terminal on stdin becomes the controlling terminal of the new session, as pexpect makes it
        tty = _controlling_terminal if os.isatty(fds[0]) else None
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=fds[0],
            stdout=fds[1],
            stderr=fds[2],
            start_new_session=True,
            preexec_fn=tty,  # one ioctl between fork and exec, as pexpect's own spawn does
        )
        self.exit_fd = os.pidfd_open(self.proc.pid)
        self.code: int | None = None
        self.cpu_seconds = 0.0

    def poll(self) -> bool:
        pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
        if pid == 0:
            return False
        self.code = self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.cpu_seconds = usage.ru_utime + usage.ru_stime
        return True

    def kill(self) -> None:
        _killpg(self.proc.pid)

    def close(self) -> None:
        os.close(self.exit_fd)
        if self.code is None:  # only after a failure of the harness itself: do not leave a zombie
            _killpg(self.proc.pid)
            self.proc.wait()


def _controlling_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """A tool call on a pseudo-terminal, for tools that must be answered at their prompts.

    `fd` is the terminal's master end: read the tool's output and type its answers there, for example with
    `pexpect.fdpexpect.fdspawn(terminal.fd, encoding="utf-8")`. The tool runs, plain or warm, in its own session
    with the terminal as its stdin, stdout, stderr and controlling terminal, as `pexpect.spawn` would start it.
    """

    def __init__(
        self,
        argv: list[str],
        cwd: Path,
        env: dict[str, str],
        dimensions: tuple[int, int] = (24, 80),
        tool_mode: str | None = None,
    ):
        raise_if_cancelled()
        name = tool_mode or mode()
        server = _server_for(argv, env) if name == "warm" else None
        self.fd, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *dimensions, 0, 0))
        self.mode = "warm" if server else "plain"
        self.start = time.perf_counter()
        try:
            self.child = server.spawn(argv, cwd, env, (slave,) * 3) if server else _Plain(argv, cwd, env, (slave,) * 3)
        finally:
            os.close(slave)
        _track(self.child)
        self.done: Exit | None = None

    def wait(self, timeout: float) -> Exit:
        """Wait for the tool to end (killing its process group after `timeout` seconds); how it ended.

        The output is not in the Exit: it went to the terminal, read from `fd`.
        """
        if self.done is None:
            timed_out = _wait(self.child, timeout)
            seconds = time.perf_counter() - self.start
            code = None if timed_out else self.child.code
            self.done = Exit(code, "", "", seconds, self.child.cpu_seconds, self.mode, timed_out)
        return self.done

    def kill(self) -> None:
        """Kill the tool's whole process group."""
        self.child.kill()

    def close(self) -> None:
        """Release the terminal (and kill the tool if it has not ended)."""
        self.child.close()
        _untrack(self.child)
        os.close(self.fd)


def _killpg(pid: int | None) -> None:
    if pid is None:
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# --- warm mode: the harness's side ------------------------------------------------------------------------


def _script(argv: list[str]) -> tuple[str, list[str]] | None:
    """The Python file plain mode's interpreter runs as __main__, and its sys.argv; None if not one of ours."""
    exe = Path(argv[0])
    if exe.name.startswith("python") and exe.parent == Path(sys.executable).parent:
        if len(argv) > 1 and argv[1].endswith(".py"):
            return argv[1], argv[1:]
        return None
    try:
        with open(exe, "rb") as f:
            shebang = f.readline().strip()
    except OSError:
        return None
    if shebang != b"#!" + os.fsencode(sys.executable):
        return None
    return str(exe), argv


class _Server:
    """The harness's handle on a warm server: one process per group of tools and run, serving concurrent calls."""

    def __init__(self, env: dict[str, str], group: str):
        import tempfile

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.group = group
        self.started = time.perf_counter()
        self.log = tempfile.TemporaryFile(prefix="compare-warm-")  # the server's own stderr
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT, __file__, str(theirs.fileno()), group],
            cwd="/",  # nothing is imported from it: the server drops the '' that -c puts first on sys.path
            env={k: v for k, v in env.items() if k not in ("COMPARE_SQL_LOG", "DATABASE_URL")},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            pass_fds=[theirs.fileno()],
            start_new_session=True,  # a Ctrl-C in the terminal does not reach it; it stops when the harness does
        )
        theirs.close()
        self.sock = ours
        self.lock = threading.Lock()
        self.ready_lock = threading.Lock()
        self.modules_sent = False
        self.ready = False
        self.served = False

    def preload(self, modules: Iterable[str]) -> None:
        """Send the server the modules to import after PRELOAD, once: it waits for them before it serves."""
        with self.lock:
            if not self.modules_sent:
                self.sock.send(json.dumps(list(dict.fromkeys(modules))).encode())
                self.modules_sent = True

    def wait_ready(self) -> None:
        """Wait until the server has imported the tools (ServerError if it could not); at once if it has."""
        if self.ready:
            return
        with self.ready_lock:  # one thread reads the answer; the others wait for it
            if self.ready:
                return
            self.preload(_databases or ())  # () if nobody said which databases the calls use: only PRELOAD
            ready = self.sock.recv(64).split()
            if not ready or ready[0] != b"ready":
                self.proc.wait()
                raise ServerError(f"the warm tool server ({self.group}) did not start: {self.errors()}")
            self.start_seconds = time.perf_counter() - self.started
            self.start_cpu_seconds = float(ready[1])
            self.ready = True

    def errors(self) -> str:
        self.log.seek(0)
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None and code < 0:
            ended = f"killed by {signal.Signals(-code).name}"
        else:
            ended = f"exit code {code}"
        return self.log.read().decode(errors="replace").strip() or ended

    def alive(self) -> bool:
        return self.proc.poll() is None

    def spawn(self, argv: list[str], cwd: Path, env: dict[str, str], fds: tuple[int, int, int]) -> _Forked:
        script, script_argv = _script(argv)
        self.served = True
        request = {"script": script, "argv": script_argv, "orig_argv": argv, "cwd": str(cwd), "env": env}
        return _Forked(self, request, fds)

    def stop(self) -> None:
        if not self.served:  # started ahead (prestart) and never used: nothing of it is needed
            self.proc.kill()
        self.sock.close()  # the server exits when its end of the channel closes
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class _Forked:
    """One call served by a warm server: the child writes its pid, the server its exit status and CPU time."""

    def __init__(self, server: _Server, request: dict, fds: tuple[int, int, int]):
        self.reply, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with server.lock:
                socket.send_fds(server.sock, [json.dumps(request).encode()], [theirs.fileno(), *fds])
        finally:
            theirs.close()
        self.exit_fd = self.reply.fileno()
        self.server = server
        self.pid: int | None = None
        self.code: int | None = None
        self.cpu_seconds = 0.0
        self._buffer = b""
        self._killed = False

    def poll(self) -> bool:
        data = self.reply.recv(65536)
        if not data:  # the server went away without an answer
            raise ServerError(f"the warm tool server (pid {self.server.proc.pid}) stopped: {self.server.errors()}")
        self._buffer += data
        done = False
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            message = json.loads(line)
            if "pid" in message:
                self.pid = message["pid"]
                if self._killed:
                    _killpg(self.pid)
            else:
                self.code, self.cpu_seconds, done = message["code"], message["cpu"], True
        return done

    def kill(self) -> None:
        self._killed = True  # a child that has not said its pid yet is killed as soon as it does
        _killpg(self.pid)

    def close(self) -> None:
        self.reply.close()
        if self.code is None:  # only after a failure of the harness or the server: do not leave the call running
            _killpg(self.pid)


_servers: dict[tuple, _Server] = {}
_servers_lock = threading.Lock()
_databases: list[str] | None = None  # the modules the first preload() named


def _startup_var(name: str) -> bool:
    return name in _STARTUP_VARS or name.startswith(_STARTUP_PREFIXES)


def _server(env: dict[str, str], group: str, wait: bool = True) -> _Server:
    """The warm server of this group for calls with these start-up variables, started on first use (or by
    prestart()); with `wait`, once it is ready (a call waits for its own group's server only)."""
    key = (group, *sorted((k, v) for k, v in env.items() if _startup_var(k)))
    with _servers_lock:
        server = _servers.get(key)
        if server is None or (server.ready and not server.alive()):
            if not _servers:
                atexit.register(stop)
            server = _servers[key] = _Server(env, group)
    if wait:
        server.wait_ready()
    return server


def _server_for(argv: list[str], env: dict[str, str]) -> _Server | None:
    """The ready server of the call's group; None for a command that is not a Python script of this virtualenv
    (it runs plain, and its Exit says so)."""
    script = _script(argv)
    return None if script is None else _server(env, group_of(script[0]))


def prestart(groups: Iterable[str] = GROUPS) -> None:
    """Start the warm servers of these groups (default: all) for the calls of this run now, without waiting for
    them: they import the tools on the cores while the harness imports itself and prepares the sandboxes. Those
    running already are left as they are; one left unused is killed at exit."""
    if mode() == "warm":
        for group in groups:
            _server(tool_environment(), group, wait=False)


def preload(modules: Iterable[str]) -> None:
    """Have the warm servers import these modules too (the run's databases' drivers and dialects, each server those
    of its group) before they fork: those started now, and any started later (on a call of its group) as it starts.
    The first list counts: a call imports whatever else it needs itself, as in plain mode."""
    global _databases
    if mode() == "warm":
        with _servers_lock:
            if _databases is None:
                _databases = list(dict.fromkeys(modules))
            servers = list(_servers.values())
        for server in servers:
            server.preload(_databases)


def server_start_cost(modules: Iterable[str] = ()) -> tuple[float, float]:
    """Start the warm servers as a run starts them (preloading these modules too) and stop them: the wall time
    until the last is ready, and their CPU time."""
    modules = list(modules)
    servers = [_Server(tool_environment(), group) for group in GROUPS]
    try:
        for server in servers:
            server.preload(modules)
        for server in servers:
            server.wait_ready()
        return max(s.start_seconds for s in servers), sum(s.start_cpu_seconds for s in servers)
    finally:
        for server in servers:
            server.stop()


def stop() -> None:
    """Stop the warm servers (each also stops by itself when the harness's process ends); the next preload() counts
    again."""
    global _databases
    with _servers_lock:
        for server in _servers.values():
            server.stop()
        _servers.clear()
        _databases = None


# --- warm mode: the server and its children ------------------------------------------------------------------

# `python -c _BOOT warm.py FD`: sys.path holds only what every call's interpreter has after its script directory.
_BOOT = "import sys; del sys.path[0]; __file__ = sys.argv[1]; exec(compile(open(__file__).read(), __file__, 'exec'))"


def _serve(channel_fd: int, group: str):
    """Import the tools, then fork once per request; return only in a forked child, with what it must run (the
    server itself exits when the harness closes the channel)."""
    base_path = list(sys.path)
    import gc
    import warnings

    gc.disable()  # importing creates no garbage worth collecting: the collector would only re-scan the imports
    _ARENAS[:] = _side_by_side_arenas(GROUPS[group].arena_mb)
    channel = socket.socket(fileno=channel_fd)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _import(m for m in PRELOAD if _in_group(m, group))
        databases = channel.recv(1 << 16)  # _Server.preload: sent as soon as the harness knows the run's databases
        if not databases:
            exit_now(0)
        _import(m for m in json.loads(databases) if _in_group(m, group))
    for w in caught:
        print(f"warm server: warning while preloading: {w.category.__name__}: {w.message}", file=sys.stderr)
    sys.stdout.flush()  # nothing written so far may reach a call's output: the calls write on these streams
    sys.stderr.flush()
    strays = _strays()
    if strays:  # refuse to serve: the calls would not see a fresh sandbox
        raise SystemExit(f"warm server: modules from outside the tools' libraries were imported: {strays}")
    gc.freeze()  # the children share the preloaded objects: keep the collector from touching their pages
    gc.enable()  # as in a fresh interpreter, for the server's loop and, inherited, for every call
    _FILLED[:] = _fill_free_blocks()
    # All before the first fork, from which on the children share the memory (measured: 21-28 ms for 68 MB in 6 of
    # 10 starts, 74-156 ms in the other 4)
    for span in _huge_spans():
        collapse(*span)

    usage = resource.getrusage(resource.RUSAGE_SELF)
    channel.send(b"ready %.4f" % (usage.ru_utime + usage.ru_stime))
    # The loop calls C functions on plain file descriptors (epoll, not selectors; no socket objects): after each
    # fork, every page the server writes is copied while the child shares it, and Python code writes to the
    # objects it touches.
    poll = select.epoll()
    poll.register(channel_fd, select.EPOLLIN)
    calls: dict[int, tuple[int, int]] = {}  # pidfd -> the call's pid and reply socket
    while True:
        for fd, _ in poll.poll():
            if fd == channel_fd:
                try:
                    message, fds, _, _ = socket.recv_fds(channel, 1 << 20, 4)
                except OSError:
                    message, fds = b"", []
                if not message:  # the harness has gone: no need to tear down the preloaded modules
                    exit_now(0)
                pid = os.fork()
                if pid == 0:
                    poll.close()
                    for pidfd, (_, reply) in calls.items():
                        os.close(pidfd)
                        os.close(reply)
                    channel.close()
                    return json.loads(message), fds[0], fds[1:], base_path
                for extra in fds[1:]:
                    os.close(extra)
                pidfd = os.pidfd_open(pid)
                calls[pidfd] = pid, fds[0]
                poll.register(pidfd, select.EPOLLIN)
            else:
                pid, reply = calls.pop(fd)
                poll.unregister(fd)  # before closing: a child forked since may still hold a copy of the pidfd
                os.close(fd)
                _, status, usage = os.wait4(pid, 0)
                cpu = usage.ru_utime + usage.ru_stime
                answer = b'{"code": %d, "cpu": %r}\n' % (os.waitstatus_to_exitcode(status), cpu)
                try:
                    os.write(reply, answer)
                except OSError:
                    pass  # the harness gave up on this call
                os.close(reply)


def _import(names: Iterable[str]) -> None:
    import importlib

    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001  (left for the call to import, as plain mode does)
            print(f"warm server: not preloaded: {name}: {type(exc).__name__}: {exc}", file=sys.stderr)


_ARENAS: list[bytes] = []  # a block of each arena mapped at start, kept by the server and its children
_FILLED: list[object] = []  # what _fill_free_blocks allocated, kept likewise


def _side_by_side_arenas(megabytes: int) -> list[bytes]:
    """Have Python's small-object allocator map its 1 MB arenas now, side by side, and keep them mapped: the imports
    then fill them instead of the 1 MB holes that loading the libraries leaves between them, and most of the region
    becomes 2 MB pages (_huge_spans). Measured on the 2-core machine with everything preloaded (about 50 MB of
    arenas): 2,800 to 3,600 page-table entries for each fork to copy instead of 5,400 to 6,900, so a fork costs the
    server 0.66-0.72 ms instead of 0.86-0.95 and a child's exit 0.2 ms less. The imports take no longer: they use
    the memory these blocks touched.

    Returns one block of each arena: an arena is unmapped only when all its blocks are free.
    """
    blocks = [[bytes(400) for _ in range((1 << 20) // 448)] for _ in range(megabytes)]  # 448-byte blocks
    kept: dict[int, bytes] = {}
    for chunk in blocks:  # a list per MB: one list of them all would be large enough to be mapped on its own
        for block in chunk:
            kept.setdefault(id(block) >> 20, block)
    return list(kept.values())


def _fill_free_blocks(limit: int = 16 << 20) -> list[object]:
    """Fill the free blocks and pools that the imports left in the small-object allocator's arenas with objects
    kept for good, so that what the server's own loop allocates comes from arenas mapped after this, which are not
    moved onto huge pages. A write by the server to a huge page that its children share splits it into 512 small
    ones again for every later fork to copy, and the loop's allocations landed in free blocks all over the arenas.
    Measured on the 2-core machine, 8 s into a catalog run: 13 of the server's 2 MB pages were still whole
    without this, 23-24 with it; the server's CPU over the run (5 runs each, alternating) 1.40-1.80 s (mean 1.59)
    without, 1.40-1.57 s (mean 1.49) with. It keeps about 7 MB, most of it free pools, and never more than
    `limit` whatever the allocator (PYTHONMALLOC=malloc has no arenas).

    For each size class, largest first (the unused pools go to the first one that needs a new pool), it allocates
    blocks until a few in a row come from memory that was not mapped before.
    """
    with open("/proc/self/maps") as maps:
        mapped = sorted(tuple(int(x, 16) for x in line.split(None, 1)[0].split("-")) for line in maps)
    starts = [start for start, _ in mapped]
    kept: list[object] = []
    total = 0
    for size in range(512, 0, -16):  # CPython's 32 size classes, 16 bytes apart
        new_in_a_row = 0
        while new_in_a_row < 4 and total < limit:
            # bytes(n) takes 33 + n bytes; an object() 16 and a float 24 (the 32-byte class)
            block = bytes(size - 33) if size > 32 else float(size) if size == 32 else object()
            kept.append(block)
            total += size
            at = bisect.bisect(starts, id(block)) - 1
            new_in_a_row = new_in_a_row + 1 if at < 0 or id(block) >= mapped[at][1] else 0
    return kept


def _huge_spans() -> list[tuple[int, int]]:
    """The 2 MB spans of the server's memory to move onto huge pages (Linux 6.1's MADV_COLLAPSE), so that each fork
    copies, and each child's exit frees, one page-table entry per 2 MB instead of 512. Measured on the 2-core
    machine, with everything preloaded and the arenas side by side: a fork costs the server 0.87 ms with 68 MB on
    2 MB pages, 1.73 ms with none. The pages the server's own loop writes to while children share them are split
    again in a run's first second; 56-60 MB stay whole (38-50 MB when the spans were moved between calls, after
    the first forks).

    Best effort: where the kernel cannot (an older one, huge pages disabled), the memory stays as it is. A child
    that writes to a 2 MB page gets its own copy of the 4 KB it wrote, as before.
    """
    with open("/proc/self/maps") as maps:
        regions = [line.split() for line in maps]
    spans = []
    for fields in regions:
        if fields[1] != "rw-p" or (len(fields) > 5 and fields[5] != "[heap]"):
            continue  # only private writable memory: the heap and anonymous mappings, not a library's data
        start, end = _whole_huge_pages(*(int(x, 16) for x in fields[0].split("-")))
        spans += [(at, at + _HUGE) for at in range(start, end, _HUGE)]
    return spans


_HUGE = 1 << 21
_MADV_COLLAPSE = 25  # <linux/mman.h>; Python 3.11's mmap module does not name it


def collapse(start: int, end: int) -> bool:
    """Ask the kernel to move the whole 2 MB pages between the addresses onto huge pages; whether it did (an older
    kernel, or one with huge pages disabled, refuses harmlessly)."""
    start, end = _whole_huge_pages(start, end)
    return end > start and _madvise()(start, end - start, _MADV_COLLAPSE) == 0


def _whole_huge_pages(start: int, end: int) -> tuple[int, int]:
    """The part of the address range made of whole 2 MB pages (empty when there is none: end <= start)."""
    return -(-start // _HUGE) * _HUGE, end // _HUGE * _HUGE


@functools.cache
def _madvise():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc.madvise


def _strays() -> list[str]:
    """Loaded modules that come neither from Python nor the virtualenv's libraries (nor the SQL tracer)."""
    ours = (str(SQLTRACE), os.path.abspath(__file__))
    libraries = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if (path := getattr(module, "__file__", None)) and not os.path.abspath(path).startswith((*libraries, *ours))
    )


def _become(request: dict, reply: int, fds: list[int], base_path: list[str]) -> None:
    """In the forked child: become the tool call as a fresh interpreter would start it, then run its script."""
    os.setsid()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    if os.isatty(0):  # a terminal on stdin becomes the controlling terminal of the new session
        _controlling_terminal()
    os.write(reply, b'{"pid": %d}\n' % os.getpid())
    os.close(reply)

    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    script = request["script"]
    sys.argv = list(request["argv"])
    orig = request["orig_argv"]
    sys.orig_argv = [sys.executable, *orig] if script == orig[0] else list(orig)  # a console script: via its #!
    sys.path[:] = [os.path.dirname(os.path.realpath(script)), *base_path]
    import importlib

    importlib.invalidate_caches()
    sys.stdin = sys.__stdin__ = _stdio(0, sys.__stdin__, "r")
    sys.stdout = sys.__stdout__ = _stdio(1, sys.__stdout__, "w")
    sys.stderr = sys.__stderr__ = _stdio(2, sys.__stderr__, "w")
    if os.environ.get("COMPARE_SQL_LOG"):
        import sitecustomize

        sitecustomize._install()
    exit_now(_run_main(script))


def _stdio(fd: int, old, mode: str):
    """The server's own standard stream on `fd` (made by the interpreter at start-up, with the same environment),
    buffered as the interpreter buffers it for what `fd` now is: the same object, so that what a library kept of it
    when the server imported it (Alembic's Config(stdout=sys.stdout)) writes where the call's print() does, in the
    same buffer, and is flushed at exit. A new stream would leave such output in a buffer nobody flushes."""
    if mode == "w" and not old.write_through:  # -u or PYTHONUNBUFFERED: the same for this server and its calls
        old.reconfigure(line_buffering=os.isatty(fd) or fd == 2)
    return old


def _run_main(script: str) -> int:
    """Run the script as __main__; return its exit code, an uncaught exception printed as the interpreter does."""
    import builtins
    import importlib.machinery
    import types

    main = types.ModuleType("__main__")
    main.__file__ = script = os.path.abspath(script)
    main.__builtins__ = builtins
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", script)
    sys.modules["__main__"] = main
    if "__mp_main__" in sys.modules:  # multiprocessing's alias of __main__, made when it was imported
        sys.modules["__mp_main__"] = main
    with open(script, "rb") as f:
        code = compile(f.read(), script, "exec")
    try:
        exec(code, main.__dict__)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return (exc.code or 0) % 256  # as the interpreter exits: sys.exit(-1) is status 255, not a signal
        print(exc.code, file=sys.stderr)
        return 1
    except BaseException as exc:
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None  # from the script's frame on
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        return -signal.SIGINT if isinstance(exc, KeyboardInterrupt) else 1
    return 0


def exit_now(code: int) -> None:
    """End the process as the interpreter ends: join the threads, run atexit, flush the streams; then exit.

    The last part of an interpreter's shutdown, tearing down every module, is skipped: it costs tens of
    milliseconds for the preloaded libraries (a tenth of a second for the harness after a catalog run) and does
    nothing a tool's outcome, or a report, depends on.
    """
    threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001  (as the interpreter: a stream that cannot be flushed is ignored)
            pass
    if code < 0:  # killed by this signal, as an uncaught KeyboardInterrupt ends an interpreter
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


if __name__ == "__main__" and sys.argv[0] == "-c":
    _become(*_serve(int(sys.argv[2]), sys.argv[3]))
