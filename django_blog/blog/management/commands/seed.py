"""`python manage.py seed`: load the shared sample data into an empty database."""

import json
from datetime import datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from blog.models import Category, Post

SAMPLE_FILE = settings.BASE_DIR.parent / "data" / "sample.json"


class Command(BaseCommand):
    help = "Load data/sample.json (at the repository root) into an empty database."

    def handle(self, *args, **options):
        if Category.objects.exists():
            self.stdout.write("Already seeded: the database has categories, nothing changed.")
            return

        if not SAMPLE_FILE.is_file():
            raise CommandError(f"Sample data not found: {SAMPLE_FILE}")
        data = json.loads(SAMPLE_FILE.read_text(encoding="utf-8"))
        with transaction.atomic():
            categories = {
                item["name"]: Category.objects.create(name=item["name"], description=item.get("description"))
                for item in data["categories"]
            }
            posts = Post.objects.bulk_create(
                Post(
                    title=item["title"],
                    content=item["content"],
                    category=categories[item["category"]],
                    created_at=datetime.fromisoformat(item["created_at"]),  # "...Z": aware, in UTC
                )
                for item in data["posts"]
            )
        self.stdout.write(f"Seeded {len(categories)} categories and {len(posts)} posts.")
