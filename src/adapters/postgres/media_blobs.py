"""The bytes of PostgreSQL's media files: immutable files ``media/.blobs/<2 hex>/<32 hex>``.

A blob is written whole (fsync'd) before any row names it and is never changed or
renamed after: a move is a change of rows only, a replace names a new blob. So a crash
leaves at most a blob no row names: invisible, and removed by ``remove_orphans`` once
it is older than any write lasts. A blob is removed only after the commit that dropped
its row. Uploads are staged in ``media/.uploads`` (``local_uploads``), on the same file
system, so placing one is a rename. ``Blobs`` is the local ``blob_store.BlobStore``.
"""

from __future__ import annotations

import contextlib
import errno
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from flextype_adapters.atomic import copy_atomic, fsync_dir, new_file_mode
from flextype_adapters.blob_store import BlobHashes, remove_unnamed
from flextype_adapters.debris import remove_debris
from flextype_adapters.local_uploads import UPLOADS, FileUpload
from flextype_core.errors import MediaFileNotFound
from flextype_core.ports import StagedUpload

__all__ = ["BLOBS", "Blobs"]

BLOBS = ".blobs"
"""The folder of the media directory that holds the blobs (hidden: never a media folder)."""


class Blobs:
    """The blob files under ``root/.blobs``; their SHA-256 kept once made (they never change)."""

    def __init__(self, root: Path) -> None:
        self._folder = root / BLOBS
        self._uploads = root / UPLOADS
        self._hashes = BlobHashes()

    @staticmethod
    def new_name() -> str:
        return uuid.uuid4().hex

    def path(self, name: str) -> Path:
        return self._folder / name[:2] / name

    def stage(self) -> FileUpload:
        return FileUpload(self._uploads)

    def finish(self, upload: StagedUpload) -> str:
        """Make the upload's file durable; its blob gets a fresh name (``place`` renames it)."""
        if not isinstance(upload, FileUpload):
            raise TypeError("PostgresMediaStore.add_file takes an upload of its own stage().")
        upload.finish()
        return self.new_name()

    def place(self, upload: StagedUpload, name: str) -> None:
        """Move a finished upload's file to blob ``name`` (copy it across file systems)."""
        assert isinstance(upload, FileUpload)  # checked by finish
        target = self.path(name)
        if target.exists():  # placed by an earlier attempt of the same transaction
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        upload.path.chmod(new_file_mode())
        try:
            upload.path.replace(target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            copy_atomic(upload.path, target)
            upload.abort()
        else:
            upload.taken()
        fsync_dir(target.parent)

    def copy(self, name: str, new_name: str) -> None:
        """Write blob ``new_name`` with the bytes of blob ``name``."""
        target = self.path(new_name)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_atomic(self.path(name), target)
        fsync_dir(target.parent)

    def open(self, name: str, file_id: str = "") -> BinaryIO:
        try:
            return self.path(name).open("rb")
        except FileNotFoundError:  # deleted since its row was read
            raise MediaFileNotFound(file_id) from None

    def url(self, name: str, expires: int, *, media_type: str) -> str | None:
        """None: a blob file is served by the server that reads it."""
        return None

    def sha256(self, name: str, file_id: str = "") -> str:
        try:
            return self._hashes.of(name, lambda: self.path(name).open("rb"))
        except FileNotFoundError:
            raise MediaFileNotFound(file_id) from None

    def remove(self, names: Iterable[str]) -> None:
        """Remove blobs no row names any more (a failure leaves an orphan, removed later)."""
        for name in names:
            with contextlib.suppress(OSError):
                self.path(name).unlink()

    def remove_orphans(self, named: Callable[[list[str]], set[str]], min_age: float) -> int:
        """Remove the blobs older than ``min_age`` seconds that ``named`` does not name.

        ``named(candidates)`` returns those of the candidates some row names. Only old
        blobs are candidates: a younger one may belong to a write not yet committed.
        """
        if not self._folder.is_dir():
            return 0
        limit = time.time() - min_age
        candidates = []
        for shard in self._folder.iterdir():
            if not shard.is_dir():
                continue
            for blob in shard.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    if not blob.name.startswith(".") and blob.stat().st_mtime < limit:
                        candidates.append(blob.name)
        return remove_unnamed(candidates, named, self.remove)

    def abort_stale_uploads(self, min_age: float) -> int:
        """Remove staged uploads and half-made blob copies idle for ``min_age`` seconds."""
        return remove_debris(self._uploads, min_age=min_age) + remove_debris(
            self._folder, min_age=min_age
        )
