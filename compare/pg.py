"""The project's own PostgreSQL server: python -m compare.pg {up,down,status,url FW,reset FW}.

A throwaway PostgreSQL (the `pgserver` package) with its data in var/pg (COMPARE_PG_DATA overrides it), listening
on a unix socket only. It keeps running after the command that started it, until `down`. Each app gets its own
database, blog_<framework>. A DATABASE_URL set by the user (their own server) wins over the project's server.
Errors are one line on stderr and exit 1, within seconds: connections time out, they never hang.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import sqlalchemy as sa

from compare import servercli
from compare.adapters import ADAPTERS

REPO = Path(__file__).resolve().parent.parent
FRAMEWORKS = tuple(ADAPTERS)
USER = "postgres"  # the superuser pgserver's initdb creates
CONNECT_TIMEOUT = 2  # seconds per address tried (libpq's minimum): a dead URL fails within 5 s
_lock = threading.Lock()  # one start at a time per process (pgserver's file lock is not thread-safe)


class PgError(Exception):
    """Something about the server went wrong; the message is one line, meant for the user."""


def data_dir() -> Path:
    """The server's data directory: $COMPARE_PG_DATA, or <repo>/var/pg."""
    return Path(os.environ.get("COMPARE_PG_DATA") or REPO / "var" / "pg").resolve()


def database_url(url: str, name: str) -> str:
    """The URL of database `name` on the server of `url` (the rest of the URL kept as written)."""
    return urlunsplit(urlsplit(url)._replace(path="/" + quote(name)))


def app_database(framework: str) -> str:
    """The name of an app's database on the project's server."""
    return f"blog_{framework}"


# --- the server -----------------------------------------------------------------------------------------


