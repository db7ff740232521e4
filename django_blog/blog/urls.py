"""Routes of the blog: HTML pages at the root, the JSON API under /api (no trailing slashes)."""

from django.urls import path, register_converter

from . import views


class IdConverter:
    """A row id in a URL (`<id:pk>`): a positive integer literal, leading zeros allowed, of any length.

    Anything else (`0`, `-1`, `abc`) does not match the route at all, so it is 404 whatever the method.
    """

    regex = "0*[1-9][0-9]*"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

app_name = "blog"

urlpatterns = [
    path("", views.IndexView.as_view(), name="index"),
    path("posts/<id:pk>", views.PostPageView.as_view(), name="post"),
    path("api/categories", views.CategoryListView.as_view(), name="api-categories"),
    path("api/categories/<id:pk>", views.CategoryDetailView.as_view(), name="api-category"),
    path("api/posts", views.PostListView.as_view(), name="api-posts"),
    path("api/posts/<id:pk>", views.PostDetailView.as_view(), name="api-post"),
]
