"""HTML pages: the post list and one post."""

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from app.api.deps import SessionDep
from app.api.routes.posts import PostQueryDep, count_read, search_posts
from app.http import IdConvertor  # noqa: F401  (registers the {post_id:id} convertor)
from app.models import Category

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def index(request: Request, session: SessionDep, query: PostQueryDep):
    """List posts with a search box, a category filter and pagination; does not count reads."""
    categories = session.scalars(select(Category).order_by(Category.name)).all()
    context = {
        "query": query,
        "page": search_posts(session, query),
        "categories": categories,
        "category_names": {category.id: category.name for category in categories},
    }
    return templates.TemplateResponse(request, "index.html", context)


@router.get("/posts/{post_id:id}", response_class=HTMLResponse)
def post_detail(request: Request, session: SessionDep, post_id: int):
    """Show one post, counting the read."""
    return templates.TemplateResponse(request, "post.html", {"post": count_read(session, post_id)})
