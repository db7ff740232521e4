"""The JSON API router, mounted under ``/api``."""

from fastapi import APIRouter

from app.api.routes import categories, posts

api_router = APIRouter()
api_router.include_router(categories.router)
api_router.include_router(posts.router)
