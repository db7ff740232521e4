"""Validation of request bodies and list query parameters, exactly as docs/contract.md states them.

Every function raises `InvalidInput` (answered with 422) on the first rule that fails.
"""

import json
import math
import re
from dataclasses import dataclass

from .models import Category

POST_FIELDS = ("title", "content", "category_id")
DEFAULT_PER_PAGE = 10

MAX_JSON_DEPTH = 32
MAX_SEARCH_WORDS = 32

_INTEGER = re.compile(r"-?[0-9]+")


class InvalidInput(Exception):
    """The request breaks a validation rule of the contract: answered with 422 and the message as detail."""


def _check_text(name: str, value: str) -> None:
    """Refuse NUL (PostgreSQL cannot store it) and lone surrogates (not text: no database can), on every backend."""
    if "\x00" in value:
        raise InvalidInput(f"{name} must not contain the NUL character")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise InvalidInput(f"{name} must not contain a lone surrogate") from None


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is beyond the range of a number")
    return value


def _depth(value: object) -> int:
    """How many arrays and objects are nested in `value` at its deepest (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def json_object(body: bytes) -> dict:
    """Parse a request body that must be a JSON object, nested at most MAX_JSON_DEPTH deep."""
    try:
        data = json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):  # JSONDecodeError, undecodable bytes, NaN, 1e400, nested past recursion
        raise InvalidInput("The body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidInput("The body must be a JSON object")
    if _depth(data) > MAX_JSON_DEPTH:
        raise InvalidInput(f"The body is nested deeper than {MAX_JSON_DEPTH}")
    return data


def category_fields(data: dict) -> dict:
    """The fields of a new category: `name` (required) and `description` (optional)."""
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 50:
        raise InvalidInput("name must be a non-empty string of at most 50 characters")
    _check_text("name", name)
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        raise InvalidInput("description must be a string or null")
    if description is not None:
        _check_text("description", description)
    return {"name": name, "description": description}


def post_fields(data: dict, *, partial: bool = False) -> dict:
    """The post fields found in `data`, all required unless `partial` (PATCH); unknown keys are ignored."""
    fields = {}
    for key in POST_FIELDS:
        if key in data:
            fields[key] = data[key]
        elif not partial:
            raise InvalidInput(f"{key} is required")

    if "title" in fields:
        title = fields["title"]
        if not isinstance(title, str) or not title.strip() or len(title) > 200:
            raise InvalidInput("title must be a non-empty string of at most 200 characters")
        _check_text("title", title)
    if "content" in fields:
        content = fields["content"]
        if not isinstance(content, str) or not content.strip():
            raise InvalidInput("content must be a non-empty string")
        _check_text("content", content)
    if "category_id" in fields:
        category_id = fields["category_id"]
        # bool is a subclass of int, but true/false are not ids.
        if type(category_id) is not int or not Category.objects.filter(pk=category_id).exists():
            raise InvalidInput("category_id must be the integer id of an existing category")
    return fields


@dataclass(frozen=True)
class ListParams:
    """The query parameters of a post listing (GET /api/posts and GET /)."""

    q: str = ""
    category_id: int | None = None
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    @property
    def words(self) -> list[str]:
        """The search words; every one must match."""
        return self.q.split()


def list_params(query) -> ListParams:
    """Read and check `q`, `category_id`, `page` and `per_page` from a QueryDict; other keys are ignored."""
    page = _integer(query, "page", default=1)
    if page < 1:
        raise InvalidInput("page must be an integer >= 1")
    per_page = _integer(query, "per_page", default=DEFAULT_PER_PAGE)
    if not 1 <= per_page <= 100:
        raise InvalidInput("per_page must be an integer from 1 to 100")
    # An empty category_id means no filter: the HTML filter sends it for "all categories".
    category_id = _integer(query, "category_id", default=None) if query.get("category_id") else None
    q = query.get("q", "")
    _check_text("q", q)
    if len(q.split()) > MAX_SEARCH_WORDS:
        raise InvalidInput(f"q must have at most {MAX_SEARCH_WORDS} words")
    return ListParams(q=q, category_id=category_id, page=page, per_page=per_page)


def _integer(query, name: str, default: int | None) -> int | None:
    value = query.get(name)
    if value is None:
        return default
    if not _INTEGER.fullmatch(value):
        raise InvalidInput(f"{name} must be an integer")
    return int(value)
