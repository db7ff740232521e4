"""Views: the JSON API under /api, the HTML pages, and the handlers that make every error JSON."""

import hmac
import re
from datetime import UTC
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.db.models import F, ProtectedError, Q
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views import View

from . import validation
from .models import Category, Post
from .validation import InvalidInput, ListParams

WRITE_METHODS = {"POST", "PATCH", "DELETE"}
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
BEARER = re.compile(r"bearer +(\S+)", re.IGNORECASE)
JSON_DUMPS_PARAMS = {"separators": (",", ":"), "ensure_ascii": False}


# --- JSON helpers ---------------------------------------------------------------------------------------


def json_response(data, status: int = 200) -> JsonResponse:
    """Compact UTF-8 JSON, as the contract encodes every body."""
    return JsonResponse(data, status=status, safe=False, json_dumps_params=JSON_DUMPS_PARAMS)


def json_error(status: int, detail: str) -> JsonResponse:
    """An error answer: `{"detail": ...}`."""
    return json_response({"detail": detail}, status=status)


def category_data(category: Category) -> dict:
    return {"id": category.id, "name": category.name, "description": category.description}


def post_data(post: Post) -> dict:
    return {
        "id": post.id,
        "title": post.title,
        "content": post.content,
        "category_id": post.category_id,
        "created_at": post.created_at.astimezone(UTC).strftime(DATETIME_FORMAT),
        "read_count": post.read_count,
    }


# --- queries --------------------------------------------------------------------------------------------


def find_posts(params: ListParams) -> dict:
    """The page of posts that `params` selects, newest first, with the totals of the listing."""
    posts = Post.objects.select_related("category")
    if params.category_id is not None:
        # Not `category_id=`: through the target's id, Django answers an out-of-range id with no rows.
        posts = posts.filter(category__id=params.category_id)
    for word in params.words:
        posts = posts.filter(Q(title__icontains=word) | Q(content__icontains=word))
    total = posts.count()
    start = (params.page - 1) * params.per_page
    return {
        "items": list(posts[start : start + params.per_page]) if start < total else [],
        "total": total,
        "page": params.page,
        "per_page": params.per_page,
        "pages": (total + params.per_page - 1) // params.per_page,
    }


def read_post(pk: int) -> Post:
    """Count one read of a post with a single atomic UPDATE, then fetch it; Http404 if it does not exist.

    Both in one transaction: the UPDATE locks the row until the end, so the answer includes this read and no later one.
    """
    with transaction.atomic():
        if not Post.objects.filter(pk=pk).update(read_count=F("read_count") + 1):
            raise Http404
        return Post.objects.select_related("category").get(pk=pk)


def has_valid_token(request) -> bool:
    """Whether the request carries `Authorization: Bearer <BLOG_API_TOKEN>`."""
    token = settings.BLOG_API_TOKEN
    # The whole header (gunicorn joins repeated ones with a comma): the scheme, one or more spaces, the token.
    match = BEARER.fullmatch(request.headers.get("Authorization", ""))
    credentials = match.group(1) if match else ""
    if not token or not match:
        return False
    return hmac.compare_digest(credentials.encode(), token.encode())


# --- base view ------------------------------------------------------------------------------------------


class BlogView(View):
    """Base of every view: writes need the API token, invalid input is 422, and 405 is JSON too."""

    def dispatch(self, request, *args, **kwargs):
        method = request.method
        if method in WRITE_METHODS and hasattr(self, method.lower()) and not has_valid_token(request):
            return json_error(401, "Writes need the header 'Authorization: Bearer <token>'")
        try:
            return super().dispatch(request, *args, **kwargs)
        except InvalidInput as exc:
            return json_error(422, str(exc))
        except RequestDataTooBig:
            return json_error(413, "The body is too large")

    def http_method_not_allowed(self, request, *args, **kwargs):
        response = json_error(405, f"Method {request.method} not allowed")
        response["Allow"] = ", ".join(self._allowed_methods())
        return response


# --- JSON API -------------------------------------------------------------------------------------------


class CategoryListView(BlogView):
    """GET /api/categories, POST /api/categories."""

    def get(self, request):
        return json_response([category_data(category) for category in Category.objects.all()])

    def post(self, request):
        fields = validation.category_fields(validation.json_object(request.body))
        try:
            with transaction.atomic():
                category = Category.objects.create(**fields)
        except IntegrityError:  # the unique name
            return json_error(409, "A category with this name already exists")
        return json_response(category_data(category), status=201)


class CategoryDetailView(BlogView):
    """DELETE /api/categories/<id>."""

    def delete(self, request, pk):
        category = get_object_or_404(Category, pk=pk)
        try:
            category.delete()
        except ProtectedError:
            return json_error(409, "The category still has posts")
        return HttpResponse(status=204)


class PostListView(BlogView):
    """GET /api/posts (a page, not counted as reads), POST /api/posts."""

    def get(self, request):
        page = find_posts(validation.list_params(request.GET))
        # Replacing "items" keeps the key order of the page.
        return json_response({**page, "items": [post_data(post) for post in page["items"]]})

    def post(self, request):
        fields = validation.post_fields(validation.json_object(request.body))
        post = Post.objects.create(**fields)
        return json_response(post_data(post), status=201)


class PostDetailView(BlogView):
    """GET (a counted read), PATCH and DELETE /api/posts/<id>."""

    def get(self, request, pk):
        return json_response(post_data(read_post(pk)))

    def patch(self, request, pk):
        # The body is validated before the post is looked up: 422 wins over 404.
        fields = validation.post_fields(validation.json_object(request.body), partial=True)
        post = get_object_or_404(Post, pk=pk)
        for name, value in fields.items():
            setattr(post, name, value)
        post.save(update_fields=list(fields))  # never writes read_count back
        return json_response(post_data(post))

    def delete(self, request, pk):
        deleted, _ = Post.objects.filter(pk=pk).delete()
        if not deleted:
            raise Http404
        return HttpResponse(status=204)


# --- HTML pages -----------------------------------------------------------------------------------------


class IndexView(BlogView):
    """GET /: the post listing, with the same query parameters as GET /api/posts."""

    def get(self, request):
        params = validation.list_params(request.GET)
        page = find_posts(params)
        return render(
            request,
            "blog/index.html",
            {
                "posts": page["items"],
                "total": page["total"],
                "page": page["page"],
                "pages": page["pages"],
                "params": params,
                "categories": Category.objects.all(),
                "previous_url": page_url(params, params.page - 1) if params.page > 1 else None,
                "next_url": page_url(params, params.page + 1) if params.page < page["pages"] else None,
            },
        )


class PostPageView(BlogView):
    """GET /posts/<id>: one post, counted as a read."""

    def get(self, request, pk):
        return render(request, "blog/post.html", {"post": read_post(pk)})


def page_url(params: ListParams, page: int) -> str:
    """The query string of another page of the same listing (filters kept)."""
    query = {"q": params.q, "category_id": params.category_id, "page": page}
    if params.per_page != validation.DEFAULT_PER_PAGE:
        query["per_page"] = params.per_page
    return "?" + urlencode({key: value for key, value in query.items() if value not in ("", None)})


# --- error handlers (config/urls.py) --------------------------------------------------------------------


def bad_request(request, exception):
    return json_error(400, "Bad Request")


def permission_denied(request, exception):
    return json_error(403, "Forbidden")


def page_not_found(request, exception):
    return json_error(404, "Not Found")


def server_error(request):
    return json_error(500, "Internal Server Error")
