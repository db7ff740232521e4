"""Database models: categories and the posts filed under them."""

from datetime import UTC, datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from app import db

# Ids are SQL INTEGER (32 bits on PostgreSQL): a larger number is no id, and the database would refuse to
# compare a column with it, so the app treats such a number as an unknown id without asking the database.
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    """The current time as a naive UTC datetime, the way `posts.created_at` stores it."""
    return datetime.now(UTC).replace(tzinfo=None)


class Category(db.Model):
    """A category; its name is unique."""

    __tablename__ = "categories"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(50), unique=True)
    description: so.Mapped[str | None] = so.mapped_column(sa.Text)

    def __repr__(self) -> str:
        return f"<Category {self.name}>"

    def to_dict(self) -> dict:
        """The category as the API shows it."""
        return {"id": self.id, "name": self.name, "description": self.description}


class Post(db.Model):
    """A blog post, filed under one category."""

    __tablename__ = "posts"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    title: so.Mapped[str] = so.mapped_column(sa.String(200))
    content: so.Mapped[str] = so.mapped_column(sa.Text)
    category_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("categories.id"))
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    read_count: so.Mapped[int] = so.mapped_column(default=0, server_default="0")

    category: so.Mapped[Category] = so.relationship()

    def __repr__(self) -> str:
        return f"<Post {self.title}>"

    def to_dict(self) -> dict:
        """The post as the API shows it."""
        return {
            "id": self.id,
            "title": self.title,
            "content": self.content,
            "category_id": self.category_id,
            "created_at": self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "read_count": self.read_count,
        }

    @staticmethod
    def search(q: str = "", category_id: int | None = None) -> sa.Select:
        """Posts containing every word of `q` in their title or content (case-insensitive, `%` and `_`
        literal), optionally only those of one category, newest first."""
        query = sa.select(Post).order_by(Post.created_at.desc(), Post.id.desc())
        for word in q.split():
            in_title = Post.title.icontains(word, autoescape=True)
            in_content = Post.content.icontains(word, autoescape=True)
            query = query.where(sa.or_(in_title, in_content))
        if category_id is not None:
            query = query.where(Post.category_id == category_id if abs(category_id) <= MAX_ID else sa.false())
        return query
