"""Database engine and sessions."""

from collections.abc import Iterator

from sqlalchemy import create_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from app.core.config import settings

# SQLite connections are used from FastAPI's thread pool, not only from the thread that opened them.
connect_args = {"check_same_thread": False} if settings.database_url.startswith("sqlite") else {}
engine = create_engine(settings.database_url, connect_args=connect_args)
SessionLocal = sessionmaker(engine)


class Base(DeclarativeBase):
    """Base class of the ORM models."""


def get_db() -> Iterator[Session]:
    """Yield one session per request and close it afterwards."""
    with SessionLocal() as session:
        yield session
