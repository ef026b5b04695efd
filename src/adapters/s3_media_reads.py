"""The read side of the S3 media store: records, folder markers, listings, content, hashes.

Under the bucket's prefix, file ``a/b.png`` is the record object ``.media/a/b.png`` (JSON
``{"blob": <name>, "meta": {...}}``: its bytes are the immutable blob ``<name>`` of
``S3Blobs``), and folder ``a`` is the marker object ``.media/a/`` (empty). So one
``ListObjectsV2`` with ``Delimiter='/'`` answers a folder's files and subfolders; record
bodies are kept in memory under the ETag the listing gives, so a listing reads only the
records that changed since. Media ids never begin with a dot, so no id reaches
``.media/``'s neighbours (``.blobs/``, ``.derived/``).

A multi-object write (``s3_media``) holds the store's view lock exclusively while it
runs; every read here holds it shared, so no reader on this host sees half of one. A
write a crash cut short leaves its journal: the first read (or write) to find it
finishes or rolls it back before reading on.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import msgspec

from flextype_adapters.file_lock import SharedLock
from flextype_adapters.local_media_reads import file_named, folder_named
from flextype_adapters.log_limit import warn_limited
from flextype_adapters.parallel import run_parallel
from flextype_adapters.s3_blobs import S3Blobs
from flextype_adapters.s3_bucket import S3Bucket, bucket_errors, is_missing
from flextype_adapters.s3_uploads import DEFAULT_PART_SIZE
from flextype_core import ids
from flextype_core.errors import InvalidId, MediaFileNotFound, MediaFolderNotFound, StorageError
from flextype_core.model import MediaFile

__all__ = ["RECORDS", "Record", "S3MediaReader", "encode_record", "marker", "record_name"]

RECORDS = ".media/"
"""Where records and folder markers are under the bucket's prefix."""
CHANGES = ".s3-changes"
"""A file of the local media folder that every write rewrites (a random value): a record
read since it last changed is still the bucket's."""
FRESH_SECONDS = 2.0
"""How long a record read stays trusted while ``CHANGES`` stays the same: a bound on what
a writer killed between its change and its note of it leaves stale elsewhere."""
REFRESH_AHEAD = 0.5
"""The last part of a record's trusted time in which one lookup reads it again: hits
answered from memory (``known_hash``) never all miss at once when it runs out."""
VIEW_LOCK = ".s3-view.lock"
"""The view lock's file in the local media folder: readers share it, a multi-object
write holds it alone."""
_RECORDS_KEPT = 20_000
_R = TypeVar("_R")


class Record(msgspec.Struct):
    """A file's record: the blob holding its bytes, and its metadata."""

    blob: str
    meta: dict[str, Any]


_RECORD_DECODER = msgspec.json.Decoder(Record)
_ENCODER = msgspec.json.Encoder()


def encode_record(blob: str, meta: dict[str, Any]) -> bytes:
    return _ENCODER.encode(Record(blob=blob, meta=meta))


def decode_record(file_id: str, body: bytes) -> Record:
    try:
        record = _RECORD_DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageError(
            f"The metadata of {file_named(file_id)} cannot be read: damaged record ({exc})."
        ) from exc
    if len(record.blob) != 32 or not record.blob.isalnum():
        raise StorageError(f"The metadata of {file_named(file_id)} names no valid blob.")
    return record


def record_name(file_id: str) -> str:
    """The record object of a file (relative to the bucket's prefix)."""
    return RECORDS + file_id


def marker(folder_id: str) -> str:
    """The marker object of a folder; for the root, the prefix of every record."""
    return RECORDS + folder_id + "/" if folder_id else RECORDS


