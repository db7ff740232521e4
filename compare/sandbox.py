"""Throwaway copies of an app, and the real tool calls made inside them."""

from __future__ import annotations

import difflib
import errno
import functools
import hashlib
import io
import os
import re
import shlex
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path, PurePath

from compare import warm
from compare.adapters import Adapter
from compare.model import File, Statement, ToolCall
from compare.scenario import MIGRATION, MODEL, Answer, Edit
from compare.snapshot import read_sql_log

REPO = Path(__file__).resolve().parent.parent
BIN = warm.BIN


class EditError(Exception):
    """A hand edit does not fit the file: its anchor line is missing or not unique."""


class SandboxError(Exception):
    """A story's sandbox cannot be prepared: the app is not what the scenario expects, or its database failed."""


class RunFault(Exception):
    """Something outside the tools broke the run: a full or read-only disk, a tool killed from outside, a database
    locked by another process, an unreachable server. No measurement of the run can be trusted: it stops."""


# Signals a tool does not send itself: the process was killed by someone else (a user, the OOM killer, a shutdown).
EXTERNAL_SIGNALS = ("SIGKILL", "SIGTERM", "SIGHUP", "SIGINT", "SIGQUIT")
_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)
_DISK_FULL_TEXT = ("No space left on device", "database or disk is full", "Disk quota exceeded")
_DISK_TEXT = (*_DISK_FULL_TEXT, "Read-only file system")


def disk_fault(exc: OSError, where: Path) -> RunFault | None:
    """The RunFault for an OSError that says the disk is full or read-only (None for any other error).

    `where` is the directory the sandboxes are made in.
    """
    if exc.errno in _DISK_ERRNOS:
        cause = exc.strerror
    else:
        cause = next((text for text in _DISK_TEXT if text in str(exc)), None)
    if cause is None:
        return None
    return RunFault(f"{cause} in {where} (TMPDIR: the sandboxes are made there)")


@dataclass
class Result:
    call: ToolCall
    stdout: str
    stderr: str
    sql: list[Statement]
    written: list[File]
    error: str | None


