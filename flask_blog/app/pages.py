"""The HTML pages: the list of posts and a post's own page."""

import sqlalchemy as sa
from flask import Blueprint, render_template

from app import db
from app.api import post_filters, post_page, read_post
from app.models import Category

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    """The posts, with the same filters and pagination as `GET /api/posts`; does not count reads."""
    filters = post_filters()
    categories = db.session.scalars(sa.select(Category).order_by(Category.name)).all()
    # The previous/next links keep the filters (url_for leaves out the None values).
    link_args = {"q": filters.q or None, "category_id": filters.category_id, "per_page": filters.per_page}
    return render_template(
        "index.html", filters=filters, page=post_page(filters), categories=categories, link_args=link_args
    )


@bp.get("/posts/<id:post_id>")
def post(post_id: int):
    """One post; the read is counted."""
    return render_template("post.html", post=read_post(post_id))
