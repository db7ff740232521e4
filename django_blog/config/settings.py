"""Django settings for the blog app.

Everything that changes between machines comes from the environment: DATABASE_URL, BLOG_API_TOKEN and
DJANGO_SECRET_KEY (see docs/contract.md).
"""

import os
from pathlib import Path

import dj_database_url

# django_blog/, and the repository root above it.
BASE_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BASE_DIR.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-dev-only-key-do-not-use-in-production")

DEBUG = False

ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

# Bearer token for API writes; unset (or empty) means every write is refused.
BLOG_API_TOKEN = os.environ.get("BLOG_API_TOKEN") or None

INSTALLED_APPS = [
    "blog",
]

# No sessions, cookies or HTML forms that post, hence no CSRF middleware: writes use a bearer token.
MIDDLEWARE = [
    "blog.middleware.RequestTargetLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

APPEND_SLASH = False

# A larger request body is 413 (blog.views.BlogView answers Django's RequestDataTooBig).
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {},
    },
]

WSGI_APPLICATION = "config.wsgi.application"


# Database: DATABASE_URL, or <repo>/var/django.sqlite3 by default.
def _default_database_url() -> str:
    var_dir = REPO_DIR / "var"
    var_dir.mkdir(exist_ok=True)
    return f"sqlite:///{var_dir / 'django.sqlite3'}"


DATABASES = {
    "default": dj_database_url.parse(os.environ.get("DATABASE_URL") or _default_database_url()),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        # Take the write lock when a transaction starts, so concurrent writers wait instead of failing,
        transaction_mode="IMMEDIATE",
        # for up to 20 s before "database is locked";
        timeout=20,
        # with write-ahead logging, readers never wait for the writer, and the writer never waits for readers.
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Warnings and errors (with tracebacks) go to stderr, also with DEBUG off; 4xx answers are not logged.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "level": "WARNING", "formatter": "plain"},
    },
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {
        "django.request": {"level": "ERROR"},
    },
}
