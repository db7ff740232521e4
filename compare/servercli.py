"""The command line the project's database servers share: python -m compare.{pg,mariadb} up|down|status|url|reset.

Each server module (compare.pg, compare.mariadb) has the same functions (running_url, ensure_server, stop_server,
server_version, data_dir, create_database, app_database, app_url, reset_app, FRAMEWORKS); `commands` makes the
shared commands from them, and the module adds its own (MariaDB's install) and the exception type of its errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

Command = Callable[[argparse.Namespace], int]

HELP = {
    "install": "install the server and the driver's build dependencies (apt-get, as root)",
    "up": "start the server (if needed) and print its URL and each app's DATABASE_URL",
    "down": "stop the server",
    "status": "is the server running, and at which URL",
    "url": "print an app's DATABASE_URL, starting the server and creating the database if needed",
    "reset": "drop and recreate an app's database",
}
PER_APP = ("url", "reset")  # the commands that take a framework


def where(path: Path) -> str:
    """A path relative to the working directory when it lies below it, else as it is."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def commands(server: ModuleType, title: str, make: str, shown: Callable[[str], str] = str) -> dict[str, Command]:
    """up, down, status, url and reset for a server module; `make` is the prefix of its make targets (pg, mariadb),
    `shown` how a URL is printed (a password masked)."""

    def up(args: argparse.Namespace) -> int:
        was_running = server.running_url() is not None
        url = server.ensure_server()
        state = "already running" if was_running else "started"
        data = where(server.data_dir())
        print(f"{title} {server.server_version(url)} {state}, data in {data} (stop it: make {make}-down)")
        print(f"server:    {url}")
        for fw in server.FRAMEWORKS:
            print(f"{fw + ':':<10} DATABASE_URL={server.create_database(server.app_database(fw), url)}")
        return 0

    def down(args: argparse.Namespace) -> int:
        stopped = server.stop_server()
        print(f"{title} in {where(server.data_dir())} " + ("stopped" if stopped else "was not running"))
        return 0

    def status(args: argparse.Namespace) -> int:
        url, data = server.running_url(), where(server.data_dir())
        print(f"{title} in {data}: running at {url}" if url else f"{title} in {data}: not running (make {make}-up)")
        return 0

    def url(args: argparse.Namespace) -> int:
        print(server.app_url(args.framework))
        return 0

    def reset(args: argparse.Namespace) -> int:
        print(f"{args.framework}: dropped and recreated {shown(server.reset_app(args.framework))}")
        return 0

    return {"up": up, "down": down, "status": status, "url": url, "reset": reset}


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser(prog: str, description: str, commands: dict[str, Command], frameworks) -> argparse.ArgumentParser:
    """The parser of a server module's commands (named as in HELP)."""
    parser = _Parser(prog=prog, description=description)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in commands:
        command = sub.add_parser(name, help=HELP[name])
        if name in PER_APP:
            command.add_argument("framework", choices=frameworks)
    return parser


def main(
    prog: str,
    description: str,
    commands: dict[str, Command],
    frameworks,
    error: type[Exception],
    one_line: Callable[[BaseException], str],
    argv: list[str] | None = None,
) -> int:
    """Run one command; errors are one line on stderr and exit 1, never a traceback.

    An `error` says what to do; any other exception says what broke.
    """
    args = build_parser(prog, description, commands, frameworks).parse_args(argv)
    try:
        return commands[args.command](args)
    except Exception as exc:
        text = str(exc) if isinstance(exc, error) else f"{type(exc).__name__}: {one_line(exc)}"
        print(f"{prog} {args.command}: error: {text}", file=sys.stderr)
        return 1
