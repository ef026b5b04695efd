"""The hottest reads answered below Litestar's per-request machinery, every behaviour kept.

``GET`` of an entry or collection, a registry item and an image cost about as much in
Litestar's routing, dependency, signature and response layers as in their own work (a
bare Litestar route answers ~2.5x the requests a second). Without a body, these reads
need none of those layers: this ASGI app in front of Litestar answers them by running
the very same read (``reads.py``) and sending its bytes, and passes every other request
to Litestar. It sits inside the CORS, HEAD and access-log wrappers, so those apply
alike; errors are answered in the one shape by the same mapping (``errors.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import partial

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send

from flextype_core.errors import FlextypeError
from flextype_entrypoints.http.answers import JSON, Answer
from flextype_entrypoints.http.deps import ApiCall, CallFactory
from flextype_entrypoints.http.errors import domain_error, unexpected_error
from flextype_entrypoints.http.params import query_values, sends_body, with_credentials
from flextype_entrypoints.http.reads import read_entries, read_image, read_registry_item

__all__ = ["FastReads"]

Read = Callable[[ApiCall, HTTPScope], Awaitable[tuple[Answer, str | None]]]

_ENCODER = msgspec.json.Encoder()


async def _registry_item(call: ApiCall, _: HTTPScope) -> tuple[Answer, str | None]:
    return await read_registry_item(call), None


async def _image(image_path: str, call: ApiCall, _: HTTPScope) -> tuple[Answer, str | None]:
    return await read_image(call, image_path), None


class FastReads:
    """Answer the hot reads of enabled API families; hand everything else to ``app``.

    Args:
        app: Litestar's ASGI handler.
        calls: makes each request's ``ApiCall``, as Litestar's dependency does.
        prefixes: the API's path prefixes (``/api``, ``/api/v0``, ``/api/v1``).
        families: the enabled API families (``entries``, ``registry``, ``images``).
    """

    def __init__(
        self,
        app: ASGIApp,
        calls: CallFactory,
        prefixes: tuple[str, ...],
        families: frozenset[str],
    ) -> None:
        self.app = app
        self._calls = calls
        self._routes: dict[str, Read] = {}
        for prefix in prefixes:
            if "entries" in families:
                self._routes[f"{prefix}/entries"] = read_entries
            if "registry" in families:
                self._routes[f"{prefix}/registry"] = _registry_item
        self._images = (
            tuple(f"{prefix}/images/" for prefix in prefixes) if "images" in families else ()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == ScopeType.HTTP
            and scope["method"] == "GET"
            and not sends_body(scope["headers"])
        ):
            read = self._route(scope["path"])
            if read is not None:
                await self._answer(read, scope, send)
                return
        await self.app(scope, receive, send)

    def _route(self, path: str) -> Read | None:
        read = self._routes.get(path)
        if read is None and path.startswith(self._images):
            image_path = path.split("/images/", 1)[1]
            # Litestar's router merges "//" and drops a trailing "/": such paths go to it.
            if image_path and "//" not in image_path and not image_path.endswith("/"):
                return partial(_image, image_path)
        return read

    async def _answer(self, read: Read, scope: HTTPScope, send: Send) -> None:
        headers = _first_values(scope["headers"])
        media_type = JSON
        try:
            values = query_values(scope.get("query_string", b""))
            call = self._calls(with_credentials(values, headers.get("authorization")), headers)
            answer, link = await read(call, scope)
            status, sent, body = call.outcome(answer, link)
            media_type = answer.media_type
        except FlextypeError as exc:
            status, document, extra = domain_error(exc)
            sent, body = dict(extra or {}), _ENCODER.encode(document)
        except Exception as exc:
            status, sent = 500, {}
            body = _ENCODER.encode(unexpected_error("GET", scope["path"], exc))
        await _send(send, status, sent, body, media_type)


def _first_values(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The request's headers by name; of a header sent twice, the first, as Litestar reads it."""
    headers: dict[str, str] = {}
    for name, value in raw:
        headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return headers


async def _send(
    send: Send, status: int, headers: Mapping[str, str], body: bytes, media_type: str
) -> None:
    # As Litestar sends them: a 304 carries no content headers.
    raw = [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    ]
    if status != 304:
        raw.append((b"content-type", media_type.encode("latin-1")))
        raw.append((b"content-length", str(len(body)).encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})
