"""Routes of the blog: HTML pages at the root, the JSON API under /api (no trailing slashes)."""

from django.urls import path

from . import views

app_name = "blog"

urlpatterns = [
    path("", views.IndexView.as_view(), name="index"),
    path("posts/<int:pk>", views.PostPageView.as_view(), name="post"),
    path("api/categories", views.CategoryListView.as_view(), name="api-categories"),
    path("api/categories/<int:pk>", views.CategoryDetailView.as_view(), name="api-category"),
    path("api/posts", views.PostListView.as_view(), name="api-posts"),
    path("api/posts/<int:pk>", views.PostDetailView.as_view(), name="api-post"),
]
