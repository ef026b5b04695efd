"""A media file's bytes as a streamed answer: read in a worker thread, closed in every case.

The status and ``Content-Length`` are sent before the first byte is read, so a read
that fails later (a bucket gone unreachable mid-file) can no longer become an error
answer: the answer stops short, uvicorn closes the connection (the client sees a body
shorter than announced), and one warning line names the file and the failure, never
its cause (a storage library's message may hold the bucket's address). The file is
closed when the answer ends, fails, or the client goes away.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, BinaryIO

from anyio import create_task_group, to_thread
from litestar import Request
from litestar.background_tasks import BackgroundTask
from litestar.response import Stream
from litestar.response.base import ASGIResponse
from litestar.response.streaming import ASGIStreamingResponse
from litestar.types import Receive, Send

from flextype_core.errors import FlextypeError

__all__ = ["CHUNK", "FileStream"]

CHUNK = 256 * 1024
"""Bytes read and sent at a time: one buffer per response in flight, never the file."""

log = logging.getLogger("flextype.http")


class _UnfinishedError(Exception):
    """The file could not be read to its end (already logged)."""


async def _chunks(stream: BinaryIO, file_id: str) -> AsyncIterator[bytes]:
    try:
        # Not cancelled mid-read (anyio waits for the thread): the close below never
        # races a read in progress.
        while chunk := await to_thread.run_sync(stream.read, CHUNK):
            yield chunk
    except (FlextypeError, OSError) as exc:
        reason = exc.message if isinstance(exc, FlextypeError) else "the file cannot be read."
        log.warning("The media file %s was not sent whole: %s", file_id, reason)
        raise _UnfinishedError from None
    finally:
        stream.close()


class _ASGIFileStream(ASGIStreamingResponse):
    __slots__ = ()

    async def send_body(self, send: Send, receive: Receive) -> None:
        async with create_task_group() as group:

            async def stream() -> None:
                with contextlib.suppress(_UnfinishedError):
                    await self._stream(send)
                # Ended, whole or short: stop listening for the client. Short, no end of
                # body is sent: the server closes the connection, the client sees a short
                # body, and the failure was logged once, in its place.
                group.cancel_scope.cancel()

            group.start_soon(stream)
            await self._listen_for_disconnect(cancel_scope=group.cancel_scope, receive=receive)


class FileStream(Stream):
    """The bytes of ``stream`` (media file ``file_id``), ``CHUNK`` at a time."""

    def __init__(
        self, stream: BinaryIO, file_id: str, *, media_type: str, headers: dict[str, str]
    ) -> None:
        super().__init__(
            _chunks(stream, file_id),
            media_type=media_type,
            headers=headers,
            # Should the body never be started (the client gone first), close it anyway.
            background=BackgroundTask(stream.close),
        )

    def to_asgi_response(
        self, app: Any, request: Request[Any, Any, Any], **kwargs: Any
    ) -> ASGIResponse:
        answer = super().to_asgi_response(app, request, **kwargs)
        assert type(answer) is ASGIStreamingResponse
        # The very response Litestar built (headers, cookies, background), with a body
        # that may stop short: the subclass adds behaviour only, no state (__slots__ = ()).
        answer.__class__ = _ASGIFileStream
        return answer
