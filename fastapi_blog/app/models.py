"""ORM models: the ``categories`` and ``posts`` tables."""

from datetime import UTC, datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base

__all__ = ["MAX_ID", "Base", "Category", "Post"]

# Ids are SQL INTEGER (32 bits on PostgreSQL): a larger number is no id, and the database would refuse to
# compare a column with it, so the app treats such a number as an unknown id without asking the database.
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    """The current time as a naive UTC datetime (the column stores naive UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


class Category(Base):
    """A category that groups posts."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    description: Mapped[str | None] = mapped_column(Text)


class Post(Base):
    """A blog post."""

    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_count: Mapped[int] = mapped_column(default=0, server_default="0")

    category: Mapped[Category] = relationship()
