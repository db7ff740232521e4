"""FastAPI + SQLAlchemy 2 + Alembic, set up the way the tutorial teaches."""

from __future__ import annotations

from pathlib import Path

from compare.adapters.base import AlembicAdapter
from compare.scenario import Edit


class FastAPIAdapter(AlembicAdapter):
    name = "fastapi"
    title = "FastAPI"
    tool = "Alembic"
    app_dir = "fastapi_blog"
    model_file = "app/models.py"
    scaffold = ("alembic.ini", "alembic")
    migrations_glob = "alembic/versions/*.py"
    packages = ("alembic", "sqlalchemy")
    # The edit the tutorial calls critical: let autogenerate see the models, and take the URL from settings.
    init_edits = (
        Edit(
            path="alembic/env.py",
            find="from alembic import context",
            lines="\nfrom app.core.config import settings\nfrom app.models import Base",
        ),
        Edit(
            path="alembic/env.py",
            find="config = context.config",
            lines='config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))',
        ),
        Edit(
            path="alembic/env.py",
            find="target_metadata = None",
            action="replace",
            lines="target_metadata = Base.metadata",
        ),
    )

    def init_commands(self) -> list[list[str]]:
        return [["alembic", "init", "alembic"]]

    def generate_command(self, message: str, *, empty: bool = False, interactive: bool = False) -> list[str]:
        return ["alembic", "revision", *([] if empty else ["--autogenerate"]), "-m", message]

    def upgrade_command(self) -> list[str]:
        return ["alembic", "upgrade", "head"]

    def rollback_command(self, app: Path, applied: list[str]) -> list[str]:
        return ["alembic", "downgrade", "-1"]

    def check_command(self) -> list[str]:
        return ["alembic", "check"]
