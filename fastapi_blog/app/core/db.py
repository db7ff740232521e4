"""Database engine and sessions."""

from collections.abc import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from app.core.config import settings

# FastAPI runs sync endpoints (and the get_db dependency) in AnyIO's thread pool; app.main sets its size to this,
# and the pool holds a connection for each thread, plus a few for the sessions still closing after a response.
WORKER_THREADS = 20
SQLITE_BUSY_TIMEOUT = 20  # seconds a connection waits for another one's write lock before "database is locked"

if settings.database_url.startswith("sqlite"):
    # SQLite connections are used from the thread pool, not only from the thread that opened them.
    connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT}
else:
    connect_args = {}
engine = create_engine(
    settings.database_url, connect_args=connect_args, pool_size=WORKER_THREADS, max_overflow=WORKER_THREADS // 4
)
# Sessions answer from what they loaded or wrote: a post returned after its read was counted shows that count.
SessionLocal = sessionmaker(engine, expire_on_commit=False)


@event.listens_for(engine, "connect")
def set_sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """Write-ahead logging on SQLite: readers never wait for the writer, and the writer never waits for readers."""
    if engine.dialect.name == "sqlite":
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


class Base(DeclarativeBase):
    """Base class of the ORM models."""


def get_db() -> Iterator[Session]:
    """Yield one session per request and close it afterwards."""
    with SessionLocal() as session:
        yield session
