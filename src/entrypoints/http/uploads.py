"""Receive a multipart upload: the file streamed to a temporary file, never whole in memory."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from anyio import to_thread
from litestar import Request
from litestar.exceptions import InternalServerException
from multipart import (  # type: ignore[import-untyped]
    MultipartSegment,
    ParserError,
    ParserLimitReached,
    PushMultipartParser,
)

from flextype_adapters.yaml_codec import storage_errors as _storage_errors
from flextype_core.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from flextype_entrypoints.http.errors import ClientDisconnected

__all__ = ["MAX_FIELD_SIZE", "ReceivedForm", "receive_multipart"]

MAX_FIELD_SIZE = 65_536
"""Largest text field of a multipart form, in bytes."""
_MAX_PARTS = 32


class ReceivedForm:
    """The text fields of a multipart form, and its one file (a temporary file, or None)."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.file_path: Path | None = None
        self.file_name: str | None = None
        self.file_size = 0

    def discard(self) -> None:
        """Remove the temporary file if it is still there (after an error, or unused)."""
        if self.file_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.file_path.unlink()


async def receive_multipart(
    request: Request[Any, Any, Any], upload_dir: Path, max_file_size: int
) -> ReceivedForm:
    """Read a ``multipart/form-data`` body; the part named ``file`` goes to ``upload_dir``.

    The temporary file is fsync'd, so renaming it into place makes the upload durable.

    Raises:
        UnsupportedMediaType: the body is not multipart/form-data.
        BadRequest: a malformed body, several files, or a text field over 64 kB.
        PayloadTooLarge: the file is larger than ``max_file_size``.
        StorageError: the temporary file cannot be written (a full disk, say): nothing
            is left of it.
        ClientDisconnected: the client went away before sending the whole body.
    """
    boundary = _boundary(request.headers.get("content-type", ""))
    form = ReceivedForm()
    try:
        await _parse(request, boundary, upload_dir, max_file_size, form)
    except BaseException:
        form.discard()
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
    """Feeds the parser's events into a ``ReceivedForm``, the file into its temp file."""

    def __init__(self, form: ReceivedForm, upload_dir: Path, max_file_size: int) -> None:
        self.form = form
        self.upload_dir = upload_dir
        self.max_file_size = max_file_size
        self.segment: MultipartSegment | None = None
        self.text = bytearray()
        self.fd: int | None = None

    def feed(self, part: MultipartSegment | bytearray | None) -> None:
        if isinstance(part, MultipartSegment):
            self.segment = part
            if part.filename is not None:
                self.fd = _open_file(self.form, part.filename, self.upload_dir)
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
        if segment.filename is not None and self.fd is not None:
            self.form.file_size += len(data)
            if self.form.file_size > self.max_file_size:
                raise PayloadTooLarge(f"The file is larger than {self.max_file_size} bytes.")
            _write_all(self.fd, data)
            return
        self.text.extend(data)
        if len(self.text) > MAX_FIELD_SIZE:
            raise BadRequest(f"A form field is longer than {MAX_FIELD_SIZE} bytes.")


async def _parse(
    request: Request[Any, Any, Any],
    boundary: str,
    upload_dir: Path,
    max_file_size: int,
    form: ReceivedForm,
) -> None:
    reader = _Reader(form, upload_dir, max_file_size)
    try:
        # As every other write: a full disk or a failing one is named in the answer.
        with _storage_errors("The upload", "written"):
            with PushMultipartParser(boundary, max_segment_count=_MAX_PARTS) as parser:
                async for chunk in request.stream():
                    for part in parser.parse(chunk):
                        reader.feed(part)
                    if parser.closed:
                        break
                if not parser.closed:
                    raise BadRequest("The multipart/form-data body ended early.")
            if reader.fd is not None:
                await to_thread.run_sync(os.fsync, reader.fd)
    except (ParserError, ParserLimitReached) as exc:
        raise BadRequest(f"The multipart/form-data body is malformed: {exc}.") from exc
    except InternalServerException as exc:
        # Litestar's one 500 from reading a body: the disconnect message of the server.
        raise ClientDisconnected from exc
    finally:
        if reader.fd is not None:
            os.close(reader.fd)


def _write_all(fd: int, data: bytearray) -> None:
    """Write all of ``data``: a nearly full disk takes part of it and says so only next."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _open_file(form: ReceivedForm, file_name: str, upload_dir: Path) -> int:
    if form.file_path is not None:
        raise BadRequest("Send one file per upload.")
    upload_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".upload-", dir=upload_dir)
    form.file_path = Path(name)
    form.file_name = file_name
    return fd
