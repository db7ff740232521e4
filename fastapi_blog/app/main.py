"""The FastAPI application: ``uvicorn app.main:app``."""

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI, HTTPException, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import pages
from app.api.deps import bearer, require_token
from app.api.main import api_router
from app.core.config import settings
from app.core.db import WORKER_THREADS
from app.http import BodyTooLarge, HTTPRules

logger = logging.getLogger(__name__)

WRITE_METHODS = {"POST", "PATCH", "DELETE"}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Size the thread pool of the sync endpoints to the connection pool; warn when writes cannot be authorised."""
    to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
    if not settings.blog_api_token:
        logger.warning("BLOG_API_TOKEN is not set: every write will be refused with 401")
    yield


# A trailing slash is another path (404), as in the other apps, not a redirect.
app = FastAPI(title="Blog", lifespan=lifespan, redirect_slashes=False)
app.add_middleware(HTTPRules)


async def unauthorized_write(request: Request) -> JSONResponse | None:
    """The 401 of a write without the token, or None: authentication comes before reading the body.

    FastAPI parses a JSON body before it runs any dependency, so a body it cannot parse would otherwise
    answer 422 (or 400) to a client that is not allowed to write at all.
    """
    if request.method not in WRITE_METHODS:
        return None
    try:
        require_token(request, await bearer(request))
    except HTTPException as exc:
        return await http_exception_handler(request, exc)
    return None


@app.exception_handler(RequestValidationError)
async def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's usual 422, which also survives input that is not text (bytes that are not UTF-8, lone surrogates).

    The default handler fails on both; here bytes are decoded with replacements, and the body is ASCII JSON.
    """
    if refused := await unauthorized_write(request):
        return refused
    detail = jsonable_encoder(exc.errors(), custom_encoder={bytes: lambda raw: raw.decode(errors="replace")})
    body = json.dumps({"detail": detail}, separators=(",", ":"), default=str)
    return Response(body, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, media_type="application/json")


@app.exception_handler(StarletteHTTPException)
async def http_error_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """FastAPI's usual HTTP errors, except that a body over the limit is 413 (after authentication).

    FastAPI answers an error while it reads the body with 400 ("There was an error parsing the body"), raised from it.
    """
    if exc.status_code == status.HTTP_400_BAD_REQUEST and isinstance(exc.__cause__, BodyTooLarge):
        if refused := await unauthorized_write(request):
            return refused
        return JSONResponse({"detail": "The body is too large"}, status_code=status.HTTP_413_CONTENT_TOO_LARGE)
    return await http_exception_handler(request, exc)


@app.exception_handler(DataError)
async def data_error_handler(request: Request, exc: DataError) -> JSONResponse:
    """422 for a value the database refuses to store as it is (too long for its column on MariaDB, whose TEXT holds
    64 KiB): the client's value, not a fault of the server. The request's session rolls back as it closes."""
    detail = f"A value does not fit its database column: {exc.orig}"
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


@app.exception_handler(Exception)
async def internal_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer an unexpected error with a JSON 500.

    Starlette re-raises the exception after this response, so the server logs the traceback.
    """
    return JSONResponse({"detail": "Internal Server Error"}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)


app.include_router(api_router, prefix="/api")
app.include_router(pages.router)
