"""Small fakes for the image service: a media store of bytes, a counting processor, a cache."""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
from collections.abc import Callable, Mapping
from typing import Any

from flextype_core.errors import MediaFileNotFound, UnsupportedMediaType
from flextype_core.model import MediaFile
from flextype_core.ports import StagedUpload


class FakeImageStore:
    """The reading half of a MediaStore over a dict of id -> bytes (writes are unused)."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self.contents = dict(files)
        self.hashes_known = True
        """Whether ``known_hash`` answers (a store whose hashes need a round trip: no)."""

    def _content(self, file_id: str) -> bytes:
        try:
            return self.contents[file_id]
        except KeyError:
            raise MediaFileNotFound(file_id) from None

    def read(self, file_id: str) -> bytes:
        return self._content(file_id)

    def open(self, file_id: str) -> io.BytesIO:
        return io.BytesIO(self._content(file_id))

    def url(self, file_id: str, expires: int) -> str | None:
        return None

    def content_hash(self, file_id: str) -> str:
        return hashlib.sha256(self._content(file_id)).hexdigest()

    def known_hash(self, file_id: str) -> str | None:
        if not self.hashes_known or file_id not in self.contents:
            return None
        return self.content_hash(file_id)

    def file(self, file_id: str) -> MediaFile:
        return MediaFile(id=file_id, meta={"filesize": len(self._content(file_id))})

    def files(self, folder_id: str) -> list[MediaFile]:
        raise NotImplementedError

    def listing(self, folder_id: str) -> tuple[list[MediaFile], list[str]]:
        raise NotImplementedError

    def exclusive(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()  # nothing here writes

    def folders(self, folder_id: str) -> list[str]:
        raise NotImplementedError

    def folder_exists(self, folder_id: str) -> bool:
        return folder_id == ""

    def stage(self) -> StagedUpload:
        raise NotImplementedError

    def add_file(
        self, file_id: str, upload: StagedUpload, meta: Mapping[str, Any], *, replace: bool
    ) -> MediaFile:
        raise NotImplementedError

    def update_meta(
        self, file_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> MediaFile:
        raise NotImplementedError

    def move_file(self, file_id: str, new_id: str) -> MediaFile:
        raise NotImplementedError

    def copy_file(self, file_id: str, new_id: str) -> MediaFile:
        raise NotImplementedError

    def delete_file(self, file_id: str) -> None:
        raise NotImplementedError

    def create_folder(self, folder_id: str) -> None:
        raise NotImplementedError

    def move_folder(self, folder_id: str, new_id: str) -> None:
        raise NotImplementedError

    def copy_folder(self, folder_id: str, new_id: str) -> None:
        raise NotImplementedError

    def delete_folder(self, folder_id: str) -> None:
        raise NotImplementedError


class FakeImageProcessor:
    """ "Renders" by echoing a PNG signature, the source and the params; counts renders.

    A source starting with ``b"text"`` is not an image. ``gate``, when set, holds every
    render until it is set, so tests can keep renders in flight.
    """

    PNG = b"\x89PNG\r\n\x1a\n"

    def __init__(self) -> None:
        self.renders = 0
        self.gate: threading.Event | None = None
        self.started = threading.Semaphore(0)
        self._lock = threading.Lock()

    def probe(self, head: bytes) -> tuple[int, int] | None:
        return None if head.startswith(b"text") else (1, 1)

    def render(
        self, source: bytes, params: Mapping[str, Any], limits: Mapping[str, int]
    ) -> tuple[bytes, str]:
        with self._lock:
            self.renders += 1
        self.started.release()
        if self.gate is not None:
            self.gate.wait(timeout=60)
        if source.startswith(b"text"):
            raise UnsupportedMediaType("not an image")
        return self.PNG + source + repr(sorted(params.items())).encode(), "image/png"


class FakeDerivativeCache:
    """DerivativeCache over a dict."""

    def __init__(self) -> None:
        self.items: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.items.get(key)

    def put(self, key: str, data: bytes) -> None:
        self.items[key] = data
