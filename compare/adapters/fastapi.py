"""FastAPI + SQLAlchemy 2 + Alembic, set up the way the tutorial teaches."""

from __future__ import annotations

from pathlib import Path

from compare.adapters.base import AlembicAdapter, Edit


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
            "alembic/env.py",
            "from alembic import context",
            ("", "from app.core.config import settings", "from app.models import Base"),
        ),
        Edit(
            "alembic/env.py",
            "config = context.config",
            ('config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))',),
        ),
        Edit("alembic/env.py", "target_metadata = None", ("target_metadata = Base.metadata",), replace=True),
    )

    def init_commands(self) -> list[list[str]]:
        return [["alembic", "init", "alembic"]]

    def generate_command(self, message: str) -> list[str]:
        return ["alembic", "revision", "--autogenerate", "-m", message]

    def upgrade_command(self) -> list[str]:
        return ["alembic", "upgrade", "head"]

    def rollback_command(self, app: Path) -> list[str]:
        return ["alembic", "downgrade", "-1"]

    def check_command(self) -> list[str]:
        return ["alembic", "check"]