class Sandbox:
    """A temp copy of one app without its migrations, bound to its own database."""

    def __init__(self, adapter: Adapter, root: Path, database_url: str, start: list[Edit], timeout: float):
        self.adapter = adapter
        self.root = root
        self.app = root / adapter.app_dir
        self.database_url = database_url
        self.timeout = timeout
        self._calls = 0
        self._digests: dict[tuple[str, int, int], str] = {}
        self.last_migration: str | None = None  # the script the last generate step wrote (for MIGRATION edits)
        for path, (content, mode) in _app_files(adapter.app_dir).items():
            if not adapter.is_script(path) and not any(PurePath(path).is_relative_to(s) for s in adapter.scaffold):
                target = self.app / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
                target.chmod(mode)
        try:
            self.apply(start)
        except EditError as exc:
            raise SandboxError(f"the start state cannot be made: {exc}") from None

    def apply(self, edits: list[Edit]) -> str:
        """Apply hand edits to the app copy's files; return them as one unified diff."""
        paths = {MODEL: self.adapter.model_file, MIGRATION: self.last_migration}
        diff: list[str] = []
        for path in dict.fromkeys(paths.get(e.path, e.path) for e in edits):
            if path is None:
                raise EditError("no migration script was written to edit")
            file = self.app / path
            old = file.read_text(encoding="utf-8").splitlines()
            new = list(old)
            for e in (e for e in edits if paths.get(e.path, e.path) == path):
                i, lines = _locate(new, e, f"{self.adapter.app_dir}/{path}"), e.lines.splitlines()
                if e.action == "body":
                    indent = len(e.find) - len(e.find.lstrip())
                    end = i + 1
                    while end < len(new) and (not new[end].strip() or len(new[end]) - len(new[end].lstrip()) > indent):
                        end += 1
                    while end > i + 1 and not new[end - 1].strip():  # keep the blank lines after the block
                        end -= 1
                    new[i + 1 : end] = lines
                    continue
                new[i : i + 1] = {"after": [e.find, *lines], "before": [*lines, e.find], "replace": lines}.get(
                    e.action, []
                )
            file.write_text("\n".join(new) + "\n", encoding="utf-8")
            diff += difflib.unified_diff(old, new, f"a/{path}", f"b/{path}", lineterm="")
        return "\n".join(diff)

    def env(self, sql_log: Path) -> dict[str, str]:
        env = warm.tool_environment()
        env.update(
            COMPARE_SQL_LOG=str(sql_log),
            DATABASE_URL=self.database_url,
            BLOG_API_TOKEN="sandbox",
        )
        return env

    def files(self) -> dict[str, str]:
        """Path -> content hash of every file in the app copy (a file whose size and mtime are unchanged since the
        last look keeps its hash: only files a tool wrote are read again)."""
        found: dict[str, str] = {}
        self._hash_files(str(self.app), "", found)
        return dict(sorted(found.items()))

    def _hash_files(self, directory: str, prefix: str, found: dict[str, str]) -> None:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_dir():
                    if entry.name != "__pycache__" and not entry.is_symlink():
                        self._hash_files(entry.path, f"{prefix}{entry.name}/", found)
                    continue
                st = entry.stat()
                key = (entry.path, st.st_size, st.st_mtime_ns)
                if key not in self._digests:
                    with open(entry.path, "rb") as f:
                        self._digests[key] = hashlib.sha256(f.read()).hexdigest()
                found[prefix + entry.name] = self._digests[key]

    def read(self, paths: list[str]) -> list[File]:
        return [File(p, (self.app / p).read_text(encoding="utf-8")) for p in sorted(paths)]

    def run(self, argv: list[str], tool_mode: str | None = None) -> Result:
        """Run one real tool command in the app copy, with a timeout; record its SQL and the files it wrote.

        The tool runs as a fresh interpreter or forked from its warm server (compare.warm; `tool_mode` overrides the
        run's mode for this call); either way with the same argv, cwd, environment and stdin, in its own session,
        killed with its process group at the timeout.
        """
        self._calls += 1
        sql_log = self.root / f"sql-{self._calls:02d}.jsonl"
        t0 = time.perf_counter()
        self.check_unlocked()
        before = self.files()
        start = time.perf_counter()
        done = warm.call([str(BIN / argv[0]), *argv[1:]], self.app, self.env(sql_log), self.timeout, tool_mode)
        seconds, waited = done.seconds, time.perf_counter() - start
        error = f"timed out after {self.timeout:g} s" if done.timed_out else None
        if done.code:
            self.check_fault(argv, done.signal, done.stderr or done.stdout)
            error = f"exit code {done.code}: {_last_line(done.stderr or done.stdout)}"
        after = self.files()
        written = [p for p, digest in after.items() if before.get(p) != digest]
        sql, files = read_sql_log(sql_log), self.read(written)
        harness = time.perf_counter() - t0 - waited
        return Result(
            call=ToolCall(
                command=shlex.join(argv),
                exit_code=done.code,
                seconds=round(seconds, 3),
                cpu_seconds=round(done.cpu_seconds, 3),
                harness_seconds=round(harness, 4),
                process=done.mode,
            ),
            stdout=done.stdout,
            stderr=done.stderr,
            sql=sql,
            written=files,
            error=error,
        )

    def check_unlocked(self) -> None:
        """Raise RunFault if another process holds the write lock of the story's SQLite database.

        A tool would wait for its busy timeout (20 s in the apps) and then fail with "database is locked".
        """
        if not self.database_url.startswith("sqlite:///"):
            return
        path = Path(self.database_url.removeprefix("sqlite:///"))
        if not path.exists():
            return
        con = sqlite3.connect(path, timeout=1, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise RunFault(f"the SQLite database {path} is locked by another process ({exc})") from None
            raise
        finally:
            con.close()

    def check_fault(self, argv: list[str], killed_by: str | None, output: str) -> None:
        """Raise RunFault when a failed call failed because of the machine, not the tool."""
        command = shlex.join(argv)
        if killed_by in EXTERNAL_SIGNALS:
            raise RunFault(f"`{command}` was killed by {killed_by}, from outside the run (story {self.root.name})")
        if any(text in output for text in _DISK_FULL_TEXT):
            raise RunFault(
                f"no space left on the disk of {self.root.parent} (TMPDIR): `{command}` says: {_last_line(output)}"
            )
        if "database is locked" in output:
            raise RunFault(
                f"the database of {self.root.name} is locked by another process: `{command}` says: {_last_line(output)}"
            )

    def run_interactive(self, argv: list[str], answers: list[Answer]) -> Result:
        """Run a tool in a pseudo-terminal and type the answers at its prompts, as a person would.

        The transcript (what the tool printed and what was typed, echoed by the terminal) is the step's stdout.
        """
        from pexpect import EOF, TIMEOUT, fdpexpect

        self._calls += 1
        sql_log = self.root / f"sql-{self._calls:02d}.jsonl"
        before = self.files()
        error, typed, transcript = None, 0, io.StringIO()
        terminal = warm.Terminal([str(BIN / argv[0]), *argv[1:]], self.app, self.env(sql_log), dimensions=(50, 200))
        child = fdpexpect.fdspawn(terminal.fd, encoding="utf-8")
        child.logfile_read = transcript
        try:
            for a in answers:
                child.expect(a.prompt, timeout=self.timeout)
                child.sendline(a.answer)
                typed += 1
            child.expect(EOF, timeout=self.timeout)
        except TIMEOUT:
            terminal.kill()
            error = f"timed out after {self.timeout:g} s"
        except EOF:
            error = f"the tool ended before asking {answers[typed].prompt!r}"
        done = terminal.wait(self.timeout)
        terminal.close()
        warm.raise_if_cancelled()
        code = done.code
        stdout = transcript.getvalue().replace("\r\n", "\n")
        if code:
            self.check_fault(argv, done.signal, stdout)
        if code and not error:
            error = f"exit code {code}: {_last_line(stdout)}"
        after = self.files()
        written = [p for p, digest in after.items() if before.get(p) != digest]
        return Result(
            call=ToolCall(
                command=shlex.join(argv),
                exit_code=code,
                seconds=round(done.seconds, 3),
                cpu_seconds=round(done.cpu_seconds, 3),
                process=done.mode,
            ),
            stdout=stdout,
            stderr="",
            sql=read_sql_log(sql_log),
            written=self.read(written),
            error=error,
        )


@functools.cache
def _app_files(app_dir: str) -> dict[str, tuple[bytes, int]]:
    """The app's files in the repo (bytecode apart), read once per run: path -> content and permission bits."""
    found = {}
    for directory, subdirs, names in os.walk(REPO / app_dir):
        subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
        for name in sorted(n for n in names if not n.endswith(".pyc")):
            path = Path(directory, name)
            found[path.relative_to(REPO / app_dir).as_posix()] = path.read_bytes(), path.stat().st_mode & 0o7777
    return found


def _locate(lines: list[str], edit: Edit, where: str) -> int:
    """The index of the line an edit applies to; EditError if it is missing or ambiguous."""
    start = 0
    if edit.within is not None:
        found = [i for i, line in enumerate(lines) if line == edit.within]
        if len(found) != 1:
            raise EditError(f"{where} must contain this line exactly once: {edit.within!r}")
        start = found[0]
        after = [i for i, line in enumerate(lines) if i >= start and line == edit.find]
        if not after:
            raise EditError(f"{where} has no line {edit.find!r} after {edit.within!r}")
        return after[0]
    found = [i for i, line in enumerate(lines) if line == edit.find]
    if len(found) != 1:
        raise EditError(f"{where} must contain this line exactly once: {edit.find!r}")
    return found[0]


_NOISE = ("(Background on this error", "[SQL:", "[parameters:")
_EXCEPTION = re.compile(r"^[\w.]*(Error|Exception|Exit)\b.*:")


def _last_line(text: str) -> str:
    """The line that says why a command failed: the exception message, else the last line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip() and not line.strip().startswith(_NOISE)]
    return next((line for line in reversed(lines) if _EXCEPTION.match(line)), lines[-1] if lines else "no output")
