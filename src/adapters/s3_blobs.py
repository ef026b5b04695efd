"""The bytes of media files in an S3 bucket: immutable objects ``<prefix>.blobs/<2 hex>/<32 hex>``.

As with ``postgres.media_blobs`` on disk, a blob is written whole before any record (a
row, a sidecar object) names it and is never changed after: moving a file changes
records only, replacing one names a new blob. So a crash leaves at most a blob nothing
names: invisible, and removed by ``remove_orphans`` once older than any write lasts,
with the incomplete multipart uploads a killed process left (``abort_stale_uploads``).
A blob is removed only after the record that named it is gone.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO, cast

from boto3.s3.transfer import TransferConfig

from flextype_adapters.blob_store import BlobHashes, remove_unnamed
from flextype_adapters.s3_bucket import S3Bucket, bucket_errors, is_missing
from flextype_adapters.s3_uploads import DEFAULT_PART_SIZE, S3Upload
from flextype_core.errors import MediaFileNotFound
from flextype_core.ports import StagedUpload

__all__ = ["BLOBS", "S3Blobs"]

BLOBS = ".blobs/"
"""Where blobs are under the bucket's prefix (a name no media id can take: ids never
begin with a dot)."""
_ONE_AT_A_TIME = TransferConfig(use_threads=False)


class S3Blobs:
    """The blob objects of ``bucket``; their SHA-256 kept once computed (they never change)."""

    def __init__(self, bucket: S3Bucket, *, part_size: int = DEFAULT_PART_SIZE) -> None:
        self.bucket = bucket
        self._part_size = part_size
        self._hashes = BlobHashes()

    @staticmethod
    def new_name() -> str:
        return uuid.uuid4().hex

    @staticmethod
    def object_name(name: str) -> str:
        """The object of blob ``name``, relative to the bucket's prefix."""
        return f"{BLOBS}{name[:2]}/{name}"

    def stage(self, name: str | None = None) -> S3Upload:
        """Begin writing blob ``name`` (a new one by default).

        The upload's ``name`` is the object's; ``blob_name(upload)`` is the blob's.
        """
        return S3Upload(
            self.bucket, self.object_name(name or self.new_name()), part_size=self._part_size
        )

    @staticmethod
    def blob_name(upload: S3Upload) -> str:
        """The blob an upload of ``stage`` writes."""
        return upload.name.rsplit("/", 1)[-1]

    def finish(self, upload: StagedUpload) -> str:
        """Complete the upload's object (``blob_store.BlobStore``): it is the blob already."""
        if not isinstance(upload, S3Upload) or not upload.name.startswith(BLOBS):
            raise TypeError("PostgresMediaStore.add_file takes an upload of its own stage().")
        upload.finish()
        return self.blob_name(upload)

    @staticmethod
    def place(upload: StagedUpload, name: str) -> None:
        """Take the finished upload (``blob_store.BlobStore``): no copy, the object stays."""
        assert isinstance(upload, S3Upload) and S3Blobs.blob_name(upload) == name
        upload.taken()

    def copy(self, name: str, new_name: str) -> None:
        """Write blob ``new_name`` with the bytes of blob ``name``, inside the service.

        boto3's managed copy switches to a multipart copy past its threshold, so objects
        over 5 GB copy too, and no byte passes through this process. Its parts are copied
        one after another in the calling thread: copies run several at once already
        (``run_parallel``), and ten threads each would overflow the client's pool.
        """
        with bucket_errors("A media file", "copied"):
            self.bucket.client.copy(
                {"Bucket": self.bucket.bucket, "Key": self.bucket.key(self.object_name(name))},
                self.bucket.bucket,
                self.bucket.key(self.object_name(new_name)),
                Config=_ONE_AT_A_TIME,
            )

    def open(self, name: str, file_id: str = "") -> BinaryIO:
        """Return a stream of blob ``name`` (``MediaFileNotFound(file_id)`` if it is gone)."""
        with bucket_errors("A media file", "read"):
            try:
                answer = self.bucket.client.get_object(
                    Bucket=self.bucket.bucket, Key=self.bucket.key(self.object_name(name))
                )
            except Exception as exc:
                if is_missing(exc):
                    raise MediaFileNotFound(file_id) from exc
                raise
        return cast("BinaryIO", _Stream(answer["Body"]))

    def url(self, name: str, expires: int, *, media_type: str) -> str:
        """A URL that answers blob ``name`` for ``expires`` seconds, with no credentials.

        The bucket answers it with ``media_type`` (the sniffed type of the file's
        metadata), whatever type the object was stored with. Signing is local: no request
        is made; a URL of a blob removed since answers the bucket's 404. The URL carries
        the access key id (never the secret), as every presigned URL does.

        Raises:
            ServiceUnavailable: no credentials are found to sign with.
        """
        with bucket_errors("A media file", "linked"):
            return self.bucket.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket.bucket,
                    "Key": self.bucket.key(self.object_name(name)),
                    "ResponseContentType": media_type,
                },
                ExpiresIn=expires,
            )

    def read(self, name: str, file_id: str = "") -> bytes:
        with self.open(name, file_id) as stream:
            return stream.read()

    def known_sha256(self, name: str) -> str | None:
        """The SHA-256 of blob ``name`` if computed before (it never changes), else None."""
        return self._hashes.known(name)

    def sha256(self, name: str, file_id: str = "") -> str:
        return self._hashes.of(name, lambda: self.open(name, file_id))

    def remove(self, names: Iterable[str]) -> None:
        """Remove blobs nothing names any more (what fails is an orphan, removed later)."""
        objects = [self.object_name(name) for name in names]
        if objects:
            with bucket_errors("A media file", "deleted"):
                self.bucket.delete_names(objects)

    def remove_orphans(self, named: Callable[[list[str]], set[str]], min_age: float) -> int:
        """Remove the blobs older than ``min_age`` seconds that ``named`` does not name.

        ``named(candidates)`` returns those of the candidates some record names. Only old
        blobs are candidates: a younger one may belong to a write not yet recorded.
        """
        limit = time.time() - min_age
        with bucket_errors("The media files", "listed"):
            candidates = [
                name.rsplit("/", 1)[-1]
                for name, item in self.bucket.names(BLOBS)
                if item["LastModified"].timestamp() < limit
            ]
        return remove_unnamed(candidates, named, self.remove)

    def abort_stale_uploads(self, min_age: float) -> int:
        """Abort the multipart uploads of blobs idle for ``min_age`` seconds.

        Idle: begun that long ago, and no part sent since (an upload still sending parts
        after an hour is a slow one, not a dead one; moto dates every upload 2010-11-10,
        so there only the parts' dates tell a live upload from a dead one).
        """
        limit = time.time() - min_age
        client, bucket = self.bucket.client, self.bucket.bucket
        aborted = 0
        with bucket_errors("The media uploads", "listed"):
            paginator = client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=bucket, Prefix=self.bucket.key(BLOBS)):
                for upload in page.get("Uploads", []):
                    key, upload_id = upload["Key"], upload["UploadId"]
                    if upload["Initiated"].timestamp() < limit and self._idle(
                        key, upload_id, limit
                    ):
                        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
                        aborted += 1
        return aborted

    def _idle(self, key: str, upload_id: str, limit: float) -> bool:
        """Whether multipart upload ``upload_id`` sent no part since ``limit``."""
        paginator = self.bucket.client.get_paginator("list_parts")
        pages = paginator.paginate(Bucket=self.bucket.bucket, Key=key, UploadId=upload_id)
        try:
            return all(
                part["LastModified"].timestamp() < limit
                for page in pages
                for part in page.get("Parts", [])
            )
        except Exception as exc:
            if is_missing(exc):  # completed or aborted meanwhile
                return False
            raise


class _Stream(io.RawIOBase):
    """botocore's StreamingBody as a binary file object (read, readinto, close)."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        with bucket_errors("A media file", "read"):
            data = self._body.read(len(view))
        view[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        with bucket_errors("A media file", "read"):
            return cast("bytes", self._body.read(None if size is None or size < 0 else size))

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()

    def __enter__(self) -> _Stream:
        return self
