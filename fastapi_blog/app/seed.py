"""Load the shared sample data into an empty database: ``python -m app.seed``."""

import json
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app.core.config import REPO_DIR
from app.core.db import SessionLocal
from app.models import Category, Post

SAMPLE_FILE = REPO_DIR / "data" / "sample.json"


def seed(session: Session) -> str:
    """Insert the sample categories and posts, in file order, unless categories exist; return a message."""
    if session.scalar(select(exists().select_from(Category))):
        return "Already seeded: the database has categories, nothing changed."
    data = json.loads(SAMPLE_FILE.read_text(encoding="utf-8"))
    categories = {
        item["name"]: Category(name=item["name"], description=item.get("description")) for item in data["categories"]
    }
    posts = [
        Post(
            title=item["title"],
            content=item["content"],
            category=categories[item["category"]],
            created_at=datetime.strptime(item["created_at"], "%Y-%m-%dT%H:%M:%SZ"),
        )
        for item in data["posts"]
    ]
    session.add_all([*categories.values(), *posts])
    session.commit()
    return f"Seeded {len(categories)} categories and {len(posts)} posts."


def main() -> None:
    """Seed the database named by ``DATABASE_URL``."""
    with SessionLocal() as session:
        print(seed(session))


if __name__ == "__main__":
    main()
