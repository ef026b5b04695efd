"""Where a media store keeps immutable blobs: the files of ``media/.blobs`` or a bucket's objects.

An adapter-side seam (not a core port): ``PostgresMediaStore`` keeps its rows in the
database and the bytes of its files in a ``BlobStore``, either ``postgres.media_blobs.Blobs``
(local files, the default) or ``s3_blobs.S3Blobs`` (objects in a bucket shared by every
server). Both keep the same promises: a blob is written whole before a record names it
and never changed after; a record switches to a new blob instead; a blob is removed only
once no record names it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import BinaryIO, Protocol

from flextype_core.ports import StagedUpload

__all__ = ["BlobHashes", "BlobStore", "remove_unnamed"]

_READ_CHUNK = 1 << 20


class BlobStore(Protocol):
    """Immutable blobs named by 32 hex digits; an upload is staged where it becomes one.

    An upload goes ``stage`` (the caller writes it and runs the content checks), then
    ``finish`` (outside the store's transaction: the bytes become durable and the name of
    the blob they make is known), then ``place`` (in the transaction that records the
    name, before its commit; again if the transaction is retried). Until ``place`` the
    upload is its caller's, who aborts it if the store refuses it.
    """

    @staticmethod
    def new_name() -> str:
        """A fresh blob name (for a copy)."""
        ...

    def stage(self) -> StagedUpload:
        """Begin an upload (local: a file in ``media/.uploads``; S3: the blob object itself)."""
        ...

    def finish(self, upload: StagedUpload) -> str:
        """Finish ``upload`` and return the name of the blob it becomes.

        Raises:
            TypeError: ``upload`` was not staged by this store's ``stage``.
            StorageError, ServiceUnavailable: the bytes cannot be made durable.
        """
        ...

    def place(self, upload: StagedUpload, name: str) -> None:
        """Make the finished ``upload`` blob ``name`` (done already: nothing).

        The upload is the store's from then on: its ``abort`` does nothing.
        """
        ...

    def copy(self, name: str, new_name: str) -> None:
        """Write blob ``new_name`` with the bytes of blob ``name``."""
        ...

    def open(self, name: str, file_id: str) -> BinaryIO:
        """Stream blob ``name``; ``MediaFileNotFound(file_id)`` if it is gone."""
        ...

    def url(self, name: str, expires: int, *, media_type: str) -> str | None:
        """A URL serving blob ``name`` as ``media_type`` for ``expires`` seconds, or None.

        The URL needs no credentials (a presigned GET); None: the blobs are local files.
        """
        ...

    def sha256(self, name: str, file_id: str) -> str:
        """The hex SHA-256 of blob ``name``; ``MediaFileNotFound(file_id)`` if it is gone."""
        ...

    def remove(self, names: Iterable[str]) -> None:
        """Remove blobs no record names any more (a failure leaves orphans, removed later)."""
        ...

    def remove_orphans(self, named: Callable[[list[str]], set[str]], min_age: float) -> int:
        """Remove the blobs older than ``min_age`` seconds that ``named`` does not name."""
        ...

    def abort_stale_uploads(self, min_age: float) -> int:
        """Remove what writes idle for ``min_age`` seconds left; return how many.

        What a process killed in the middle left: staged files and half-made copies, or
        incomplete multipart uploads.
        """
        ...


class BlobHashes:
    """The SHA-256 of the blobs hashed lately (a blob never changes, so a hash never ages).

    Least recently used first out past ``kept``; safe across threads.
    """

    def __init__(self, kept: int = 10_000) -> None:
        self._kept = kept
        self._hashes: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def known(self, name: str) -> str | None:
        """The hash of blob ``name`` if made before, else None (never reads the blob)."""
        with self._lock:
            known = self._hashes.get(name)
            if known is not None:
                self._hashes.move_to_end(name)
            return known

    def of(self, name: str, read: Callable[[], BinaryIO]) -> str:
        """The hash of blob ``name``: kept, or made from the stream ``read()`` opens."""
        known = self.known(name)
        if known is not None:
            return known
        hasher = hashlib.sha256()
        with read() as stream:
            while chunk := stream.read(_READ_CHUNK):
                hasher.update(chunk)
        digest = hasher.hexdigest()
        with self._lock:
            self._hashes[name] = digest
            while len(self._hashes) > self._kept:
                self._hashes.popitem(last=False)
        return digest


def remove_unnamed(
    candidates: list[str],
    named: Callable[[list[str]], set[str]],
    remove: Callable[[list[str]], None],
) -> int:
    """Remove the ``candidates`` that ``named(candidates)`` leaves out; return how many."""
    if not candidates:
        return 0
    kept = named(candidates)
    orphans = [name for name in candidates if name not in kept]
    remove(orphans)
    return len(orphans)
