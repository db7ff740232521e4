"""Dependencies shared by the routes: the database session and the write token."""

import re
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.core.config import settings
from app.core.db import get_db

SessionDep = Annotated[Session, Depends(get_db)]

bearer = HTTPBearer(auto_error=False)  # declares the scheme in the OpenAPI schema
# The whole header: the scheme in any case, one or more spaces, the token (docs/contract.md).
BEARER = re.compile(r"bearer +(\S+)", re.IGNORECASE)


def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    """Let a write through only with one ``Authorization: Bearer <BLOG_API_TOKEN>``; no token set refuses all."""
    token = settings.blog_api_token
    headers = request.headers.getlist("authorization")
    match = BEARER.fullmatch(headers[0]) if len(headers) == 1 else None
    sent = match.group(1) if match else ""
    if not token or not secrets.compare_digest(sent.encode(), token.encode()):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Invalid or missing bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
