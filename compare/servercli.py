"""The command line the project's database servers share: python -m compare.{pg,mariadb} up|down|status|url|reset.

Each server module (compare.pg, compare.mariadb) gives its commands as functions of the parsed arguments and the
exception type that carries its own one-line errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

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