class S3MediaReader:
    """The MediaStore's reads over ``bucket`` (``S3MediaStore`` writes; see the module).

    Args:
        root: the project's local media folder: it holds the view lock and the journal.
        bucket: the bucket (and key prefix) of the media.
        part_size: the multipart part size of uploads.
    """

    def __init__(self, root: Path, bucket: S3Bucket, *, part_size: int = DEFAULT_PART_SIZE) -> None:
        self._root = root
        self._bucket = bucket
        self._blobs = S3Blobs(bucket, part_size=part_size)
        self._view = SharedLock(root / VIEW_LOCK)
        self._bodies: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._bodies_lock = threading.Lock()
        self._recent: OrderedDict[str, tuple[bytes, float, bytes]] = OrderedDict()
        self._refreshing: set[str] = set()
        """Records one caller of ``known_hash`` was sent to read again (``REFRESH_AHEAD``)."""
        self._changes = root / CHANGES

    # -- the view ---------------------------------------------------------------------

    def _journal_left(self) -> bool:
        """Tell whether a multi-object write was cut short (a crash, a failed rollback)."""
        raise NotImplementedError

    def _recover(self) -> None:
        """Finish or roll back the write the journal names (under the writers' lock)."""
        raise NotImplementedError

    @contextlib.contextmanager
    def _reading(self, subject: str, action: str = "read") -> Iterator[None]:
        """Hold the view shared for the block, after recovering a cut-short write."""
        while True:
            with self._view.shared():
                if self._view.holds_exclusive() or not self._journal_left():
                    with bucket_errors(subject, action):
                        yield
                    return
            self._recover()

    # -- the MediaStore reads -----------------------------------------------------------

    def file(self, file_id: str) -> MediaFile:
        with self._reading(file_named(file_id)):
            record = self._record(file_id)
        return MediaFile(id=file_id, meta=record.meta)

    def files(self, folder_id: str) -> list[MediaFile]:
        return self.listing(folder_id)[0]

    def listing(self, folder_id: str) -> tuple[list[MediaFile], list[str]]:
        with self._reading(folder_named(folder_id), "listed"):
            files, _ = self._children(folder_id)
            bodies = self._fetch([(record_name(file_id), etag) for file_id, etag in files])
        found, unreadable = [], []
        for (file_id, _), body in zip(files, bodies, strict=True):
            if body is None:  # deleted since the listing
                continue
            try:
                found.append(MediaFile(id=file_id, meta=decode_record(file_id, body).meta))
            except StorageError as exc:
                warn_limited(f"s3media:{file_id}", "%s It is left out of listings.", exc.message)
                unreadable.append(file_id)
        return found, unreadable

    def folders(self, folder_id: str) -> list[str]:
        with self._reading(folder_named(folder_id), "listed"):
            return self._children(folder_id)[1]

    def folder_exists(self, folder_id: str) -> bool:
        if folder_id == ids.ROOT:
            return True
        with self._reading(folder_named(folder_id)):
            return self._folder_present(folder_id)

    def read(self, file_id: str) -> bytes:
        with self.open(file_id) as stream:
            return stream.read()

    def open(self, file_id: str) -> BinaryIO:
        return self._with_blob(file_id, self._blobs.open)

    def url(self, file_id: str, expires: int) -> str | None:
        with self._reading(file_named(file_id)):
            record = self._record(file_id)
        media_type = record.meta.get("type")
        return self._blobs.url(
            record.blob,
            expires,
            media_type=media_type if isinstance(media_type, str) else "application/octet-stream",
        )

    def content_hash(self, file_id: str) -> str:
        return self._with_blob(file_id, self._blobs.sha256)

    def known_hash(self, file_id: str) -> str | None:
        """The hash of the blob a record read since the host's last write names.

        What ``content_hash`` trusts without a request (decision 128's freshness), but
        without the view lock either: None while a write cut short awaits settling. In
        the last ``REFRESH_AHEAD`` seconds of that trust, one caller gets None, so its
        ``content_hash`` reads the record again while the others are still answered.
        """
        name, now = record_name(file_id), time.monotonic()
        with self._bodies_lock:
            recent = self._recent.get(name)
            if recent is None or recent[1] <= now:
                return None
            if recent[1] - now < REFRESH_AHEAD and name not in self._refreshing:
                self._refreshing.add(name)  # this caller's content_hash reads it again
                return None
        if recent[0] != self._last_change() or self._journal_left():
            return None
        try:
            blob = decode_record(file_id, recent[2]).blob
        except StorageError:
            return None
        return self._blobs.known_sha256(blob)

    def _with_blob(self, file_id: str, use: Callable[[str, str], _R]) -> _R:
        """``use(blob, file_id)`` of the blob the file's record names.

        Outside the lock: a blob never changes. A replace may remove the blob between
        the lookup and its use: then the record as it is now (read from the bucket)
        names the new one, and only a blob still named is a missing file.
        """
        with self._reading(file_named(file_id)):
            blob = self._record(file_id).blob
        try:
            return use(blob, file_id)
        except MediaFileNotFound:
            with self._reading(file_named(file_id)):
                current = self._record(file_id, fresh=True).blob
            if current == blob:
                raise
            return use(current, file_id)

    # -- the objects --------------------------------------------------------------------

    def _record(self, file_id: str, *, fresh: bool = False) -> Record:
        """The file's record: as read recently if no write happened since, else read.

        ``fresh``: read it from the bucket in any case.
        """
        name = record_name(file_id)
        changes = self._last_change()
        with self._bodies_lock:
            fresh = fresh or name in self._refreshing
            recent = None if fresh else self._recent.get(name)
        if recent is not None and recent[0] == changes and recent[1] > time.monotonic():
            return decode_record(file_id, recent[2])
        got = self._get(name)
        if got is None:
            with self._bodies_lock:
                self._refreshing.discard(name)
            raise MediaFileNotFound(file_id)
        with self._bodies_lock:
            self._recent[name] = (changes, time.monotonic() + FRESH_SECONDS, got[1])
            self._recent.move_to_end(name)
            self._refreshing.discard(name)
            while len(self._recent) > _RECORDS_KEPT:
                self._recent.popitem(last=False)
        return decode_record(file_id, got[1])

    def _last_change(self) -> bytes:
        """What ``CHANGES`` holds: it changes after every write of this host's stores."""
        try:
            with open(self._changes, "rb") as stream:  # noqa: PTH123 - a hot path
                return stream.read()
        except FileNotFoundError:
            return b""

    def _get(self, name: str) -> tuple[str, bytes] | None:
        """Return (ETag, body) of object ``name``, None if there is none."""
        client, bucket = self._bucket.client, self._bucket.bucket
        try:
            answer = client.get_object(Bucket=bucket, Key=self._bucket.key(name))
        except Exception as exc:
            if is_missing(exc):
                return None
            raise
        got = (answer["ETag"], answer["Body"].read())
        self._keep(name, *got)
        return got

    def _keep(self, name: str, etag: str, body: bytes) -> None:
        with self._bodies_lock:
            self._bodies[name] = (etag, body)
            self._bodies.move_to_end(name)
            while len(self._bodies) > _RECORDS_KEPT:
                self._bodies.popitem(last=False)

    def _fetch(self, wanted: list[tuple[str, str]]) -> list[bytes | None]:
        """Return the bodies of objects (name, ETag listed): kept ones, the rest fetched."""
        found: list[bytes | None] = []
        missing = []
        with self._bodies_lock:
            for name, etag in wanted:
                kept = self._bodies.get(name)
                if kept is not None and kept[0] == etag:
                    found.append(kept[1])
                else:
                    found.append(None)
                    missing.append(len(found) - 1)
        fetched = run_parallel(lambda index: self._get(wanted[index][0]), missing)
        for index, got in zip(missing, fetched, strict=True):
            found[index] = None if got is None else got[1]
        return found

    def _children(self, folder_id: str) -> tuple[list[tuple[str, str]], list[str]]:
        """Return the folder's files as (id, ETag) and its subfolders' ids, in id order."""
        start = marker(folder_id)
        files, folders, seen = [], [], False
        paginator = self._bucket.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self._bucket.bucket, Prefix=self._bucket.key(start), Delimiter="/"
        )
        for page in pages:
            for item in page.get("Contents", []):
                seen = True
                name = self._bucket.name(item["Key"])[len(start) :]
                file_id = f"{folder_id}/{name}" if folder_id else name
                if name and _valid(ids.parse_file_id, file_id):
                    files.append((file_id, item["ETag"]))
            for common in page.get("CommonPrefixes", []):
                seen = True
                child = self._bucket.name(common["Prefix"])[len(RECORDS) : -1]
                if _valid(ids.parse_folder_id, child):
                    folders.append(child)
        if not seen and folder_id != ids.ROOT:
            raise MediaFolderNotFound(folder_id)
        return sorted(files), sorted(folders)

    def _folder_present(self, folder_id: str) -> bool:
        """Whether any object (its marker, a record) lies in the folder."""
        answer = self._bucket.client.list_objects_v2(
            Bucket=self._bucket.bucket, Prefix=self._bucket.key(marker(folder_id)), MaxKeys=1
        )
        return bool(answer.get("KeyCount", 0))

    def _file_present(self, file_id: str) -> bool:
        try:
            self._bucket.client.head_object(
                Bucket=self._bucket.bucket, Key=self._bucket.key(record_name(file_id))
            )
        except Exception as exc:
            if is_missing(exc):
                return False
            raise
        return True

    def _taken(self, media_id: str) -> bool:
        """Whether a file or a folder holds ``media_id``."""
        return self._file_present(media_id) or self._folder_present(media_id)


def _valid(parse: Callable[[object], str], candidate: str) -> bool:
    try:
        parse(candidate)
    except InvalidId:
        return False
    return True
