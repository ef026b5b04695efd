"""HEAD wherever GET is answered: the GET's status and headers, without its body."""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseBodyEvent, Message, Receive, Scope, Send

__all__ = ["HEAD_STATE", "HeadMiddleware", "is_head"]

HEAD_STATE = "flextype_head"
"""The key of the connection state that marks a HEAD run as a GET (``is_head``)."""


def is_head(scope: Scope) -> bool:
    """Whether the request was a HEAD: a handler may then skip producing its body."""
    state = scope.get("state") or {}
    return bool(state.get(HEAD_STATE))


class HeadMiddleware:
    """Run a HEAD request as a GET and drop the body (RFC 9110 section 9.3.2).

    Wrapped around the app's whole handler, before routing: Litestar routes HEAD only
    to handlers that declare it, and answers 405 elsewhere. ``Content-Length`` stays
    the GET's, as RFC 9110 allows, so a client learns the size without the bytes.
    A HEAD runs the GET's handler, so it is authorized and counted as that GET is; a
    handler whose body is costly to make (a media file's bytes) asks ``is_head``.

    Args:
        app: the ASGI app to wrap.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.start":
                await send(message)
            elif not message.get("more_body", False):
                end: HTTPResponseBodyEvent = {
                    "type": "http.response.body",
                    "body": b"",
                    "more_body": False,
                }
                await send(end)

        state = {**(scope.get("state") or {}), HEAD_STATE: True}
        await self.app({**scope, "method": "GET", "state": state}, receive, send_without_body)
