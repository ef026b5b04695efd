"""Requests sent straight to an ASGI app, body chunk by chunk (a test client buffers it).

``streamed`` is what the HTTP tests use to see what a server does while a request is
under way: how much of a body it has read (the chunks it pulled from ``parts``), an
answer it streams (counted, never kept whole), a client that goes away mid-answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import anyio
from litestar import Litestar

__all__ = ["multipart", "streamed"]


async def streamed(
    app: Litestar,
    method: str,
    path: str,
    headers: dict[str, str],
    parts: Iterator[bytes],
    *,
    hang_up_after: int | None = None,
) -> tuple[int, bytes, int]:
    """Send a request's body chunk by chunk straight to the ASGI app (a test client buffers
    it); return the status, the answer's first 64 KiB and its length in bytes (the rest of
    a big answer is counted, never kept). With ``hang_up_after``, the client goes away
    (``http.disconnect``) once it has that many bytes of the answer's body."""
    answer: dict[str, Any] = {"body": b"", "length": 0, "sent": False, "status": None}
    done = anyio.Event()

    async def receive() -> dict[str, Any]:
        if answer["sent"]:  # the body was read: the client waits for the answer, then goes
            await done.wait()
            return {"type": "http.disconnect"}
        chunk = next(parts, None)
        if chunk is None:
            answer["sent"] = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        if done.is_set():  # gone: a server's send then does nothing
            return
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            answer["length"] += len(body)
            if len(answer["body"]) < 65536:
                answer["body"] += body[:65536]
            if not message.get("more_body", False) or (
                hang_up_after is not None and answer["length"] >= hang_up_after
            ):
                done.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    return answer["status"], answer["body"], answer["length"]


def multipart(
    token: str, access_token: str, name: str, chunks: Iterable[bytes], boundary: str = "b0undary"
) -> Iterator[bytes]:
    """A media upload's multipart body (token, access_token, file), the file in ``chunks``."""
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="token"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="access_token"\r\n\r\n'
        f"{access_token}\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    yield from chunks
    yield f"\r\n--{boundary}--\r\n".encode()
