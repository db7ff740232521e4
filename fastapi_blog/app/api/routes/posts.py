"""``/api/posts``: search, read, create, update and delete posts."""

import re
from dataclasses import dataclass
from math import ceil
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import AfterValidator, BeforeValidator
from sqlalchemy import exists, false, func, or_, select, update
from sqlalchemy.orm import Session

from app.api.deps import SessionDep, require_token
from app.http import StrictJSONRoute
from app.models import MAX_ID, Category, Post
from app.schemas import PostCreate, PostPublic, PostsPage, PostUpdate, valid_text

router = APIRouter(prefix="/posts", tags=["posts"], route_class=StrictJSONRoute)

MAX_SEARCH_WORDS = 32
INTEGER = re.compile(r"-?[0-9]+")


def integer_literal(value: object) -> object:
    """Only ASCII digits, with an optional leading minus, are an integer (pydantic would take ``1.0`` or ``+1``)."""
    if isinstance(value, str) and not INTEGER.fullmatch(value):
        raise ValueError("must be an integer")
    return value


def optional_integer(value: str | None) -> object:
    """Read an empty parameter (``?category_id=``, as an HTML form sends it) as absent."""
    return integer_literal(value) if value else None


def search_text(value: str) -> str:
    """Valid text of at most MAX_SEARCH_WORDS words."""
    if len(valid_text(value).split()) > MAX_SEARCH_WORDS:
        raise ValueError(f"must have at most {MAX_SEARCH_WORDS} words")
    return value


@dataclass
class PostQuery:
    """Search, filter and pagination parameters of a post listing."""

    q: Annotated[str, AfterValidator(search_text)] = ""
    category_id: Annotated[int | None, BeforeValidator(optional_integer)] = None
    page: Annotated[int, Query(ge=1), BeforeValidator(integer_literal)] = 1
    per_page: Annotated[int, Query(ge=1, le=100), BeforeValidator(integer_literal)] = 10


PostQueryDep = Annotated[PostQuery, Depends()]


def search_posts(session: Session, query: PostQuery) -> PostsPage:
    """One page of the posts matching ``query``, newest first."""
    stmt = select(Post)
    for word in query.q.split():
        stmt = stmt.where(
            or_(Post.title.icontains(word, autoescape=True), Post.content.icontains(word, autoescape=True))
        )
    if query.category_id is not None:
        in_range = abs(query.category_id) <= MAX_ID
        stmt = stmt.where(Post.category_id == query.category_id if in_range else false())
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    offset = (query.page - 1) * query.per_page
    items = []
    if offset < total:  # a page past the end is empty (and its offset may not even fit in SQL)
        stmt = stmt.order_by(Post.created_at.desc(), Post.id.desc()).offset(offset).limit(query.per_page)
        items = session.scalars(stmt).all()
    return PostsPage(
        items=items, total=total, page=query.page, per_page=query.per_page, pages=ceil(total / query.per_page)
    )


def get_post_or_404(session: Session, post_id: int) -> Post:
    """Load a post, or answer 404."""
    post = session.get(Post, post_id) if post_id <= MAX_ID else None
    if post is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Post not found")
    return post


def count_read(session: Session, post_id: int) -> Post:
    """Count one read of a post with a single atomic UPDATE that returns the post as it left it (404 if unknown).

    The answer is the row this read wrote, so it always includes this read and no later one.
    """
    counted = update(Post).where(Post.id == post_id).values(read_count=Post.read_count + 1)
    if post_id > MAX_ID:
        post = None
    elif session.get_bind().dialect.update_returning:
        post = session.scalars(counted.returning(Post)).one_or_none()
    else:  # MariaDB has no UPDATE ... RETURNING: the UPDATE locks the row until the commit, the SELECT reads it
        post = session.get(Post, post_id, populate_existing=True) if session.execute(counted).rowcount else None
    if post is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Post not found")
    session.commit()
    return post


def check_category(session: Session, category_id: int) -> None:
    """Answer 422 unless the category exists."""
    if not session.scalar(select(exists().where(Category.id == category_id))):
        raise HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail="Category does not exist")


@router.get("")
def read_posts(session: SessionDep, query: PostQueryDep) -> PostsPage:
    """Search posts, newest first; does not count reads."""
    return search_posts(session, query)


@router.get("/{post_id:id}")
def read_post(session: SessionDep, post_id: int) -> PostPublic:
    """Return one post, counting the read."""
    return count_read(session, post_id)


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[Depends(require_token)])
def create_post(session: SessionDep, post_in: PostCreate) -> PostPublic:
    """Create a post in an existing category."""
    check_category(session, post_in.category_id)
    post = Post(**post_in.model_dump())
    session.add(post)
    session.commit()
    return post


@router.patch("/{post_id:id}", dependencies=[Depends(require_token)])
def update_post(session: SessionDep, post_id: int, post_in: PostUpdate) -> PostPublic:
    """Change some fields of a post; the body is checked before the post is looked up."""
    changes = post_in.model_dump(exclude_unset=True)
    if "category_id" in changes:
        check_category(session, changes["category_id"])
    post = get_post_or_404(session, post_id)
    for field, value in changes.items():
        setattr(post, field, value)
    session.commit()
    return post


@router.delete("/{post_id:id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[Depends(require_token)])
def delete_post(session: SessionDep, post_id: int) -> None:
    """Delete a post."""
    session.delete(get_post_or_404(session, post_id))
    session.commit()
