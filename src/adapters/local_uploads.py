"""Uploads staged in a hidden temporary file beside the media (the StagedUpload port).

The file ``.upload-<8 random>`` lies in ``media/.uploads``, on the media folder's file
system, so storing it is one rename. Its name is ``flextype_adapters.debris``'s, so one
left by a killed process is removed once idle for an hour; an aborted upload removes it
at once. Nothing in ``media/.uploads`` is ever a file or folder of the store.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from flextype_adapters.yaml_codec import storage_errors as _storage_errors

__all__ = ["UPLOADS", "FileUpload"]

UPLOADS = ".uploads"
"""The folder of the media directory where uploads wait."""
_SUBJECT = "The upload"


class FileUpload:
    """An upload written into a temporary file of ``folder`` (created if missing).

    The store that staged it takes its file with ``path`` and ``taken``; until then
    ``abort`` (or the end of a ``with`` block) removes it.

    Raises:
        StorageError: the temporary file cannot be created.
    """

    def __init__(self, folder: Path) -> None:
        with _storage_errors(_SUBJECT, "written"):
            folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=".upload-", dir=folder)
        self._fd: int | None = fd
        self._path = Path(name)
        self._size = 0
        self._gone = False  # taken by the store, or aborted

    @property
    def path(self) -> Path:
        """The temporary file (for the store that moves it into place)."""
        return self._path

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._fd is None:
            raise ValueError("The upload is finished: nothing more can be written to it.")
        view = memoryview(data).cast("B")
        with _storage_errors(_SUBJECT, "written"):
            # os.write may take part of it (a nearly full disk says so only next time).
            while view:
                written = os.write(self._fd, view)
                self._size += written
                view = view[written:]

    def finish(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            with _storage_errors(_SUBJECT, "written"):
                os.fsync(fd)
        finally:
            os.close(fd)

    def head(self, length: int) -> bytes:
        with _storage_errors(_SUBJECT, "read"):
            if self._fd is not None:
                return os.pread(self._fd, length, 0)
            with self._path.open("rb") as stream:
                return stream.read(length)

    def taken(self) -> None:
        """Record that the store moved the file into place: ``abort`` leaves it alone."""
        self._gone = True

    def abort(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        if not self._gone:
            self._gone = True
            with contextlib.suppress(OSError):
                self._path.unlink()

    def __enter__(self) -> FileUpload:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.abort()
