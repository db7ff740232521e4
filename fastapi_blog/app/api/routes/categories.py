"""``/api/categories``: list, create and delete categories."""

from fastapi import APIRouter, Depends, HTTPException, status
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from app.api.deps import SessionDep, require_token
from app.http import StrictJSONRoute
from app.models import MAX_ID, Category, Post
from app.schemas import CategoryCreate, CategoryPublic

router = APIRouter(prefix="/categories", tags=["categories"], route_class=StrictJSONRoute)


@router.get("")
def read_categories(session: SessionDep) -> list[CategoryPublic]:
    """List every category, ordered by name."""
    return session.scalars(select(Category).order_by(Category.name)).all()


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[Depends(require_token)])
def create_category(session: SessionDep, category_in: CategoryCreate) -> CategoryPublic:
    """Create a category; 409 if the name is taken."""
    category = Category(**category_in.model_dump())
    session.add(category)
    try:
        session.commit()
    except IntegrityError:  # the unique constraint on name
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail="Category name already exists") from None
    return category


@router.delete("/{category_id:id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[Depends(require_token)])
def delete_category(session: SessionDep, category_id: int) -> None:
    """Delete a category; 409 while it still has posts."""
    category = session.get(Category, category_id) if category_id <= MAX_ID else None
    if category is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Category not found")
    if session.scalar(select(exists().where(Post.category_id == category_id))):
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail="Category still has posts")
    session.delete(category)
    session.commit()
