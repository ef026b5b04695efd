"""The read side of PostgreSQL's media store: rows for metadata and folders, blobs for bytes.

``PostgresMediaStore`` (``postgres.media``) adds the writes. Reads take no lock: a row
is read in one statement, and a blob never changes once written; a replace that removes
a blob between the row's read and its fetch sends the reader back to the row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, BinaryIO, TypeVar

import msgspec

from flextype_adapters.blob_store import BlobStore
from flextype_adapters.local_media_reads import file_named
from flextype_adapters.log_limit import warn_limited
from flextype_adapters.postgres.database import PostgresDatabase, Tx
from flextype_adapters.postgres.media_rows import decode_meta, folder_row
from flextype_adapters.yaml_codec import storage_errors as _storage_errors
from flextype_core import ids
from flextype_core.errors import MediaFileNotFound, MediaFolderNotFound, StorageError
from flextype_core.model import MediaFile

__all__ = ["ENCODER", "PostgresMediaReader", "decode_meta"]

ENCODER = msgspec.json.Encoder()
_T = TypeVar("_T")


class PostgresMediaReader:
    """The MediaStore's reads over ``db``'s media tables and the blob store ``blobs``."""

    def __init__(self, db: PostgresDatabase, blobs: BlobStore) -> None:
        self._db = db
        self._blobs = blobs

    def file(self, file_id: str) -> MediaFile:
        row = self._db.read(
            lambda tx: tx.execute(
                "SELECT meta FROM media_files WHERE id = %s", [file_id]
            ).fetchone()
        )
        if row is None:
            raise MediaFileNotFound(file_id)
        return MediaFile(id=file_id, meta=decode_meta(file_id, bytes(row[0])))

    def files(self, folder_id: str) -> list[MediaFile]:
        return self.listing(folder_id)[0]

    def listing(self, folder_id: str) -> tuple[list[MediaFile], list[str]]:
        def work(tx: Tx) -> list[tuple[Any, ...]]:
            self._require_folder(tx, folder_id)
            query = "SELECT id, meta FROM media_files WHERE folder = %s ORDER BY id"
            return tx.execute(query, [folder_id]).fetchall()

        found, unreadable = [], []
        for file_id, meta in self._db.run(work):
            try:
                found.append(MediaFile(id=file_id, meta=decode_meta(file_id, bytes(meta))))
            except StorageError as exc:
                warn_limited(f"media:{file_id}", "%s It is left out of listings.", exc.message)
                unreadable.append(file_id)
        return found, unreadable

    def folders(self, folder_id: str) -> list[str]:
        def work(tx: Tx) -> list[str]:
            self._require_folder(tx, folder_id)
            query = "SELECT id FROM media_folders WHERE parent = %s ORDER BY id"
            return [row[0] for row in tx.execute(query, [folder_id])]

        return self._db.run(work)

    def folder_exists(self, folder_id: str) -> bool:
        return folder_id == ids.ROOT or self._db.read(lambda tx: folder_row(tx, folder_id))

    def read(self, file_id: str) -> bytes:
        with self.open(file_id) as stream:
            return stream.read()

    def open(self, file_id: str) -> BinaryIO:
        return self._with_blob(file_id, self._blobs.open)

    def url(self, file_id: str, expires: int) -> str | None:
        """A presigned URL with blobs in a bucket; None with blobs on disk."""
        query = "SELECT blob, meta FROM media_files WHERE id = %s"
        row = self._db.read(lambda tx: tx.execute(query, [file_id]).fetchone())
        if row is None:
            raise MediaFileNotFound(file_id)
        media_type = decode_meta(file_id, bytes(row[1])).get("type")
        if not isinstance(media_type, str):
            media_type = "application/octet-stream"
        return self._blobs.url(str(row[0]), expires, media_type=media_type)

    def content_hash(self, file_id: str) -> str:
        return self._with_blob(file_id, self._blobs.sha256)

    def known_hash(self, file_id: str) -> str | None:
        """None: which blob a file has is a query away (and another server may change it)."""
        return None

    def _with_blob(self, file_id: str, use: Callable[[str, str], _T]) -> _T:
        """``use(blob, file_id)`` of the file's blob.

        A replace may remove the blob between the row's read and its use: then the row
        as it is now names the new one, and only a blob still named is a missing file.
        """
        blob = self._blob(file_id)
        try:
            with _storage_errors(file_named(file_id), "read"):
                return use(blob, file_id)
        except MediaFileNotFound:
            current = self._blob(file_id)
            if current == blob:
                raise
            with _storage_errors(file_named(file_id), "read"):
                return use(current, file_id)

    def _blob(self, file_id: str) -> str:
        query = "SELECT blob FROM media_files WHERE id = %s"
        row = self._db.read(lambda tx: tx.execute(query, [file_id]).fetchone())
        if row is None:
            raise MediaFileNotFound(file_id)
        return str(row[0])

    @staticmethod
    def _require_folder(tx: Tx, folder_id: str) -> None:
        if folder_id != ids.ROOT and not folder_row(tx, folder_id):
            raise MediaFolderNotFound(folder_id)
