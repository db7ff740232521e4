"""The project's own MariaDB server: python -m compare.mariadb {install,up,down,status,url FW,reset FW}.

A throwaway server (Debian's mariadb-server binaries, `mariadbd`) with its data in var/mariadb
(COMPARE_MARIADB_DATA overrides it), on a unix socket in that directory and no TCP port (--skip-networking), no
system service and no config file of the machine's (--no-defaults). It keeps running after the command that started
it, until `down`. As root it runs as the `mysql` user the package creates; otherwise as the user who started it. The
connecting user is the OS user, authenticated by the socket (unix_socket), so no password exists anywhere.
Each app gets its own database, blog_<framework>. A DATABASE_URL set by the user (their own server) wins.
Errors are one line on stderr and exit 1.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

from compare import servercli
from compare.adapters import ADAPTERS

REPO = Path(__file__).resolve().parent.parent
FRAMEWORKS = tuple(ADAPTERS)
SBIN = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")
SERVER_PACKAGES = ("mariadb-server",)
# mysqlclient (the driver) is built from source: it needs MariaDB's client headers, pkg-config, a C compiler and
# Python's headers.
BUILD_PACKAGES = ("libmariadb-dev", "pkg-config", "gcc", "python3-dev")
START_TIMEOUT = 60  # seconds for a fresh server to answer
CONNECT_TIMEOUT = 5
_lock = threading.Lock()


class MariaDBError(Exception):
    """Something about the server went wrong; the message is one line, meant for the user."""


def data_dir() -> Path:
    """The server's data directory: $COMPARE_MARIADB_DATA, or <repo>/var/mariadb."""
    return Path(os.environ.get("COMPARE_MARIADB_DATA") or REPO / "var" / "mariadb").resolve()


def socket_path(data: Path | None = None) -> Path:
    return (data or data_dir()) / "mariadbd.sock"


def _pid_file(data: Path) -> Path:
    return data / "mariadbd.pid"


def app_database(framework: str) -> str:
    return f"blog_{framework}"


def server_url(name: str = "", data: Path | None = None) -> str:
    """The SQLAlchemy URL of database `name` (none: the server) on the project's server, as the OS user."""
    sock = quote(str(socket_path(data)), safe="/")
    return f"mysql://{quote(getpass.getuser())}@localhost/{quote(name)}?unix_socket={sock}&charset=utf8mb4"


# --- the binaries -----------------------------------------------------------------------------------------


def _program(name: str) -> str | None:
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), *SBIN]))


def _missing_packages() -> list[str]:
    missing = [] if _program("mariadbd") and _program("mariadb-install-db") else list(SERVER_PACKAGES)
    if not _program("pkg-config") or subprocess.run(["pkg-config", "--exists", "libmariadb"]).returncode != 0:
        missing += ["libmariadb-dev", "pkg-config"]
    if not _program("gcc"):
        missing.append("gcc")
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        missing.append("python3-dev")
    return missing


