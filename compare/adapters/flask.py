"""Flask-SQLAlchemy + Flask-Migrate: `flask db`, which drives Alembic with batch mode on."""

from __future__ import annotations

from pathlib import Path

from compare.adapters.base import AlembicAdapter


class FlaskAdapter(AlembicAdapter):
    name = "flask"
    title = "Flask"
    tool = "Flask-Migrate"
    app_dir = "flask_blog"
    model_file = "app/models.py"
    scaffold = ("migrations",)
    migrations_glob = "migrations/versions/*.py"
    packages = ("flask-migrate", "alembic", "flask-sqlalchemy", "sqlalchemy")

    def init_commands(self) -> list[list[str]]:
        return [["flask", "db", "init"]]

    def generate_command(self, message: str, *, empty: bool = False, interactive: bool = False) -> list[str]:
        return ["flask", "db", "revision" if empty else "migrate", "-m", message]

    def upgrade_command(self) -> list[str]:
        return ["flask", "db", "upgrade"]

    def rollback_command(self, app: Path, applied: list[str]) -> list[str]:
        return ["flask", "db", "downgrade"]

    def check_command(self) -> list[str]:
        return ["flask", "db", "check"]
