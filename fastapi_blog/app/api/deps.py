"""Dependencies shared by the routes: the database session and the write token."""

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.core.config import settings
from app.core.db import get_db

SessionDep = Annotated[Session, Depends(get_db)]

bearer = HTTPBearer(auto_error=False)


def require_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
    """Let a write through only with ``Authorization: Bearer <BLOG_API_TOKEN>``; no token set refuses all."""
    token = settings.blog_api_token
    sent = credentials.credentials if credentials else ""
    if not token or not secrets.compare_digest(sent.encode(), token.encode()):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Invalid or missing bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
