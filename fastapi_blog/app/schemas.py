"""Request and response bodies."""

from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    StrictStr,
    field_validator,
)

from app.models import MAX_ID


def valid_text(value: str) -> str:
    """Refuse NUL (PostgreSQL cannot store it) and lone surrogates (not text: no database can), on every backend."""
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError("must not contain a lone surrogate") from None
    return value


def not_blank(value: str) -> str:
    """Reject strings that are empty once stripped; the value itself is kept as sent."""
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def utc_timestamp(value: datetime) -> str:
    """Format a naive UTC datetime as ``2026-01-05T09:00:00Z``."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


Text = Annotated[StrictStr, AfterValidator(valid_text)]
Name = Annotated[Text, Field(max_length=50), AfterValidator(not_blank)]
Title = Annotated[Text, Field(max_length=200), AfterValidator(not_blank)]
Content = Annotated[Text, AfterValidator(not_blank)]
# A number beyond MAX_ID is no category: 422, like any unknown category.
CategoryId = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
UtcTimestamp = Annotated[datetime, PlainSerializer(utc_timestamp)]


class CategoryCreate(BaseModel):
    """Body of ``POST /api/categories``."""

    name: Name
    description: Text | None = None


class CategoryPublic(BaseModel):
    """A category as the API returns it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str | None


class PostCreate(BaseModel):
    """Body of ``POST /api/posts``."""

    title: Title
    content: Content
    category_id: CategoryId


class PostUpdate(BaseModel):
    """Body of ``PATCH /api/posts/{id}``: any subset of the fields, none of them null."""

    title: Title | None = None
    content: Content | None = None
    category_id: CategoryId | None = None

    @field_validator("title", "content", "category_id")
    @classmethod
    def not_null(cls, value: object) -> object:
        """Omitted fields stay unchanged, but an explicit null is invalid."""
        if value is None:
            raise ValueError("must not be null")
        return value


class PostPublic(BaseModel):
    """A post as the API returns it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    content: str
    category_id: int
    created_at: UtcTimestamp
    read_count: int


class PostsPage(BaseModel):
    """One page of posts."""

    items: list[PostPublic]
    total: int
    page: int
    per_page: int
    pages: int
