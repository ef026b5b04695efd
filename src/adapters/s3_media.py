"""MediaStore on an S3 bucket, for one host (the yaml and tinydb storage drivers).

The layout and the reads are ``s3_media_reads``'s: a record object per file naming its
immutable blob (``S3Blobs``), a marker object per folder. Writes:

- an upload streams straight into a new blob (``stage``); ``add_file`` writes the
  record naming it (``If-None-Match: *`` unless replacing), then removes the blob a
  replaced record named. Until then no record names the new blob: nobody's file.
  Once the record's request is sent, the blob is never removed by the caller: an
  answer lost on the way may hide a stored record (botocore's resend then fails
  ``If-None-Match``, so the record is read back: naming this blob, it is ours).
- ``update_meta`` rewrites the record (``If-Match`` its ETag) in one request.
- moves copy records (the blobs stay), copies copy blobs inside the service and write
  records naming the copies, deletes remove records, then the blobs they named.

A write that changes more than one object (a move, missing parent folders, a folder
copy or delete) is journaled (``s3_media_plan``) and runs holding the view lock
exclusively, so readers on this host wait rather than see half of it, and a crash
leaves a journal that the next read or write, or ``remove_debris`` at serve start,
rolls back or finishes. Writers are serialised by one ``ProcessLock`` on
``media/.lock``, across threads and the server's worker processes, and rewrite
``media/.s3-changes`` after each write: lookups of one file (``file``, ``open``,
``content_hash``, the images' hot path) trust a record read since it last changed,
for a few seconds, without asking the bucket. This is what makes the store one
host's: a write from elsewhere is seen by lookups within ``FRESH_SECONDS``, by
listings at once.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from flextype_adapters import media_changes
from flextype_adapters.atomic import write_atomic
from flextype_adapters.change_records import ChangeRecords, RefusedChanges
from flextype_adapters.debris import remove_debris as remove_loose_debris
from flextype_adapters.file_lock import ProcessLock
from flextype_adapters.local_media_reads import file_named, folder_named
from flextype_adapters.s3_blobs import S3Blobs
from flextype_adapters.s3_bucket import S3Bucket, bucket_errors, is_precondition_failed
from flextype_adapters.s3_media_plan import Journal, Work
from flextype_adapters.s3_media_reads import (
    RECORDS,
    Record,
    S3MediaReader,
    decode_record,
    encode_record,
    marker,
    record_name,
)
from flextype_adapters.s3_uploads import DEFAULT_PART_SIZE, S3Upload
from flextype_core import ids
from flextype_core.changes import NewChange, media_etag
from flextype_core.errors import Conflict, MediaFileNotFound, MediaFolderNotFound, StorageError
from flextype_core.model import MediaFile
from flextype_core.ports import StagedUpload

__all__ = ["S3MediaStore"]

_log = logging.getLogger(__name__)
STALE_SECONDS = 3600.0
"""Blobs no record names and multipart uploads older than this are debris."""


class S3MediaStore(S3MediaReader):
    """MediaStore over ``bucket``, locked and journaled in the local folder ``root``.

    Args:
        root: the project's local media folder: the writers' lock, the view lock and
            the journal live there (nothing another server needs).
        bucket: the bucket (and key prefix) of the media.
        part_size: the multipart part size of uploads.
        stale_after: the age in seconds past which ``remove_debris`` takes an unnamed
            blob or a multipart upload for debris.
        changes: the change log each write appends to (``media_changes``), under the
            writers' lock once the bucket took the write; None: none.
    """

    def __init__(
        self,
        root: Path,
        bucket: S3Bucket,
        *,
        part_size: int = DEFAULT_PART_SIZE,
        stale_after: float = STALE_SECONDS,
        changes: ChangeRecords | None = None,
    ) -> None:
        super().__init__(root, bucket, part_size=part_size)
        self._change_log = changes
        self._refused = RefusedChanges("media")
        self._lock = ProcessLock(root / ".lock")
        self._journal = Journal(root, bucket, self._blobs)
        self._stale_after = stale_after

    # -- locks and the journal ------------------------------------------------------------

    def exclusive(self) -> contextlib.AbstractContextManager[object]:
        return self._lock.held()

    def _journal_left(self) -> bool:
        return self._journal.left()

    def _recover(self) -> None:
        with (
            self._lock.held(),
            self._view.exclusive(),
            bucket_errors("The media", "recovered"),
        ):
            try:
                self._journal.replay()
            finally:
                self._note_change()

    def _note_change(self) -> None:
        """Rewrite ``CHANGES``, so that records read before are read again."""
        write_atomic(self._changes, secrets.token_hex(16).encode())

    @contextlib.contextmanager
    def _writing(self, subject: str, action: str) -> Iterator[None]:
        """Hold the writers' lock; settle a cut-short write first; map the bucket's errors."""
        with self._lock.held():
            if self._journal.left() and not self._view.holds_exclusive():
                self._recover()
            try:
                with bucket_errors(subject, action):
                    yield
            finally:  # after a failure too: part of the write may have been done
                self._note_change()

    def _log(self, changes: Callable[[], list[NewChange]]) -> None:
        """Append a write's changes (made only when there is a log to append to).

        After those the log refused before (``RefusedChanges``), as they are now.
        """
        if self._change_log is not None:
            self._refused.append(self._change_log, changes(), self._etag_now)

    def _etag_now(self, file_id: str) -> str | None:
        try:
            with bucket_errors(file_named(file_id), "read"):
                record = self._record(file_id, fresh=True)
        except MediaFileNotFound:
            return None
        return media_etag(MediaFile(id=file_id, meta=record.meta))

    def _run(self, work: Work) -> None:
        if work.journaled:
            with self._view.exclusive():
                self._journal.run(work)
        else:
            self._journal.run(work)

    def _missing_folders(self, folder_id: str, for_id: str) -> list[str]:
        """The markers of ``folder_id`` and its missing ancestors, outermost first.

        Raises:
            Conflict: a file holds the id of one of them.
        """
        missing = []
        while folder_id != ids.ROOT and not self._folder_present(folder_id):
            if self._file_present(folder_id):
                what, blocker = file_named(for_id), file_named(folder_id)
                raise Conflict(f"{what} cannot be written: {blocker} is in the way.")
            missing.append(marker(folder_id))
            folder_id = ids.parent_of(folder_id)
        return missing[::-1]

    # -- files ----------------------------------------------------------------------------

    def stage(self) -> S3Upload:
        """Begin an upload straight into a new blob, without the lock (see ``S3Blobs``)."""
        return self._blobs.stage()

    def add_file(
        self, file_id: str, upload: StagedUpload, meta: Mapping[str, Any], *, replace: bool
    ) -> MediaFile:
        if not isinstance(upload, S3Upload):
            raise TypeError("S3MediaStore.add_file takes an upload of its own stage().")
        upload.finish()  # before anything changes: a failing upload leaves the old file
        body = encode_record(S3Blobs.blob_name(upload), dict(meta))
        stored = decode_record(file_id, body).meta
        with self._writing(file_named(file_id), "written"):
            if self._folder_present(file_id):
                raise Conflict(f"{file_named(file_id)} already exists.")
            old = self._get(record_name(file_id))
            if old is not None and not replace:
                raise Conflict(f"{file_named(file_id)} already exists.")
            work = Work()
            for name in self._missing_folders(ids.parent_of(file_id), file_id):
                work.put(name, b"")
            work.put(record_name(file_id), body)
            work.if_absent = old is None and not work.journaled
            if work.journaled:  # the journal's: a rollback removes it with the records
                work.plan.new_blobs.append(S3Blobs.blob_name(upload))
            if old is not None:
                with contextlib.suppress(StorageError):  # a damaged record's blob: an orphan
                    work.plan.old_blobs.append(decode_record(file_id, old[1]).blob)
            try:
                self._run(work)
            except Conflict:
                raise  # refused for sure: no record names the blob, the caller aborts it
            except BaseException:
                # The record may be stored with its answer lost (or a journal may finish
                # it): the caller must not remove its blob. Unnamed, it is an orphan.
                upload.taken()
                raise
            upload.taken()
            added = MediaFile(id=file_id, meta=stored)
            self._log(lambda: media_changes.added(added, replaced=old is not None))
        return added

    def update_meta(
        self, file_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> MediaFile:
        subject = f"The metadata of {file_named(file_id)}"
        with self._writing(subject, "written"):
            got = self._get(record_name(file_id))
            if got is None:
                raise MediaFileNotFound(file_id)
            record = decode_record(file_id, got[1])
            body = encode_record(record.blob, change(record.meta))
            stored = decode_record(file_id, body).meta
            try:
                self._bucket.client.put_object(
                    Bucket=self._bucket.bucket,
                    Key=self._bucket.key(record_name(file_id)),
                    Body=body,
                    IfMatch=got[0],
                )
            except Exception as exc:
                if is_precondition_failed(exc):  # changed by someone outside this store
                    raise Conflict(f"{subject} changed meanwhile: try again.") from exc
                raise
            updated = MediaFile(id=file_id, meta=stored)
            self._log(lambda: media_changes.updated(updated))
        return updated

    def move_file(self, file_id: str, new_id: str) -> MediaFile:
        with self._writing(file_named(file_id), "moved"):
            work, record = self._transfer_start(file_id, new_id)
            work.put(record_name(new_id), encode_record(record.blob, record.meta))
            work.plan.deleted.append(record_name(file_id))
            self._run(work)
            moved = MediaFile(id=new_id, meta=record.meta)
            self._log(lambda: media_changes.moved(file_id, moved))
        return moved

    def copy_file(self, file_id: str, new_id: str) -> MediaFile:
        with self._writing(file_named(file_id), "copied"):
            work, record = self._transfer_start(file_id, new_id)
            blob = self._blobs.new_name()
            work.copy_blob(record.blob, blob)
            work.put(record_name(new_id), encode_record(blob, record.meta))
            self._run(work)
            copied = MediaFile(id=new_id, meta=record.meta)
            self._log(lambda: media_changes.copied(file_id, copied))
        return copied

    def _transfer_start(self, file_id: str, new_id: str) -> tuple[Work, Record]:
        """Check a move or copy; return the work making the target's folders, and the record."""
        record = self._record(file_id)
        if self._taken(new_id):
            raise Conflict(f"{file_named(new_id)} already exists.")
        work = Work()
        for name in self._missing_folders(ids.parent_of(new_id), new_id):
            work.put(name, b"")
        return work, record

    def delete_file(self, file_id: str) -> None:
        with self._writing(file_named(file_id), "deleted"):
            got = self._get(record_name(file_id))
            if got is None:
                raise MediaFileNotFound(file_id)
            work = Work()
            work.plan.deleted.append(record_name(file_id))
            with contextlib.suppress(StorageError):  # a damaged record's blob: an orphan
                work.plan.old_blobs.append(decode_record(file_id, got[1]).blob)
            self._run(work)
            self._log(lambda: media_changes.deleted([file_id]))

    # -- folders --------------------------------------------------------------------------

    def create_folder(self, folder_id: str) -> None:
        with self._writing(folder_named(folder_id), "created"):
            if self._taken(folder_id):
                raise Conflict(f"{folder_named(folder_id)} already exists.")
            work = Work()
            for name in self._missing_folders(folder_id, folder_id):
                work.put(name, b"")
            self._run(work)

    def move_folder(self, folder_id: str, new_id: str) -> None:
        with self._writing(folder_named(folder_id), "moved"):
            work, listed = self._folder_transfer_start(folder_id, new_id)
            for name, _ in listed:
                work.copy(name, _rebased(name, folder_id, new_id))
            work.plan.deleted.extend(name for name, _ in listed)
            # Read for the log only (a move copies records without reading them).
            files = _files(listed, self._records(listed) if self._change_log is not None else {})
            self._run(work)
            self._log(lambda: media_changes.folder_moved(files, folder_id, new_id))

    def copy_folder(self, folder_id: str, new_id: str) -> None:
        with self._writing(folder_named(folder_id), "copied"):
            work, listed = self._folder_transfer_start(folder_id, new_id)
            for name, _ in listed:
                if name.endswith("/"):
                    work.put(_rebased(name, folder_id, new_id), b"")
            records = self._records(listed)
            for name, record in records.items():
                blob = self._blobs.new_name()
                work.copy_blob(record.blob, blob)
                work.put(_rebased(name, folder_id, new_id), encode_record(blob, record.meta))
            self._run(work)
            # A damaged record is not copied: only the records read are.
            copied = [(i, meta) for i, meta in _files(listed, records) if meta is not None]
            self._log(lambda: media_changes.folder_copied(copied, folder_id, new_id))

    def _folder_transfer_start(
        self, folder_id: str, new_id: str
    ) -> tuple[Work, list[tuple[str, str]]]:
        """Check a folder move or copy.

        Returns:
            The work making the target's missing parents, and (name, ETag) of every
            object in the folder (its marker included).
        """
        if not self._folder_present(folder_id):
            raise MediaFolderNotFound(folder_id)
        if self._taken(new_id):
            raise Conflict(f"{folder_named(new_id)} already exists.")
        work = Work()
        for name in self._missing_folders(ids.parent_of(new_id), new_id):
            work.put(name, b"")
        return work, self._listed(folder_id)

    def _listed(self, folder_id: str) -> list[tuple[str, str]]:
        """(name, ETag) of every object in the folder, its marker and subfolders' included."""
        return [(name, item["ETag"]) for name, item in self._bucket.names(marker(folder_id))]

    def _records(self, listed: list[tuple[str, str]]) -> dict[str, Record]:
        """The readable records among ``listed`` objects (a damaged one is left out, logged)."""
        wanted = [(name, etag) for name, etag in listed if not name.endswith("/")]
        records = {}
        for (name, _), body in zip(wanted, self._fetch(wanted), strict=True):
            if body is None:
                continue
            try:
                records[name] = decode_record(name.removeprefix(RECORDS), body)
            except StorageError as exc:
                _log.warning("%s It is left out.", exc.message)
        return records

    def delete_folder(self, folder_id: str) -> None:
        with self._writing(folder_named(folder_id), "deleted"):
            if not self._folder_present(folder_id):
                raise MediaFolderNotFound(folder_id)
            listed = self._listed(folder_id)
            work = Work()
            work.plan.deleted.extend(name for name, _ in listed)
            records = self._records(listed)
            work.plan.old_blobs.extend(record.blob for record in records.values())
            self._run(work)
            self._log(lambda: media_changes.deleted(file_id for file_id, _ in _files(listed, {})))

    # -- upkeep ---------------------------------------------------------------------------

    def remove_debris(self) -> int:
        """Remove what interrupted writes left; return how many objects and files.

        Settles a cut-short write, aborts stale multipart uploads, removes stale blobs no
        record names and the journal's temporary files.
        """
        with self._lock.held():
            if self._journal.left():
                self._recover()
            removed = remove_loose_debris(self._root, recursive=False)
            with bucket_errors("The media", "cleaned"):
                removed += self._blobs.abort_stale_uploads(self._stale_after)
                removed += self._blobs.remove_orphans(self._named, self._stale_after)
        return removed

    def _named(self, candidates: list[str]) -> set[str]:
        """The candidate blobs some record names (or might: a damaged one is searched)."""
        listed = [(name, item["ETag"]) for name, item in self._bucket.names(RECORDS)]
        wanted = [(name, etag) for name, etag in listed if not name.endswith("/")]
        named = set()
        for (name, _), body in zip(wanted, self._fetch(wanted), strict=True):
            if body is None:
                continue
            try:
                named.add(decode_record(name.removeprefix(RECORDS), body).blob)
            except StorageError:
                named.update(c for c in candidates if c.encode() in body)
        return named & set(candidates)


def _files(
    listed: list[tuple[str, str]], records: Mapping[str, Record]
) -> list[tuple[str, dict[str, Any] | None]]:
    """(id, metadata; None if not read) of the files among ``listed`` objects, by id."""
    found = []
    for name, _ in listed:
        if not name.endswith("/"):
            record = records.get(name)
            found.append((name.removeprefix(RECORDS), None if record is None else record.meta))
    return sorted(found, key=lambda item: item[0])


def _rebased(name: str, folder_id: str, new_id: str) -> str:
    """Object ``name`` under folder ``folder_id`` moved to the same place under ``new_id``."""
    return RECORDS + ids.rebase(name[len(RECORDS) :], folder_id, new_id)
