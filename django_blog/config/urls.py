"""Root URLconf: the blog app serves everything, and every error answer is JSON."""

from django.urls import include, path

urlpatterns = [
    path("", include("blog.urls")),
]

handler400 = "blog.views.bad_request"
handler403 = "blog.views.permission_denied"
handler404 = "blog.views.page_not_found"
handler500 = "blog.views.server_error"
