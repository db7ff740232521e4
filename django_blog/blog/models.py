"""The blog schema: categories and their posts (tables `categories` and `posts`)."""

from django.db import models
from django.utils import timezone


class Category(models.Model):
    """A named group of posts; names are unique."""

    name = models.CharField(max_length=50, unique=True)
    description = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "categories"
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name


class Post(models.Model):
    """A blog post; a category that still has posts cannot be deleted."""

    title = models.CharField(max_length=200)
    content = models.TextField()
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="posts")
    created_at = models.DateTimeField(default=timezone.now)
    read_count = models.IntegerField(default=0, db_default=0)

    class Meta:
        db_table = "posts"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.title
