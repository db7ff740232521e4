"""HTTP rules of the contract below the routes: limits, strict JSON bodies, HEAD and OPTIONS, long URLs."""

import json
import math
import re
from collections.abc import Callable, Coroutine
from functools import cache
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.convertors import Convertor, register_url_convertor
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32
MAX_TARGET_BYTES = 4000  # below gunicorn's 4094-byte request line, so that the three apps answer alike
JSON_CONTENT_TYPE = (b"content-type", b"application/json")


class IdConvertor(Convertor[int]):
    """A row id in a path (``{post_id:id}``): a positive integer literal, leading zeros allowed, of any length.

    Anything else (``0``, ``-1``, ``abc``) does not match the route at all, so it is 404 whatever the method.
    """

    regex = "0*[1-9][0-9]*"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", IdConvertor())


class BodyTooLarge(Exception):
    """The request body is over MAX_BODY_BYTES (answered 413 by app.main)."""


def reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is beyond the range of a number")
    return value


def depth(value: object) -> int:
    """How many arrays and objects are nested in `value` at its deepest (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def strict_loads(body: bytes) -> Any:
    """Parse JSON as the contract reads it; any failure is a json.JSONDecodeError (FastAPI's 422)."""
    try:
        data = json.loads(body, parse_constant=reject_constant, parse_float=finite_float)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:  # NaN, 1e400, not UTF-8, nested beyond the parser's recursion
        raise json.JSONDecodeError(str(exc) or "nested too deep", "", 0) from exc
    if depth(data) > MAX_JSON_DEPTH:
        raise json.JSONDecodeError(f"nested deeper than {MAX_JSON_DEPTH}", "", 0)
    return data


class StrictJSONRequest(Request):
    """A request whose body is at most MAX_BODY_BYTES and whose JSON follows the contract's rules."""

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            if int(self.headers.get("content-length") or 0) > MAX_BODY_BYTES:
                raise BodyTooLarge
            chunks, size = [], 0
            async for chunk in self.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise BodyTooLarge
                chunks.append(chunk)
            self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """The route class of the API: its endpoints read bodies through StrictJSONRequest."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler


@cache
def route_methods(app: FastAPI) -> tuple[tuple[re.Pattern, frozenset[str]], ...]:
    """The path pattern and the methods of every route of `app`, included routers' routes too."""
    routes = iter_route_contexts(app.routes)
    return tuple((compile_path(r.path)[0], frozenset(r.methods)) for r in routes if r.path and r.methods)


def allowed_methods(scope: Scope) -> set[str]:
    """The methods of every route whose path matches the request's (empty for an unknown path)."""
    methods: set[str] = set()
    for pattern, methods_of_route in route_methods(scope["app"]):
        if pattern.match(scope["path"]):
            methods |= methods_of_route
    if "GET" in methods:
        methods.add("HEAD")
    return methods | {"OPTIONS"} if methods else methods


class HTTPRules:
    """ASGI middleware: the request-target limit, bodies read as JSON, HEAD as GET, and OPTIONS."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        query = scope.get("query_string", b"")
        if len(scope.get("raw_path") or scope["path"].encode()) + (len(query) + 1 if query else 0) > MAX_TARGET_BYTES:
            return await json_error(414, "The URL is too long")(scope, receive, send)
        method = scope["method"]
        if method == "OPTIONS":
            if methods := allowed_methods(scope):
                return await Response(headers={"Allow": ", ".join(sorted(methods))})(scope, receive, send)
            return await json_error(404, "Not Found")(scope, receive, send)
        if method == "HEAD" and "GET" in allowed_methods(scope):
            scope = {**scope, "method": "GET"}  # the server leaves out the body: it still sees HEAD
        if method in {"POST", "PATCH", "PUT", "DELETE"}:
            # The contract reads every body as JSON, whatever its Content-Type says.
            headers = [(key, value) for key, value in scope["headers"] if key != b"content-type"]
            scope = {**scope, "headers": [*headers, JSON_CONTENT_TYPE]}
        return await self.app(scope, receive, send)


def json_error(status_code: int, detail: str) -> Response:
    return JSONResponse({"detail": detail}, status_code=status_code)
