"""Where a media store keeps immutable blobs: the files of ``media/.blobs`` or a bucket's objects.

An adapter-side seam (not a core port): ``PostgresMediaStore`` keeps its rows in the
database and the bytes of its files in a ``BlobStore``, either ``postgres.media_blobs.Blobs``
(local files, the default) or ``s3_blobs.S3Blobs`` (objects in a bucket shared by every
server). Both keep the same promises: a blob is written whole before a record names it
and never changed after; a record switches to a new blob instead; a blob is removed only
once no record names it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import BinaryIO, Protocol

from flextype_core.ports import StagedUpload

__all__ = ["BlobStore"]


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
