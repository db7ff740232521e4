"""The JSON API under /api: categories and posts, as docs/contract.md specifies."""

import hmac
import json
import math
import re
from typing import NamedTuple

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, request
from sqlalchemy.exc import IntegrityError

from app import db
from app.models import MAX_ID, Category, Post

bp = Blueprint("api", __name__)

BEARER = re.compile(r"bearer +(\S+)", re.IGNORECASE)


@bp.before_request
def require_token():
    """Refuse a write without `Authorization: Bearer <BLOG_API_TOKEN>`; reads need no token."""
    if request.method not in ("POST", "PATCH", "DELETE"):
        return
    token = current_app.config["BLOG_API_TOKEN"]
    # The whole header (gunicorn joins repeated ones with a comma): the scheme, one or more spaces, the token.
    match = BEARER.fullmatch(request.headers.get("Authorization", ""))
    credentials = match.group(1) if match else ""
    if not (token and match and hmac.compare_digest(credentials.encode(), token.encode())):
        abort(401, "A valid bearer token is required")


MAX_JSON_DEPTH = 32
MAX_SEARCH_WORDS = 32


def reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is beyond the range of a number")
    return value


def depth(value: object) -> int:
    """How many arrays and objects are nested in `value` at its deepest (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def json_object() -> dict:
    """The request body, which must be a JSON object (422 otherwise, whatever the Content-Type; 413 if too large)."""
    try:
        data = json.loads(request.get_data(), parse_constant=reject_constant, parse_float=finite_float)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, NaN, 1e400, nested beyond the parser's recursion
        abort(422, "The body is not valid JSON")
    if not isinstance(data, dict):
        abort(422, "The body must be a JSON object")
    if depth(data) > MAX_JSON_DEPTH:
        abort(422, f"The body is nested deeper than {MAX_JSON_DEPTH}")
    return data


def int_arg(
    name: str, default: int | None = None, minimum: int | None = None, maximum: int | None = None
) -> int | None:
    """The integer query parameter `name` (`default` if missing); 422 if invalid or out of range."""
    value = request.args.get(name)
    if value is None:
        return default
    if not re.fullmatch(r"-?[0-9]+", value):
        abort(422, f"{name} must be an integer")
    number = int(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        abort(422, f"{name} is out of range")
    return number


class PostFilters(NamedTuple):
    """The query parameters of a list of posts."""

    q: str
    category_id: int | None
    page: int
    per_page: int


def check_text(name: str, value: str) -> None:
    """Refuse NUL (PostgreSQL cannot store it) and lone surrogates (not text: no database can), on every backend."""
    if "\x00" in value:
        abort(422, f"{name} must not contain the NUL character")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            abort(422, f"{name} must not contain a lone surrogate")


def post_filters() -> PostFilters:
    """The post list's query parameters, from the request (422 if one is invalid)."""
    q = request.args.get("q", "")
    check_text("q", q)
    if len(q.split()) > MAX_SEARCH_WORDS:
        abort(422, f"q must have at most {MAX_SEARCH_WORDS} words")
    return PostFilters(
        q=q,
        # An empty category_id, as the form's "All categories" option sends it, is no filter, like an empty q.
        category_id=int_arg("category_id") if request.args.get("category_id") else None,
        page=int_arg("page", 1, minimum=1),
        per_page=int_arg("per_page", 10, minimum=1, maximum=100),
    )


def post_page(filters: PostFilters) -> dict:
    """One page of matching posts: items (Post objects), total, page, per_page and pages."""
    query = Post.search(filters.q, filters.category_id)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    offset = (filters.page - 1) * filters.per_page
    # A page past the end is empty; skipping the query also keeps a huge offset away from the database.
    items = db.session.scalars(query.offset(offset).limit(filters.per_page)).all() if offset < total else []
    return {
        "items": items,
        "total": total,
        "page": filters.page,
        "per_page": filters.per_page,
        "pages": math.ceil(total / filters.per_page),
    }


def get_or_404(model: type[db.Model], row_id: int, description: str):
    """The row of `model` with this id, or 404 (also for an id no integer column can hold)."""
    if row_id > MAX_ID:
        abort(404, description)
    return db.get_or_404(model, row_id, description=description)


