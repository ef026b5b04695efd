"""One access-log line per request: client, method, path with credentials masked, status, time.

uvicorn's own access log cannot serve: it prints the query string as sent, tokens and
all, and no duration. Headers are never logged, so Basic and Bearer credentials cannot
appear; in the query string the values of ``token`` and ``access_token`` (and on the
Tokens API, which names tokens by their public id, ``id``, ``new_id``, ``string`` and
``hash``, its hash helpers' older names included) are replaced by ``***``.
"""

from __future__ import annotations

import logging
import re
import time
from urllib.parse import unquote_plus

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

from flextype_entrypoints.http.app import create_app
from flextype_entrypoints.logs import ACCESS_LOGGER

__all__ = ["MASK", "MAX_TARGET", "AccessLog", "create_logged_app", "masked_query"]

MASK = "***"
MAX_TARGET = 1000
"""Longest path or query shown, in characters: a line stays below the pipe's atomic write
size, so the lines of several ``--workers`` never interleave."""

_SECRETS = frozenset({"token", "access_token"})
_TOKENS_API_SECRETS = _SECRETS | {"id", "new_id", "string", "hash"}
# The Tokens API, and its hash helpers under their older names (``/api/tokens-generate-hash``).
_TOKENS_API = re.compile(r"/api(?:/v[01])?/tokens(?:-generate-hash|-verify-hash)?(?:/|$)")


class AccessLog:
    """Log each HTTP request to ``flextype.access`` at INFO once its response is sent.

    Args:
        app: the ASGI app to wrap.
        logger: where the lines go; nothing is measured while it is not enabled for INFO.
    """

    def __init__(self, app: ASGIApp, logger: logging.Logger | None = None) -> None:
        self.app = app
        self._log = logger or logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not self._log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except Exception:
            status = status or 500  # what the server answers for it
            raise
        finally:
            self._write(scope, status, (time.perf_counter() - started) * 1000)

    def _write(self, scope: HTTPScope, status: int, ms: float) -> None:
        path = _shown(scope.get("raw_path") or scope["path"].encode("utf-8"))
        tokens_api = _TOKENS_API.match(scope["path"]) is not None  # as the router reads it
        query = masked_query(scope.get("query_string", b""), tokens_api=tokens_api)
        client = scope.get("client")
        host = client[0] if client else "-"
        method = scope["method"]
        target = f"{path}?{query}" if query else path
        self._log.info(
            "%s %s %s %s %.1fms",
            host,
            method,
            target,
            status or "-",  # no answer started: the client left or the server stopped
            ms,
            extra={
                "fields": {
                    "client": host,
                    "method": method,
                    "path": path,
                    "query": query,
                    "status": status or None,
                    "duration_ms": round(ms, 3),
                }
            },
        )


def masked_query(raw: bytes, *, tokens_api: bool = False) -> str:
    """Return the query string as sent, credential values replaced by ``MASK``.

    A name counts by what the API reads: percent-decoded, before its first ``[``.
    """
    secrets = _TOKENS_API_SECRETS if tokens_api else _SECRETS
    parts = []
    for part in raw.split(b"&"):
        name, equals, _ = part.partition(b"=")
        key = unquote_plus(name.decode("latin-1")).partition("[")[0]
        parts.append(name + b"=" + MASK.encode() if equals and key in secrets else part)
    return _shown(b"&".join(parts))


def _shown(raw: bytes) -> str:
    """The bytes as one printable line: non-ASCII and control bytes escaped, length capped."""
    text = raw.decode("latin-1")
    if not (text.isascii() and text.isprintable()):
        text = "".join(c if " " < c < "\x7f" else f"\\x{ord(c):02x}" for c in text)
    return text if len(text) <= MAX_TARGET else text[:MAX_TARGET] + "..."


def create_logged_app(*, deliver_webhooks: bool = False) -> ASGIApp:
    """The app of ``create_app`` with its access log (the factory of ``--workers``)."""
    return AccessLog(create_app(deliver_webhooks=deliver_webhooks))
