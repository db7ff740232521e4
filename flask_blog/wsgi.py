"""The application object: `gunicorn wsgi:app`, and the app that the `flask` CLI finds."""

import sqlalchemy as sa
import sqlalchemy.orm as so

from app import create_app, db
from app.models import Category, Post

app = create_app()


@app.shell_context_processor
def make_shell_context():
    """Names preloaded in `flask shell`."""
    return {"sa": sa, "so": so, "db": db, "Category": Category, "Post": Post}
