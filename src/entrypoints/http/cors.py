"""CORS exactly as the contract says, for every response, 404s and errors included.

Litestar's own CORS middleware answers ``*`` to a request with an Origin when all origins
are allowed, and nothing without one; the contract wants the Origin echoed (with
``Vary: Origin``) and ``*`` without one. So this wraps the app's whole ASGI handler, as
Litestar wraps its own CORS middleware, and preflights never reach the router.
"""

from __future__ import annotations

from collections.abc import Sequence

from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Message,
    Receive,
    Scope,
    Send,
)

__all__ = ["ALLOW_HEADERS", "ALLOW_METHODS", "EXPOSE_HEADERS", "MAX_AGE", "CorsMiddleware"]

# The contract's five, plus the conditional-request headers its section 9 asks clients to
# send: without them a page on another origin could not send If-Match at all.
# Last-Event-ID: what a change event stream resumes after.
ALLOW_HEADERS = (
    "Accept, Content-Type, Content-Length, Accept-Encoding, Authorization, If-Match, "
    "If-None-Match, Last-Event-ID"
)
# A script on another origin reads only the headers listed here (and a few safe ones):
# the ETag it must send back in If-Match, why a request failed or where to go, and the
# change feed's position a collection reflects.
EXPOSE_HEADERS = "ETag, WWW-Authenticate, Retry-After, Location, X-Changes-Cursor"
ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
MAX_AGE = "300"


class CorsMiddleware:
    """Add CORS headers to every HTTP response; answer every preflight ``OPTIONS`` with 204.

    Args:
        app: the ASGI app to wrap.
        allow_origins: origins allowed; ``"*"`` in the list allows any.
    """

    def __init__(self, app: ASGIApp, allow_origins: Sequence[str]) -> None:
        self.app = app
        self._any = "*" in allow_origins
        self._origins = frozenset(allow_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        headers = self._headers(origin)
        if scope["method"] == "OPTIONS":
            preflight = [
                *headers,
                (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
                (b"access-control-allow-methods", ALLOW_METHODS.encode()),
                (b"access-control-max-age", MAX_AGE.encode()),
            ]
            start: HTTPResponseStartEvent = {
                "type": "http.response.start",
                "status": 204,
                "headers": preflight,
            }
            body: HTTPResponseBodyEvent = {
                "type": "http.response.body",
                "body": b"",
                "more_body": False,
            }
            await send(start)
            await send(body)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _headers(self, origin: str | None) -> list[tuple[bytes, bytes]]:
        if origin is None:
            return [(b"access-control-allow-origin", b"*")] if self._any else []
        if self._any or origin in self._origins:
            return [
                (b"access-control-allow-origin", origin.encode()),
                (b"vary", b"Origin"),
                (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
            ]
        return [(b"vary", b"Origin")]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None
