import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger(__name__)


class BlogConfig(AppConfig):
    """The blog app: models, JSON API, HTML pages and the `seed` command."""

    name = "blog"

    def ready(self):
        if not settings.BLOG_API_TOKEN:
            logger.warning("BLOG_API_TOKEN is not set: every write (POST, PATCH, DELETE) will be refused")