def _pgserver():
    """Import pgserver, which reads XDG_RUNTIME_DIR (for its lock file) when it is imported."""
    # pgserver logs whole server logs on failure; our error is one line (the log is in the data directory).
    logging.getLogger("pgserver").addHandler(logging.NullHandler())
    logging.getLogger("pgserver").propagate = False
    try:
        runtime = Path(os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/runtime-{os.getuid()}"))
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        with warnings.catch_warnings():  # platformdirs warns about a runtime dir that is not 0700; harmless here
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as exc:
        raise PgError(f"the pgserver package is not installed ({exc}); run `make venv`") from None
    except OSError as exc:
        raise PgError(f"cannot use XDG_RUNTIME_DIR for pgserver's lock file: {exc}") from None
    return pgserver


def _postmaster(pgdata: Path):
    """pgserver's view of postmaster.pid when the server of `pgdata` is up and ready, else None."""
    if not (pgdata / "postmaster.pid").exists():
        return None
    from pgserver.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(pgdata)
    except (AssertionError, ValueError, OSError):  # the file is being written (the server is starting or stopping)
        return None
    return info if info and info.is_running() and info.status == "ready" else None


def _admin_url(info) -> str:
    if info.socket_dir is None:
        raise PgError(f"the server in {info.pgdata} listens on no unix socket")
    return f"postgresql://{USER}@/postgres?host={quote(str(info.socket_dir), safe='/')}"


def running_url() -> str | None:
    """The admin URL of the project's server if it is running and answers, else None. Never starts it."""
    _pgserver()
    info = _postmaster(data_dir())
    if info is None:
        return None
    url = _admin_url(info)
    try:
        check_reachable(url)
    except PgError:
        return None
    return url


def ensure_server() -> str:
    """Start the project's server unless it runs (it keeps running after this process); return its admin URL."""
    with _lock:
        if url := running_url():
            return url
        pgdata = data_dir()
        try:
            pgdata.parent.mkdir(parents=True, exist_ok=True)
            server = _pgserver().get_server(pgdata, cleanup_mode=None)  # None: leave it running at exit
            url = _admin_url(server.get_postmaster_info())
        except PgError:
            raise
        except Exception as exc:  # pgserver raises whatever initdb / pg_ctl / the OS raised
            raise PgError(f"could not start PostgreSQL in {pgdata}: {_start_failure(exc, pgdata / 'log')}") from None
        check_reachable(url)
        return url


def _start_failure(exc: Exception, log: Path) -> str:
    """Why the server did not start: for a failed PostgreSQL program, the last line of the server's log."""
    if not isinstance(exc, subprocess.CalledProcessError | subprocess.TimeoutExpired):
        return _one_line(exc)
    lines = log.read_text(errors="replace").strip().splitlines() if log.is_file() else []
    why = lines[-1].strip() if lines else "timed out" if isinstance(exc, subprocess.TimeoutExpired) else "failed"
    return f"{Path(exc.cmd[0]).name}: {why}" + (f" (log: {log})" if lines else "")


def stop_server() -> bool:
    """Stop the project's server (fast shutdown: open sessions are ended); False if it was not running."""
    pgdata = data_dir()
    _pgserver()
    if _postmaster(pgdata) is None:
        return False
    from pgserver._commands import pg_ctl

    # As root, pgserver runs the server as the data directory's owner: stop it as that user too.
    user = None
    if os.geteuid() == 0:
        import pwd

        user = pwd.getpwuid(pgdata.stat().st_uid).pw_name
    try:
        pg_ctl(["-w", "-t", "20", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=30)
    except Exception as exc:
        raise PgError(f"could not stop PostgreSQL in {pgdata}: {_one_line(exc)}") from None
    return True


# --- databases ------------------------------------------------------------------------------------------


def _connect(url: str, **kwargs):
    """A psycopg connection to a SQLAlchemy or libpq URL, with a connect timeout; errors are PgError."""
    import psycopg

    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise PgError(f"not a database URL: {url!r}") from None
    if parsed.get_backend_name() != "postgresql":
        raise PgError(f"not a PostgreSQL URL: {_shown(url)}")
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        return psycopg.connect(conninfo, connect_timeout=CONNECT_TIMEOUT, **kwargs)
    except psycopg.Error as exc:
        raise PgError(f"cannot connect to {_shown(url)}: {_one_line(exc)}") from None


def check_reachable(url: str) -> None:
    """Connect to `url` once (within CONNECT_TIMEOUT seconds), or raise PgError saying why not."""
    _connect(url).close()


def server_version(admin_url: str) -> str:
    """The server's version, e.g. 16.2."""
    with _connect(admin_url) as conn:
        return conn.execute("SHOW server_version").fetchone()[0].split()[0]


def create_database(name: str, admin_url: str | None = None, exist_ok: bool = True) -> str:
    """Create database `name` (on the project's server unless `admin_url` is given); return its URL."""
    import psycopg
    from psycopg import sql

    admin_url = admin_url or ensure_server()
    with _connect(admin_url, autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):  # the latter: a concurrent CREATE
            if not exist_ok:
                raise PgError(f"database {name} already exists") from None
        except psycopg.Error as exc:
            raise PgError(f"cannot create database {name}: {_one_line(exc)}") from None
    return database_url(admin_url, name)


def drop_database(name: str, admin_url: str | None = None) -> None:
    """Drop database `name` if it exists, ending its open sessions first (on the project's server by default)."""
    import psycopg
    from psycopg import sql

    admin_url = admin_url or ensure_server()
    with _connect(admin_url, autocommit=True) as conn:
        try:
            # WITH (FORCE) terminates the sessions still connected to it (PostgreSQL 13+).
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise PgError(f"cannot drop database {name}: {_one_line(exc)}") from None


def databases(admin_url: str, prefix: str = "") -> list[str]:
    """Names of the databases on the server that start with `prefix`."""
    with _connect(admin_url) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s) ORDER BY 1", [prefix])
        return [r[0] for r in rows]


def app_url(framework: str) -> str:
    """An app's DATABASE_URL: the user's own (checked reachable), else blog_<fw> on the project's server."""
    if own := os.environ.get("DATABASE_URL"):
        check_reachable(own)
        return own
    return create_database(app_database(framework))


def reset_app(framework: str) -> str:
    """Drop and recreate an app's database (the one its DATABASE_URL names, if set); return its URL."""
    url = os.environ.get("DATABASE_URL") or database_url(ensure_server(), app_database(framework))
    name = sa.make_url(url).database
    if not name:
        raise PgError(f"DATABASE_URL names no database: {_shown(url)}")
    admin = database_url(url, "postgres")
    drop_database(name, admin)
    create_database(name, admin, exist_ok=False)
    return url


def _shown(url: str) -> str:
    """A URL as the user wrote it, password masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


# --- command line ---------------------------------------------------------------------------------------


COMMANDS = servercli.commands(sys.modules[__name__], "PostgreSQL", "pg", shown=_shown)


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors are one line on stderr and exit 1."""
    description = __doc__.split("\n\n")[0]
    return servercli.main("python -m compare.pg", description, COMMANDS, FRAMEWORKS, PgError, _one_line, argv)


if __name__ == "__main__":
    sys.exit(main())
