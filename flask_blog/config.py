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


DATABASE_URL = os.environ.get("DATABASE_URL") or default_database_url()
SQLITE_BUSY_TIMEOUT = 20  # seconds a connection waits for another one's write lock before "database is locked"


class Config:
    """Settings for `create_app`; DATABASE_URL is shared with the `flask db` commands."""

    SQLALCHEMY_DATABASE_URI = DATABASE_URL
    # gunicorn runs 4 threads per worker: the default pool (5 connections, 10 more on demand) has one for each.
    SQLALCHEMY_ENGINE_OPTIONS = (
        {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}} if DATABASE_URL.startswith("sqlite") else {}
    )
    BLOG_API_TOKEN = os.environ.get("BLOG_API_TOKEN")
    MAX_CONTENT_LENGTH = 1024 * 1024  # a larger request body is 413
    SAMPLE_DATA = REPO_DIR / "data" / "sample.json"
