"""Receive a multipart upload: its file streamed into the media store's staging, never whole."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from anyio import CancelScope, to_thread
from litestar import Request
from litestar.exceptions import InternalServerException
from multipart import (  # type: ignore[import-untyped]
    MultipartSegment,
    ParserError,
    ParserLimitReached,
    PushMultipartParser,
)

from flextype_core.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from flextype_core.ports import StagedUpload
from flextype_entrypoints.http.errors import ClientDisconnected

__all__ = ["MAX_FIELD_SIZE", "ReceivedForm", "receive_multipart"]

MAX_FIELD_SIZE = 65_536
"""Largest text field of a multipart form, in bytes."""
_MAX_PARTS = 32
_WRITE_BYTES = 1024 * 1024
"""File bytes gathered before a remote staging's write (in a worker thread)."""


class ReceivedForm:
    """The text fields of a multipart form, and its one file (a staged upload, or None)."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.file: StagedUpload | None = None
        self.file_name: str | None = None

    async def discard(self) -> None:
        """Abort the staged file unless the store took it (after an error, or unused).

        In a worker thread: aborting an upload to a bucket is a request or two, which
        must not hold the event loop (nor be skipped when the request is cancelled).
        """
        if self.file is not None:
            with CancelScope(shield=True):
                await to_thread.run_sync(self.file.abort)


async def receive_multipart(
    request: Request[Any, Any, Any],
    stage: Callable[[], StagedUpload],
    max_file_size: int,
    *,
    remote: bool = False,
) -> ReceivedForm:
    """Read a ``multipart/form-data`` body; the file part is written into ``stage()``.

    With ``remote`` (the staging is a bucket's: a write may wait for the network), the
    file's bytes are gathered a MiB at a time and written in a worker thread; else they
    are written as they come, on the event loop (a thread hop per chunk made local
    uploads half as slow again).

    Where its bytes wait is the media store's (``MediaStore.stage``); the caller hands
    ``form.file`` to the core and ``discard``s the form in every case.

    Raises:
        UnsupportedMediaType: the body is not multipart/form-data.
        BadRequest: a malformed body, several files, or a text field over 64 kB.
        PayloadTooLarge: the file is larger than ``max_file_size``.
        StorageError: the file cannot be staged (a full disk, say): nothing is left of it.
        ClientDisconnected: the client went away before sending the whole body.
    """
    boundary = _boundary(request.headers.get("content-type", ""))
    form = ReceivedForm()
    try:
        await _parse(request, boundary, _Reader(form, stage, max_file_size, remote=remote))
    except BaseException:
        await form.discard()
        raise
    return form


def _boundary(content_type: str) -> str:
    media_type, _, params = content_type.partition(";")
    if media_type.strip().lower() != "multipart/form-data":
        raise UnsupportedMediaType("Uploads are sent as multipart/form-data.")
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"')
    raise BadRequest("The multipart/form-data body has no boundary.")


class _Reader:
    """Feeds the parser's events into a ``ReceivedForm``, the file into its staged upload."""

    def __init__(
        self,
        form: ReceivedForm,
        stage: Callable[[], StagedUpload],
        max_file_size: int,
        *,
        remote: bool,
    ) -> None:
        self.form = form
        self.stage = stage
        self.max_file_size = max_file_size
        self.remote = remote
        self.segment: MultipartSegment | None = None
        self.text = bytearray()
        self.pending: list[bytearray] = []
        """File bytes parsed, not yet written (under ``_WRITE_BYTES`` and a chunk)."""
        self.pending_size = 0

    def feed(self, part: MultipartSegment | bytearray | None) -> None:
        if isinstance(part, MultipartSegment):
            self.segment = part
            if part.filename is not None:
                if self.form.file is not None:
                    raise BadRequest("Send one file per upload.")
                self.form.file = self.stage()
                self.form.file_name = part.filename
        elif self.segment is None:
            return
        elif part:
            self._data(self.segment, part)
        else:  # the end of a part
            if self.segment.filename is None:
                self.form.fields[self.segment.name] = self.text.decode("utf-8", "replace")
            self.text = bytearray()
            self.segment = None

    def _data(self, segment: MultipartSegment, data: bytearray) -> None:
        file = self.form.file
        if segment.filename is not None and file is not None:
            self.pending_size += len(data)
            if file.size + self.pending_size > self.max_file_size:
                raise PayloadTooLarge(f"The file is larger than {self.max_file_size} bytes.")
            self.pending.append(data)
            return
        self.text.extend(data)
        if len(self.text) > MAX_FIELD_SIZE:
            raise BadRequest(f"A form field is longer than {MAX_FIELD_SIZE} bytes.")

    async def flush(self) -> None:
        """Write the pending file bytes into the staged upload.

        Remote, in a worker thread: an upload to a bucket hands each full part to its
        sender and waits for the previous one to be sent (seconds on a slow bucket); the
        event loop serves other requests meanwhile, and this request reads no more of
        its body until the bytes are written.
        """
        file, pending = self.form.file, self.pending
        if file is None or not pending:
            return
        self.pending, self.pending_size = [], 0
        if self.remote:
            await to_thread.run_sync(_write_all, file, pending)
        else:
            _write_all(file, pending)


def _write_all(file: StagedUpload, pieces: list[bytearray]) -> None:
    for piece in pieces:
        file.write(piece)


async def _parse(request: Request[Any, Any, Any], boundary: str, reader: _Reader) -> None:
    try:
        # The staged upload names a full disk or a failing one (StorageError) itself.
        with PushMultipartParser(boundary, max_segment_count=_MAX_PARTS) as parser:
            async for chunk in request.stream():
                for part in parser.parse(chunk):
                    reader.feed(part)
                if not reader.remote or reader.pending_size >= _WRITE_BYTES or parser.closed:
                    await reader.flush()
                if parser.closed:
                    break
            if not parser.closed:
                raise BadRequest("The multipart/form-data body ended early.")
    except (ParserError, ParserLimitReached) as exc:
        raise BadRequest(f"The multipart/form-data body is malformed: {exc}.") from exc
    except InternalServerException as exc:
        # Litestar's one 500 from reading a body: the disconnect message of the server.
        raise ClientDisconnected from exc
