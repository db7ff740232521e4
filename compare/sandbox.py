"""Throwaway copies of an app, and the real tool calls made inside them."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from compare.adapters import Adapter
from compare.model import File, Statement, ToolCall
from compare.snapshot import read_sql_log

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SQLTRACE = Path(__file__).resolve().parent / "sqltrace"
# Variables of the developer's shell that must not leak into a sandbox.
_SCRUB = (
    "DATABASE_URL",
    "FLASK_APP",
    "DJANGO_SETTINGS_MODULE",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "COMPARE_SQL_LOG",
)


class SandboxError(Exception):
    """A story's sandbox cannot be prepared: the app is not what the scenario expects, or its database failed."""


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

    def __init__(self, adapter: Adapter, root: Path, database_url: str, field_line: str, timeout: float):
        self.adapter = adapter
        self.root = root
        self.app = root / adapter.app_dir
        self.database_url = database_url
        self.timeout = timeout
        self._calls = 0
        shutil.copytree(REPO / adapter.app_dir, self.app, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for path in adapter.scaffold:
            target = self.app / path
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        for script in adapter.migration_files(self.app):
            script.unlink()
        self.field_index = self._remove_line(adapter.model_file, field_line)

    def _remove_line(self, relpath: str, line: str) -> int:
        path = self.app / relpath
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        found = [i for i, text in enumerate(lines) if text.rstrip("\n") == line]
        if len(found) != 1:
            raise SandboxError(f"{self.adapter.app_dir}/{relpath} must contain this line exactly once: {line.strip()}")
        del lines[found[0]]
        path.write_text("".join(lines), encoding="utf-8")
        return found[0]

    def env(self, sql_log: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
        env.update(
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            PYTHONPATH=str(SQLTRACE),
            PYTHONDONTWRITEBYTECODE="1",
            COMPARE_SQL_LOG=str(sql_log),
            DATABASE_URL=self.database_url,
            BLOG_API_TOKEN="sandbox",
        )
        return env

    def files(self) -> dict[str, str]:
        """Path -> content hash of every file in the app copy."""
        return {
            str(p.relative_to(self.app)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(self.app.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts
        }

    def read(self, paths: list[str]) -> list[File]:
        return [File(p, (self.app / p).read_text(encoding="utf-8")) for p in sorted(paths)]

    def run(self, argv: list[str]) -> Result:
        """Run one real tool command in the app copy, with a timeout; record its SQL and the files it wrote."""
        self._calls += 1
        sql_log = self.root / f"sql-{self._calls:02d}.jsonl"
        before = self.files()
        error = None
        start = time.perf_counter()
        proc = subprocess.Popen(
            [str(BIN / argv[0]), *argv[1:]],
            cwd=self.app,
            env=self.env(sql_log),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            error = f"timed out after {self.timeout:g} s"
        seconds = time.perf_counter() - start
        code = None if error else proc.returncode
        if code:
            error = f"exit code {code}: {_last_line(stderr or stdout)}"
        after = self.files()
        written = [p for p, digest in after.items() if before.get(p) != digest]
        return Result(
            call=ToolCall(command=shlex.join(argv), exit_code=code, seconds=round(seconds, 3)),
            stdout=stdout,
            stderr=stderr,
            sql=read_sql_log(sql_log),
            written=self.read(written),
            error=error,
        )


_NOISE = ("(Background on this error", "[SQL:", "[parameters:")
_EXCEPTION = re.compile(r"^[\w.]*(Error|Exception|Exit)\b.*:")


def _last_line(text: str) -> str:
    """The line that says why a command failed: the exception message, else the last line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip() and not line.strip().startswith(_NOISE)]
    return next((line for line in reversed(lines) if _EXCEPTION.match(line)), lines[-1] if lines else "no output")
