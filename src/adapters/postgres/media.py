"""MediaStore on PostgreSQL: metadata and folders in tables, the bytes in immutable blobs.

A file exists for the API only with its row in ``media_files`` (its metadata and the
name of its blob); every folder, and every ancestor of a file or folder, has its row in
``media_folders``. The blobs are in a ``BlobStore``: files of ``media/.blobs``
(``media_blobs``, the default) or objects of a bucket (``s3_blobs``). The bytes are
written first, the row after, in the transaction that also appends the change-log rows
(kind ``media`` for files, ``media_folders`` for folders); blobs a transaction no longer
names are removed after its commit (the outermost one, inside an ``exclusive`` block;
never if it rolls back). A crash leaves at most a blob no row names (invisible, removed
by ``remove_debris``), never a row without its bytes.

Writes take the schema's media lock exclusively (media writes are few; the local store
serialises them too), so checks and writes never interleave, on any number of servers.
Uploads are staged by the blob store: in ``media/.uploads`` (renamed into a blob), or
straight into a new blob object of the bucket (nothing copied at ``add_file``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from flextype_adapters.blob_store import BlobStore
from flextype_adapters.local_media_reads import file_named, folder_named
from flextype_adapters.log_limit import warn_limited
from flextype_adapters.parallel import run_parallel
from flextype_adapters.postgres.database import PostgresDatabase, Tx
from flextype_adapters.postgres.media_blobs import Blobs
from flextype_adapters.postgres.media_reads import ENCODER, PostgresMediaReader, decode_meta
from flextype_adapters.postgres.media_rows import (
    FOLDERS,
    KIND,
    below,
    folder_row,
    folders_below,
    ids_below,
    log_copies,
    log_moves,
    make_folders,
    media_etag,
    taken,
)
from flextype_adapters.yaml_codec import storage_errors as _storage_errors
from flextype_core import ids
from flextype_core.errors import (
    Conflict,
    MediaFileNotFound,
    MediaFolderNotFound,
    ServiceUnavailable,
    StorageError,
)
from flextype_core.model import MediaFile
from flextype_core.ports import StagedUpload

__all__ = ["PostgresMediaStore"]

_STALE_SECONDS = 3600.0
"""Older orphans and idle uploads are debris: no write lasts that long without a sign."""


class PostgresMediaStore(PostgresMediaReader):
    """MediaStore on a PostgreSQL schema and a blob store (see the module).

    Args:
        db: the project's database.
        root: the media directory (where ``Blobs`` stages uploads and keeps blobs).
        blobs: where the bytes are (``S3Blobs`` for a bucket); None: ``Blobs(root)``.
        debris_age: how many seconds an orphan blob or an idle upload must be old for
            ``remove_debris`` to remove it (tests lower it: the bucket dates objects now).
    """

    def __init__(
        self,
        db: PostgresDatabase,
        root: Path,
        *,
        blobs: BlobStore | None = None,
        debris_age: float = _STALE_SECONDS,
    ) -> None:
        super().__init__(db, Blobs(root) if blobs is None else blobs)
        self._debris_age = debris_age
        self._lock = db.lock_key(KIND)

    # -- writes ---------------------------------------------------------------------------

    def exclusive(self) -> AbstractContextManager[object]:
        return self._db.exclusive(KIND)

    def _write(self, work: Callable[[Tx], Any]) -> Any:
        def locked(tx: Tx) -> Any:
            tx.lock(self._lock, shared=False)
            return work(tx)

        return self._db.run(locked)

    def _remove_after_commit(self, tx: Tx, blobs: list[str]) -> None:
        """Remove ``blobs`` once ``tx`` committed: the rows naming them are gone for good."""
        if blobs:
            tx.after_commit(lambda: self._remove_unnamed(blobs))

    def stage(self) -> StagedUpload:
        return self._blobs.stage()

    def add_file(
        self, file_id: str, upload: StagedUpload, meta: Mapping[str, Any], *, replace: bool
    ) -> MediaFile:
        with _storage_errors(file_named(file_id), "written"):
            blob = self._blobs.finish(upload)
        encoded = ENCODER.encode(dict(meta))

        def work(tx: Tx) -> None:
            if folder_row(tx, file_id):
                raise Conflict(f"{file_named(file_id)} already exists.")
            query = "SELECT blob FROM media_files WHERE id = %s FOR UPDATE"
            old = tx.execute(query, [file_id]).fetchone()
            if old is not None and not replace:
                raise Conflict(f"{file_named(file_id)} already exists.")
            make_folders(tx, ids.parent_of(file_id), file_id)
            with _storage_errors(file_named(file_id), "written"):
                self._blobs.place(upload, blob)  # the bytes first
            tx.execute(
                "INSERT INTO media_files (id, folder, meta, blob) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET meta = excluded.meta, blob = excluded.blob",
                [file_id, ids.parent_of(file_id), encoded, blob],
            )
            op = "create" if old is None else "update"
            tx.log(KIND, op, [file_id], etags=[media_etag(file_id, encoded)])
            if old is not None:
                self._remove_after_commit(tx, [str(old[0])])

        self._write(work)
        return MediaFile(id=file_id, meta=decode_meta(file_id, encoded))

    def update_meta(
        self, file_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> MediaFile:
        def work(tx: Tx) -> bytes:
            query = "SELECT meta FROM media_files WHERE id = %s FOR UPDATE"
            row = tx.execute(query, [file_id]).fetchone()
            if row is None:
                raise MediaFileNotFound(file_id)
            encoded = ENCODER.encode(change(decode_meta(file_id, bytes(row[0]))))
            tx.execute("UPDATE media_files SET meta = %s WHERE id = %s", [encoded, file_id])
            tx.log(KIND, "update", [file_id], etags=[media_etag(file_id, encoded)])
            return encoded

        return MediaFile(id=file_id, meta=decode_meta(file_id, self._write(work)))

    def move_file(self, file_id: str, new_id: str) -> MediaFile:
        def work(tx: Tx) -> bytes:
            meta, _ = self._transfer_start(tx, file_id, new_id)
            tx.execute(
                "UPDATE media_files SET id = %s, folder = %s WHERE id = %s",
                [new_id, ids.parent_of(new_id), file_id],
            )
            tx.log(KIND, "move", [new_id], from_ids=[file_id], etags=[media_etag(new_id, meta)])
            return meta

        return MediaFile(id=new_id, meta=decode_meta(new_id, self._write(work)))

    def copy_file(self, file_id: str, new_id: str) -> MediaFile:
        blob = self._blobs.new_name()

        def work(tx: Tx) -> bytes:
            meta, source = self._transfer_start(tx, file_id, new_id)
            with _storage_errors(file_named(file_id), "copied"):
                self._blobs.copy(source, blob)
            tx.execute(
                "INSERT INTO media_files (id, folder, meta, blob) VALUES (%s, %s, %s, %s)",
                [new_id, ids.parent_of(new_id), meta, blob],
            )
            tx.log(KIND, "copy", [new_id], from_ids=[file_id], etags=[media_etag(new_id, meta)])
            return meta

        return MediaFile(id=new_id, meta=decode_meta(new_id, self._write(work)))

    def _transfer_start(self, tx: Tx, file_id: str, new_id: str) -> tuple[bytes, str]:
        """Check a move or copy, make the target's folders; return the meta and the blob."""
        query = "SELECT meta, blob FROM media_files WHERE id = %s FOR UPDATE"
        row = tx.execute(query, [file_id]).fetchone()
        if row is None:
            raise MediaFileNotFound(file_id)
        if taken(tx, new_id):
            raise Conflict(f"{file_named(new_id)} already exists.")
        make_folders(tx, ids.parent_of(new_id), new_id)
        return bytes(row[0]), str(row[1])

    def delete_file(self, file_id: str) -> None:
        def work(tx: Tx) -> None:
            query = "DELETE FROM media_files WHERE id = %s RETURNING blob"
            row = tx.execute(query, [file_id]).fetchone()
            if row is None:
                raise MediaFileNotFound(file_id)
            tx.log(KIND, "delete", [file_id])
            self._remove_after_commit(tx, [str(row[0])])

        self._write(work)

    # -- folders --------------------------------------------------------------------------

    def create_folder(self, folder_id: str) -> None:
        def work(tx: Tx) -> None:
            if taken(tx, folder_id):
                raise Conflict(f"{folder_named(folder_id)} already exists.")
            make_folders(tx, folder_id, folder_id)

        self._write(work)

    def move_folder(self, folder_id: str, new_id: str) -> None:
        def work(tx: Tx) -> None:
            folders = self._subtree(tx, folder_id, new_id)
            low, high = below(folder_id)
            names = {
                "old": folder_id,
                "new": new_id,
                "parent": ids.parent_of(new_id),
                "rest": len(folder_id) + 1,  # where the part below the folder starts
                "low": low,
                "high": high,
            }
            tx.execute(
                "UPDATE media_folders SET id = %(new)s || substr(id, %(rest)s::int),"
                " parent = CASE WHEN id = %(old)s THEN %(parent)s"
                " ELSE %(new)s || substr(parent, %(rest)s::int) END"
                " WHERE id = %(old)s OR (id >= %(low)s AND id < %(high)s)",
                names,
            )
            moved = tx.execute(
                "UPDATE media_files SET id = %(new)s || substr(id, %(rest)s::int),"
                " folder = %(new)s || substr(folder, %(rest)s::int)"
                " WHERE id >= %(low)s AND id < %(high)s RETURNING id, meta",
                names,
            ).fetchall()
            files = sorted((str(row[0]), bytes(row[1])) for row in moved)
            log_moves(tx, files, folders, folder_id, new_id)

        self._write(work)

    def copy_folder(self, folder_id: str, new_id: str) -> None:
        copies = self._copy_blobs(folder_id, new_id)

        def work(tx: Tx) -> None:
            folders = self._subtree(tx, folder_id, new_id)
            for old in folders:
                new = ids.rebase(old, folder_id, new_id)
                tx.execute(
                    "INSERT INTO media_folders (id, parent) VALUES (%s, %s)",
                    [new, ids.parent_of(new)],
                )
            low, high = below(folder_id)
            query = "SELECT id, meta, blob FROM media_files WHERE id >= %s AND id < %s"
            unused = dict(copies)
            made: list[tuple[str, str, bytes]] = []
            for old, meta, source in tx.execute(query, [low, high]).fetchall():
                new, blob = ids.rebase(old, folder_id, new_id), unused.pop(str(source), None)
                if blob is None:  # added or replaced since the copies were made
                    blob = self._blobs.new_name()
                    with _storage_errors(folder_named(folder_id), "copied"):
                        self._blobs.copy(source, blob)
                tx.execute(
                    "INSERT INTO media_files (id, folder, meta, blob) VALUES (%s, %s, %s, %s)",
                    [new, ids.parent_of(new), meta, blob],
                )
                made.append((new, str(old), bytes(meta)))
            log_copies(tx, sorted(made), folders, folder_id, new_id)
            self._remove_after_commit(tx, list(unused.values()))

        try:
            self._write(work)
        except (Conflict, MediaFolderNotFound):
            self._remove_unnamed(list(copies.values()))  # refused: no row names a copy
            raise

    def _copy_blobs(self, folder_id: str, new_id: str) -> dict[str, str]:
        """Copy the blobs of the folder's files, a few at once; return {source: copy}.

        Before the transaction, so no other media write waits for them, nor does a
        retried transaction make them again: no row names a copy until it commits. What
        a failure leaves (unknown whether a commit landed) is an orphan for
        ``remove_debris``.
        """
        low, high = below(folder_id)

        def sources(tx: Tx) -> list[str]:
            if not folder_row(tx, folder_id):  # refused now: nothing copied
                raise MediaFolderNotFound(folder_id)
            if taken(tx, new_id):
                raise Conflict(f"{folder_named(new_id)} already exists.")
            query = "SELECT blob FROM media_files WHERE id >= %s AND id < %s"
            return [str(row[0]) for row in tx.execute(query, [low, high])]

        copies = {source: self._blobs.new_name() for source in self._db.read(sources)}
        try:
            with _storage_errors(folder_named(folder_id), "copied"):
                run_parallel(lambda pair: self._blobs.copy(*pair), copies.items())
        except BaseException:
            self._remove_unnamed(list(copies.values()))
            raise
        return copies

    def _remove_unnamed(self, blobs: list[str]) -> None:
        """Remove blobs no row names, or leave them to ``remove_debris``."""
        try:
            self._blobs.remove(blobs)
        except (StorageError, ServiceUnavailable) as exc:
            warn_limited("media:blobs", "%s They are left for remove_debris.", exc.message)

    def _subtree(self, tx: Tx, folder_id: str, new_id: str) -> list[str]:
        """Check a folder move or copy; return the ids of the folders it carries."""
        if not folder_row(tx, folder_id):
            raise MediaFolderNotFound(folder_id)
        if taken(tx, new_id):
            raise Conflict(f"{folder_named(new_id)} already exists.")
        make_folders(tx, ids.parent_of(new_id), new_id)
        return folders_below(tx, folder_id)

    def delete_folder(self, folder_id: str) -> None:
        def work(tx: Tx) -> None:
            if not folder_row(tx, folder_id):
                raise MediaFolderNotFound(folder_id)
            files, folders = ids_below(tx, folder_id)
            low, high = below(folder_id)
            blobs = tx.execute(
                "DELETE FROM media_files WHERE id >= %s AND id < %s RETURNING blob", [low, high]
            ).fetchall()
            tx.execute(
                "DELETE FROM media_folders WHERE id = %s OR (id >= %s AND id < %s)",
                [folder_id, low, high],
            )
            tx.log(KIND, "delete", files)
            tx.log(FOLDERS, "delete", folders)
            self._remove_after_commit(tx, [str(row[0]) for row in blobs])

        self._write(work)

    # -- upkeep ---------------------------------------------------------------------------

    def remove_debris(self) -> int:
        """Remove idle uploads and blobs no row names (older than an hour); return how many.

        Run by ``serve`` at start, while other servers may be writing: what a live write
        has made is younger than that (an upload sending parts is not idle).
        """

        def named(candidates: list[str]) -> set[str]:
            query = "SELECT blob FROM media_files WHERE blob = ANY(%s)"
            rows = self._db.read(lambda tx: tx.execute(query, [candidates]).fetchall())
            return {str(row[0]) for row in rows}

        with _storage_errors("The media folder", "cleaned"):
            removed = self._blobs.abort_stale_uploads(self._debris_age)
            return removed + self._blobs.remove_orphans(named, self._debris_age)
