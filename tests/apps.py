"""The three blog apps as data: where each one lives and how its own tools are run.

Every command runs with the app directory as cwd and DATABASE_URL / BLOG_API_TOKEN in the environment.
The first word is a program from the virtualenv that runs the tests; `{port}` is filled in for servers.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

Command = tuple[str, ...]
BACKENDS = ("sqlite", "postgresql", "mariadb")  # every app runs on each; the database_url fixture makes them


@dataclass(frozen=True)
class App:
    """One blog app and the commands of its framework."""

    name: str
    upgrade: Command  # migrate an empty or older database to head
    step_up: Command  # from empty, apply only the first migration
    step_back: Command  # from head, undo the last migration
    drift_check: Command  # exit 0 when the models match the migrations
    seed: Command
    server: Command
    version_table: str  # the table the migration tool keeps its state in
    workers: int = 2

    @property
    def directory(self) -> Path:
        return REPO / f"{self.name}_blog"

    def argv(self, command: Command, **values: object) -> list[str]:
        """The command line of `command`, with its program resolved in the virtualenv."""
        program, *args = command
        executable = sys.executable if program == "python" else str(BIN / program)
        return [executable, *(arg.format(**values) for arg in args)]


APPS = (
    App(
        name="django",
        upgrade=("python", "manage.py", "migrate"),
        step_up=("python", "manage.py", "migrate", "blog", "0001"),
        step_back=("python", "manage.py", "migrate", "blog", "0001"),
        drift_check=("python", "manage.py", "makemigrations", "--check", "--dry-run"),
        seed=("python", "manage.py", "seed"),
        server=("gunicorn", "config.wsgi", "--bind", "127.0.0.1:{port}", "--workers", "2", "--threads", "4"),
        version_table="django_migrations",
    ),
    App(
        name="flask",
        upgrade=("flask", "db", "upgrade"),
        step_up=("flask", "db", "upgrade", "+1"),
        step_back=("flask", "db", "downgrade"),
        drift_check=("flask", "db", "check"),
        seed=("flask", "seed"),
        server=("gunicorn", "wsgi:app", "--bind", "127.0.0.1:{port}", "--workers", "2", "--threads", "4"),
        version_table="alembic_version",
    ),
    App(
        name="fastapi",
        upgrade=("alembic", "upgrade", "head"),
        step_up=("alembic", "upgrade", "+1"),
        step_back=("alembic", "downgrade", "-1"),
        drift_check=("alembic", "check"),
        seed=("python", "-m", "app.seed"),
        server=("uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", "{port}", "--workers", "2"),
        version_table="alembic_version",
    ),
)

APPS_BY_NAME = {app.name: app for app in APPS}
NAMES = tuple(APPS_BY_NAME)
