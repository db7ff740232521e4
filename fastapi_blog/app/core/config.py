"""Settings read from the environment."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

# fastapi_blog/app/core/config.py -> the repository root holds var/ and data/
REPO_DIR = Path(__file__).resolve().parents[3]


def default_database_url() -> str:
    """The developer database, ``<repo>/var/fastapi.sqlite3``; creates ``var/`` if needed."""
    var_dir = REPO_DIR / "var"
    var_dir.mkdir(exist_ok=True)
    return f"sqlite:///{var_dir / 'fastapi.sqlite3'}"


class Settings(BaseSettings):
    """Application settings, from ``DATABASE_URL`` and ``BLOG_API_TOKEN``."""

    database_url: str = Field(default_factory=default_database_url)
    blog_api_token: str | None = None


settings = Settings()
