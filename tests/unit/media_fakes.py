"""In-memory fakes of the media ports: the reference behaviour LocalMediaStore must match."""

from __future__ import annotations

import copy
import hashlib
import io
import threading
from collections.abc import Callable, Mapping
from typing import Any

from flextype_core import ids
from flextype_core.errors import Conflict, MediaFileNotFound, MediaFolderNotFound, StorageError
from flextype_core.model import MediaFile
from flextype_core.ports import StagedUpload

Meta = dict[str, Any]


class FakeUpload:
    """An upload staged in memory: ``FakeUpload(b"...")`` is one already written.

    ``state`` tells where it is: "writing", "finished", "taken" (by ``add_file``) or
    "aborted"; ``staged`` of the store that made it lists those neither taken nor aborted.
    """

    def __init__(self, data: bytes = b"", staged: set[FakeUpload] | None = None) -> None:
        self.data = bytearray(data)
        self.state = "writing"
        self._staged = staged if staged is not None else set()
        self._staged.add(self)

    @property
    def size(self) -> int:
        return len(self.data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.state != "writing":
            raise ValueError(f"The upload is {self.state}.")
        self.data.extend(data)

    def finish(self) -> None:
        if self.state == "writing":
            self.state = "finished"

    def head(self, length: int) -> bytes:
        return bytes(self.data[:length])

    def take(self) -> bytes:
        """Give the store the bytes (``add_file``)."""
        self.finish()
        self.state = "taken"
        self._staged.discard(self)
        return bytes(self.data)

    def abort(self) -> None:
        if self.state != "taken":
            self.state = "aborted"
            self.data = bytearray()
            self._staged.discard(self)

    def __enter__(self) -> FakeUpload:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.abort()


class FakeImageProcessor:
    """Reads a PNG's size from its IHDR chunk; knows no other format and renders nothing."""

    def probe(self, head: bytes) -> tuple[int, int] | None:
        if not head.startswith(b"\x89PNG\r\n\x1a\n") or len(head) < 24:
            return None
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")

    def render(
        self, source: bytes, params: Mapping[str, Any], limits: Mapping[str, int]
    ) -> tuple[bytes, str]:
        raise NotImplementedError


def _parent(media_id: str) -> str:
    return ids.parent_of(media_id)


class FakeMediaStore:
    """MediaStore over dicts: file id -> (content, metadata), and a set of folder ids."""

    def __init__(self, *, links: bool = False) -> None:
        self.links = links
        """Whether ``url`` gives URLs, as an object store does (else None, as a disk)."""
        self.contents: dict[str, bytes] = {}
        self.metas: dict[str, Meta] = {}
        self.folder_ids: set[str] = set()
        self.damaged: set[str] = set()
        """Ids of files whose metadata is to be unreadable, as a broken sidecar is."""
        self.staged: set[FakeUpload] = set()
        """The uploads begun (``stage``) and neither stored nor aborted."""
        self._lock = threading.RLock()

    def exclusive(self) -> threading.RLock:
        return self._lock

    def file(self, file_id: str) -> MediaFile:
        if file_id not in self.metas:
            raise MediaFileNotFound(file_id)
        if file_id in self.damaged:
            raise StorageError(f"The metadata of file '{file_id}' cannot be read: damaged.")
        return MediaFile(id=file_id, meta=copy.deepcopy(self.metas[file_id]))

    def files(self, folder_id: str) -> list[MediaFile]:
        self._require_folder(folder_id)
        return [self.file(i) for i in self._in(folder_id) if i not in self.damaged]

    def listing(self, folder_id: str) -> tuple[list[MediaFile], list[str]]:
        unreadable = [i for i in self._in(folder_id) if i in self.damaged]
        return self.files(folder_id), unreadable

    def _in(self, folder_id: str) -> list[str]:
        return [i for i in sorted(self.metas) if _parent(i) == folder_id]

    def folders(self, folder_id: str) -> list[str]:
        self._require_folder(folder_id)
        return sorted(i for i in self.folder_ids if _parent(i) == folder_id)

    def folder_exists(self, folder_id: str) -> bool:
        return folder_id == ids.ROOT or folder_id in self.folder_ids

    def stage(self) -> FakeUpload:
        return FakeUpload(staged=self.staged)

    def add_file(
        self, file_id: str, upload: StagedUpload, meta: Mapping[str, Any], *, replace: bool
    ) -> MediaFile:
        if not isinstance(upload, FakeUpload):
            raise TypeError("FakeMediaStore.add_file takes a FakeUpload.")
        with self._lock:
            if file_id in self.metas and not replace:
                raise Conflict(f"File '{file_id}' already exists.")
            self._make_folders(_parent(file_id))
            self.contents[file_id] = upload.take()
            self.metas[file_id] = copy.deepcopy(dict(meta))
            return self.file(file_id)

    def update_meta(
        self, file_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> MediaFile:
        with self._lock:
            current = self.file(file_id)
            self.metas[file_id] = copy.deepcopy(change(current.meta))
            return self.file(file_id)

    def move_file(self, file_id: str, new_id: str) -> MediaFile:
        with self._lock:
            copied = self.copy_file(file_id, new_id)
            del self.metas[file_id], self.contents[file_id]
            return copied

    def copy_file(self, file_id: str, new_id: str) -> MediaFile:
        with self._lock:
            current = self.file(file_id)
            if new_id in self.metas or new_id in self.folder_ids:
                raise Conflict(f"File '{new_id}' already exists.")
            self._make_folders(_parent(new_id))
            self.metas[new_id] = current.meta
            self.contents[new_id] = self.contents[file_id]
            return self.file(new_id)

    def delete_file(self, file_id: str) -> None:
        with self._lock:
            if file_id not in self.metas:
                raise MediaFileNotFound(file_id)
            del self.metas[file_id], self.contents[file_id]

    def create_folder(self, folder_id: str) -> None:
        with self._lock:
            if self.folder_exists(folder_id) or folder_id in self.metas:
                raise Conflict(f"Folder '{folder_id}' already exists.")
            self._make_folders(folder_id)

    def move_folder(self, folder_id: str, new_id: str) -> None:
        with self._lock:
            self.copy_folder(folder_id, new_id)
            self._remove(folder_id)

    def copy_folder(self, folder_id: str, new_id: str) -> None:
        with self._lock:
            if not self.folder_exists(folder_id):
                raise MediaFolderNotFound(folder_id)
            if self.folder_exists(new_id) or new_id in self.metas:
                raise Conflict(f"Folder '{new_id}' already exists.")
            self._make_folders(new_id)
            for old in [i for i in self.folder_ids if ids.is_within(i, folder_id)]:
                self.folder_ids.add(ids.rebase(old, folder_id, new_id))
            for old in [i for i in self.metas if ids.is_within(i, folder_id)]:
                new = ids.rebase(old, folder_id, new_id)
                self.metas[new] = copy.deepcopy(self.metas[old])
                self.contents[new] = self.contents[old]

    def delete_folder(self, folder_id: str) -> None:
        with self._lock:
            if not self.folder_exists(folder_id):
                raise MediaFolderNotFound(folder_id)
            self._remove(folder_id)

    def read(self, file_id: str) -> bytes:
        if file_id not in self.contents:
            raise MediaFileNotFound(file_id)
        return self.contents[file_id]

    def open(self, file_id: str) -> io.BytesIO:
        return io.BytesIO(self.read(file_id))

    def url(self, file_id: str, expires: int) -> str | None:
        """With ``links``, a URL naming the file and its lifetime (as a bucket's would)."""
        if not self.links:
            return None
        if file_id not in self.contents:
            raise MediaFileNotFound(file_id)
        return f"https://bucket.example/{file_id}?expires={expires}"

    def content_hash(self, file_id: str) -> str:
        return hashlib.sha256(self.read(file_id)).hexdigest()

    def known_hash(self, file_id: str) -> str | None:
        """Everything is in memory here: the hash of any file."""
        return self.content_hash(file_id) if file_id in self.contents else None

    def _require_folder(self, folder_id: str) -> None:
        if not self.folder_exists(folder_id):
            raise MediaFolderNotFound(folder_id)

    def _make_folders(self, folder_id: str) -> None:
        while folder_id != ids.ROOT:
            self.folder_ids.add(folder_id)
            folder_id = _parent(folder_id)

    def _remove(self, folder_id: str) -> None:
        self.folder_ids = {i for i in self.folder_ids if not ids.is_within(i, folder_id)}
        for old in [i for i in self.metas if ids.is_within(i, folder_id)]:
            del self.metas[old], self.contents[old]
