"""The Flask blog: extensions, JSON settings, error handlers and the application factory."""

from flask import Flask, abort, current_app, request
from flask.json.provider import DefaultJSONProvider
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.routing import IntegerConverter

from config import Config

# Sessions answer from what they loaded or wrote: a post returned after its read was counted shows that count.
db = SQLAlchemy(session_options={"expire_on_commit": False})
migrate = Migrate()


class JSONProvider(DefaultJSONProvider):
    """Compact UTF-8 JSON, keys in the order the dicts were built, no trailing newline."""

    ensure_ascii = False
    sort_keys = False
    compact = True

    def dumps(self, obj, **kwargs):
        """Serialize `obj` with compact separators."""
        kwargs.setdefault("separators", (",", ":"))
        return super().dumps(obj, **kwargs)

    def response(self, *args, **kwargs):
        """Like the default response, minus the trailing newline the contract forbids."""
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(self.dumps(obj), mimetype=self.mimetype)


class IdConverter(IntegerConverter):
    """A row id in a URL (`<id:post_id>`): a positive integer literal, leading zeros allowed, of any length.

    Anything else does not match the route at all, so it is a 404 whatever the method (a converter that
    refused a value after matching would make Werkzeug answer 405). An id beyond MAX_ID is an unknown row.
    """

    regex = r"0*[1-9][0-9]*"


def http_error(error: HTTPException):
    """Answer every HTTP error, on any path, as JSON {"detail": ...} (keeping headers such as Allow)."""
    response = error.get_response()
    response.data = current_app.json.dumps({"detail": error.description})
    response.content_type = "application/json"
    return response


MAX_TARGET_BYTES = 4000  # below gunicorn's 4094-byte request line, so that the three apps answer alike


def limit_target():
    """414 for a request target (path and query string, as sent) over MAX_TARGET_BYTES."""
    target = request.environ.get("RAW_URI") or request.full_path
    if len(target.encode("latin-1", errors="replace")) > MAX_TARGET_BYTES:
        abort(414, "The URL is too long")


def data_error(error: DataError):
    """422 for a value the database refuses to store as it is (too long for its column on MariaDB, whose TEXT holds
    64 KiB): the client's value, not a fault of the server."""
    db.session.rollback()
    return {"detail": f"A value does not fit its database column: {error.orig}"}, 422


def internal_error(error: InternalServerError):
    """Answer an unexpected error with a fixed message; Flask has already logged the traceback."""
    return {"detail": "Internal Server Error"}, 500


def set_sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """Write-ahead logging on SQLite: readers never wait for the writer, and the writer never waits for readers."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_app(config_class=Config) -> Flask:
    """Create the blog application with the settings of `config_class`."""
    app = Flask(__name__)
    app.config.from_object(config_class)
    app.json = JSONProvider(app)
    app.url_map.converters["id"] = IdConverter

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", set_sqlite_pragmas)
    migrate.init_app(app, db)

    app.before_request(limit_target)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(InternalServerError, internal_error)
    app.register_error_handler(DataError, data_error)

    from app.api import bp as api_bp

    app.register_blueprint(api_bp, url_prefix="/api")

    from app.pages import bp as pages_bp

    app.register_blueprint(pages_bp)

    from app.cli import bp as cli_bp

    app.register_blueprint(cli_bp)

    if not app.config["BLOG_API_TOKEN"]:
        app.logger.warning("BLOG_API_TOKEN is not set: every write request will be refused with 401")

    return app


from app import models  # noqa: E402, F401  (registers the models with SQLAlchemy and Alembic)