def install() -> list[str]:
    """Install what the server and the driver's build need and is missing: with apt-get as root, saying so;
    otherwise raise, naming the command to run. Returns the packages installed."""
    missing = _missing_packages()
    if not missing:
        return []
    command = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        raise MariaDBError(f"MariaDB needs missing Debian packages; run: sudo apt-get install {' '.join(missing)}")
    if not _program("apt-get"):
        raise MariaDBError(f"MariaDB needs {', '.join(missing)}, and this machine has no apt-get to install them")
    print(f"MariaDB: installing {' '.join(missing)} with apt-get (as root)...", file=sys.stderr, flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # The package would start the system's own MariaDB service (port 3306): Debian's policy-rc.d says not to,
    # for the time of the install, unless the machine has a policy of its own.
    policy = Path("/usr/sbin/policy-rc.d")
    ours = not policy.exists()
    if ours:
        policy.write_text("#!/bin/sh\n# written by python -m compare.mariadb install: no service starts\nexit 101\n")
        policy.chmod(0o755)
    try:
        for argv in (["apt-get", "update", "-qq"], command):
            proc = subprocess.run(argv, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise MariaDBError(f"`{' '.join(argv)}` failed: {_last_line(proc.stderr or proc.stdout)}")
    finally:
        if ours:
            policy.unlink(missing_ok=True)
    return missing


# --- the server -----------------------------------------------------------------------------------------


def _server_pid(data: Path) -> int | None:
    """The pid of the server of `data` if it is alive, else None."""
    try:
        pid = int(_pid_file(data).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _connect(url: str):
    """A MySQLdb connection to a SQLAlchemy URL; errors are MariaDBError."""
    try:
        import MySQLdb
    except ImportError:
        raise MariaDBError("the mysqlclient driver is not installed; run `make mariadb-driver`") from None
    parsed = sa.make_url(url)
    kwargs = {"user": parsed.username or getpass.getuser(), "connect_timeout": CONNECT_TIMEOUT, "charset": "utf8mb4"}
    if parsed.password:
        kwargs["password"] = parsed.password
    if parsed.database:
        kwargs["database"] = parsed.database
    if sock := parsed.query.get("unix_socket"):
        kwargs["unix_socket"] = sock
    else:
        kwargs.update(host=parsed.host or "localhost", port=parsed.port or 3306)
    try:
        return MySQLdb.connect(**kwargs)
    except MySQLdb.Error as exc:
        raise MariaDBError(f"cannot connect to {parsed.render_as_string()}: {_one_line(exc)}") from None


def running_url() -> str | None:
    """The server URL of the project's server if it runs and answers, else None. Never starts it."""
    data = data_dir()
    if _server_pid(data) is None:
        return None
    try:
        _connect(server_url(data=data)).close()
    except MariaDBError:
        return None
    return server_url(data=data)


def _run_as() -> list[str]:
    """As root, the server runs as the `mysql` user (mariadbd refuses root); otherwise as the user itself."""
    return ["--user=mysql"] if os.geteuid() == 0 else []


def ensure_server() -> str:
    """Start the project's server unless it runs (it keeps running after this process); return its URL."""
    with _lock:
        if url := running_url():
            return url
        install()
        data = data_dir()
        if _server_pid(data) is not None:
            raise MariaDBError(f"a server runs in {data} but does not answer on {socket_path(data)}")
        if not (data / "mysql").is_dir():
            _initialize(data)
        log = data / "error.log"
        argv = [
            _program("mariadbd") or "mariadbd",
            "--no-defaults",
            f"--datadir={data}",
            f"--socket={socket_path(data)}",
            f"--pid-file={_pid_file(data)}",
            f"--log-error={log}",
            "--skip-networking",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_uca1400_nopad_as_ci",
            *_run_as(),
        ]
        subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if url := running_url():
                return url
            time.sleep(0.2)
        why = _last_line(log.read_text(errors="replace")) if log.is_file() else "no log written"
        raise MariaDBError(f"MariaDB did not answer within {START_TIMEOUT} s in {data}: {why} (log: {log})")


def _initialize(data: Path) -> None:
    data.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(data, "mysql", "mysql")
    argv = [
        _program("mariadb-install-db") or "mariadb-install-db",
        "--no-defaults",
        f"--datadir={data}",
        "--auth-root-authentication-method=socket",
        "--skip-test-db",
        *_run_as(),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise MariaDBError(f"mariadb-install-db failed in {data}: {_last_line(proc.stderr or proc.stdout)}")


def stop_server(timeout: float = 30) -> bool:
    """Stop the project's server and wait until its process is gone; False if it was not running."""
    data = data_dir()
    pid = _server_pid(data)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)  # mariadbd's normal shutdown
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _server_pid(data) != pid:
            return True
        time.sleep(0.1)
    raise MariaDBError(f"MariaDB (pid {pid}) did not stop within {timeout:.0f} s")


def server_version(url: str) -> str:
    conn = _connect(url)
    try:
        cur = conn.cursor()
        cur.execute("SELECT VERSION()")
        return cur.fetchone()[0].split("-")[0]
    finally:
        conn.close()


# --- databases ------------------------------------------------------------------------------------------


def _admin(url: str, sql: str) -> list[tuple]:
    conn = _connect(sa.make_url(url).set(database="").render_as_string(hide_password=False))
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return list(cur.fetchall())
    except Exception as exc:
        raise MariaDBError(f"{sql.split()[0]} {sql.split()[1]} failed: {_one_line(exc)}") from None
    finally:
        conn.close()


def create_database(name: str, url: str | None = None, exist_ok: bool = True) -> str:
    """Create database `name` (utf8mb4, on the project's server unless `url` names another); return its URL."""
    url = url or ensure_server()
    existing = {r[0] for r in _admin(url, "SHOW DATABASES")}
    if name in existing and not exist_ok:
        raise MariaDBError(f"database {name} already exists")
    _admin(url, f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_uca1400_nopad_as_ci")
    return sa.make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_database(name: str, url: str | None = None) -> None:
    _admin(url or ensure_server(), f"DROP DATABASE IF EXISTS `{name}`")


def databases(url: str, prefix: str = "") -> list[str]:
    return sorted(r[0] for r in _admin(url, "SHOW DATABASES") if r[0].startswith(prefix))


def app_url(framework: str) -> str:
    """An app's DATABASE_URL: the user's own (checked reachable), else blog_<fw> on the project's server."""
    if own := os.environ.get("DATABASE_URL"):
        _connect(own).close()
        return own
    return create_database(app_database(framework))


def reset_app(framework: str) -> str:
    url = os.environ.get("DATABASE_URL") or server_url(app_database(framework))
    name = sa.make_url(url).database
    if not name:
        raise MariaDBError("DATABASE_URL names no database")
    if not os.environ.get("DATABASE_URL"):
        ensure_server()
    drop_database(name, url)
    return create_database(name, url, exist_ok=False)


def _one_line(exc: BaseException) -> str:
    return _last_line(str(exc), first=True) or type(exc).__name__


def _last_line(text: str, first: bool = False) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[0] if first else lines[-1]) if lines else ""


# --- command line ---------------------------------------------------------------------------------------


def cmd_install(args) -> int:
    installed = install()
    print(
        "MariaDB: installed " + " ".join(installed)
        if installed
        else "MariaDB: the server and the driver's build dependencies are installed"
    )
    return 0


COMMANDS = {"install": cmd_install, **servercli.commands(sys.modules[__name__], "MariaDB", "mariadb")}


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors are one line on stderr and exit 1."""
    description = __doc__.split("\n\n")[0]
    return servercli.main("python -m compare.mariadb", description, COMMANDS, FRAMEWORKS, MariaDBError, _one_line, argv)


if __name__ == "__main__":
    sys.exit(main())