def read_post(post_id: int) -> Post:
    """Count one read of a post with a single atomic UPDATE that returns the post as it left it (404 if unknown).

    The answer is the row this read wrote, so it always includes this read and no later one.
    """
    counted = sa.update(Post).where(Post.id == post_id).values(read_count=Post.read_count + 1)
    if post_id > MAX_ID:
        post = None
    elif db.session.get_bind().dialect.update_returning:
        post = db.session.scalars(counted.returning(Post)).one_or_none()
    else:  # MariaDB has no UPDATE ... RETURNING: the UPDATE locks the row until the commit, the SELECT reads it
        post = db.session.get(Post, post_id, populate_existing=True) if db.session.execute(counted).rowcount else None
    if post is None:
        abort(404, "Post not found")
    db.session.commit()
    return post


def post_fields(data: dict, partial: bool = False) -> dict:
    """The valid post fields of `data`, all required unless `partial`; 422 on any invalid one."""
    fields = {}
    if not partial or "title" in data:
        title = data.get("title")
        if not isinstance(title, str) or not title.strip() or len(title) > 200:
            abort(422, "title must be a non-empty string of at most 200 characters")
        check_text("title", title)
        fields["title"] = title
    if not partial or "content" in data:
        content = data.get("content")
        if not isinstance(content, str) or not content.strip():
            abort(422, "content must be a non-empty string")
        check_text("content", content)
        fields["content"] = content
    if not partial or "category_id" in data:
        category_id = data.get("category_id")
        if (
            not isinstance(category_id, int)
            or isinstance(category_id, bool)
            or not 0 < category_id <= MAX_ID
            or db.session.get(Category, category_id) is None
        ):
            abort(422, "category_id must be the id of an existing category")
        fields["category_id"] = category_id
    return fields


@bp.get("/categories")
def list_categories():
    """All categories, ordered by name."""
    categories = db.session.scalars(sa.select(Category).order_by(Category.name))
    return [category.to_dict() for category in categories]


@bp.post("/categories")
def create_category():
    """Create a category from {"name", "description"?}; 409 if the name is taken."""
    data = json_object()
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 50:
        abort(422, "name must be a non-empty string of at most 50 characters")
    check_text("name", name)
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        abort(422, "description must be a string or null")
    if description is not None:
        check_text("description", description)
    if db.session.scalar(sa.select(Category).where(Category.name == name)) is not None:
        abort(409, "A category with this name already exists")
    category = Category(name=name, description=description)
    db.session.add(category)
    try:
        db.session.commit()
    except IntegrityError:  # created by a concurrent request since the check above
        db.session.rollback()
        abort(409, "A category with this name already exists")
    return category.to_dict(), 201


@bp.delete("/categories/<id:category_id>")
def delete_category(category_id: int):
    """Delete a category that has no posts (409 if it still has some)."""
    category = get_or_404(Category, category_id, "Category not found")
    if db.session.scalar(sa.select(Post.id).where(Post.category_id == category_id).limit(1)) is not None:
        abort(409, "The category still has posts")
    db.session.delete(category)
    try:
        db.session.commit()
    except IntegrityError:  # a post was filed under it since the check above
        db.session.rollback()
        abort(409, "The category still has posts")
    return "", 204


@bp.get("/posts")
def list_posts():
    """A page of posts, newest first, filtered by `q` and `category_id`; does not count reads."""
    page = post_page(post_filters())
    page["items"] = [post.to_dict() for post in page["items"]]
    return page


@bp.get("/posts/<id:post_id>")
def get_post(post_id: int):
    """One post; the read is counted."""
    return read_post(post_id).to_dict()


@bp.post("/posts")
def create_post():
    """Create a post from {"title", "content", "category_id"}."""
    post = Post(**post_fields(json_object()))
    db.session.add(post)
    db.session.commit()
    return post.to_dict(), 201


@bp.patch("/posts/<id:post_id>")
def update_post(post_id: int):
    """Change any of title, content and category_id; the body is validated before the post is looked up."""
    fields = post_fields(json_object(), partial=True)
    post = get_or_404(Post, post_id, "Post not found")
    for name, value in fields.items():
        setattr(post, name, value)
    db.session.commit()
    return post.to_dict()


@bp.delete("/posts/<id:post_id>")
def delete_post(post_id: int):
    """Delete a post."""
    post = get_or_404(Post, post_id, "Post not found")
    db.session.delete(post)
    db.session.commit()
    return "", 204
