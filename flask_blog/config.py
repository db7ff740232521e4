"""Configuration for the Flask blog, read from the environment."""

import os
from pathlib import Path

# The repository root: the parent of flask_blog/, whatever the current directory.
REPO_DIR = Path(__file__).resolve().parent.parent


def default_database_url() -> str:
    """The developer database, <repo>/var/flask.sqlite3 (var/ is created on demand)."""
    var_dir = REPO_DIR / "var"
    var_dir.mkdir(exist_ok=True)
    return f"sqlite:///{var_dir / 'flask.sqlite3'}"


class Config:
    """Settings for `create_app`; DATABASE_URL is shared with the `flask db` commands."""

    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or default_database_url()
    BLOG_API_TOKEN = os.environ.get("BLOG_API_TOKEN")
    SAMPLE_DATA = REPO_DIR / "data" / "sample.json"
