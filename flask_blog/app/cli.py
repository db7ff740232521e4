"""The `flask seed` command."""

import json
from datetime import datetime

import click
import sqlalchemy as sa
from flask import Blueprint, current_app

from app import db
from app.models import Category, Post

bp = Blueprint("cli", __name__, cli_group=None)


@bp.cli.command()
def seed():
    """Load data/sample.json into an empty database."""
    if db.session.scalar(sa.select(Category).limit(1)) is not None:
        click.echo("Already seeded: the database has categories, nothing changed.")
        return
    with open(current_app.config["SAMPLE_DATA"], encoding="utf-8") as file:
        data = json.load(file)
    categories = {
        category["name"]: Category(name=category["name"], description=category["description"])
        for category in data["categories"]
    }
    posts = [
        Post(
            title=post["title"],
            content=post["content"],
            category=categories[post["category"]],
            created_at=datetime.strptime(post["created_at"], "%Y-%m-%dT%H:%M:%SZ"),
        )
        for post in data["posts"]
    ]
    db.session.add_all(categories.values())
    db.session.add_all(posts)
    db.session.commit()
    click.echo(f"Seeded {len(categories)} categories and {len(posts)} posts.")
