"""Uploads staged straight into an S3 object (the StagedUpload port), never whole anywhere.

Bytes are sent as they arrive: in parts of ``part_size`` through a multipart upload, by
a thread of the upload's own, one part at a time, so memory holds at most the part being
filled and the part being sent. An upload smaller than one part is sent with one
``PutObject`` at ``finish``. The first ``HEAD_KEPT`` bytes stay in memory for the
content checks.

The object is named by the store (an immutable blob no listing shows until the store
records it), so a finished upload is still nobody's file. ``abort`` aborts the multipart
upload or deletes the object: a refused or abandoned upload leaves neither an object nor
an incomplete multipart upload (one left by a killed process is aborted by the store's
``remove_debris``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from typing import TYPE_CHECKING

from flextype_adapters.s3_bucket import S3Bucket, bucket_errors
from flextype_core.errors import ServiceUnavailable, StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

__all__ = ["DEFAULT_PART_SIZE", "HEAD_KEPT", "S3Upload"]

DEFAULT_PART_SIZE = 8 * 1024 * 1024
"""S3 accepts parts of 5 MiB to 5 GiB (the last may be smaller), at most 10,000 of them."""
MIN_PART_SIZE = 5 * 1024 * 1024
HEAD_KEPT = 256 * 1024
"""Leading bytes kept in memory: as many as the media checks read (``media.HEAD_BYTES``)."""
_SUBJECT = "The upload"


class S3Upload:
    """An upload written into object ``name`` of ``bucket``.

    The store that staged it calls ``taken`` once a record names the object; until then
    ``abort`` (or the end of a ``with`` block) removes it.
    """

    def __init__(self, bucket: S3Bucket, name: str, *, part_size: int = DEFAULT_PART_SIZE) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"S3 parts are at least {MIN_PART_SIZE} bytes, not {part_size}.")
        self._bucket = bucket
        self._key = bucket.key(name)
        self.name = name
        self._part_size = part_size
        self._buffer = bytearray()
        self._head = bytearray()
        self._size = 0
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []
        self._handed = 0  # parts handed to the sender
        self._sending: concurrent.futures.Future[str] | None = None
        self._sender: concurrent.futures.ThreadPoolExecutor | None = None
        self._finished = False  # no more writes
        self._completed = False  # the object exists
        self._gone = False  # taken by the store, or aborted
        self._aborted = False

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._finished or self._gone:
            raise ValueError("The upload is finished: nothing more can be written to it.")
        view = memoryview(data).cast("B")
        if len(self._head) < HEAD_KEPT:
            self._head += view[: HEAD_KEPT - len(self._head)]
        self._size += len(view)
        self._buffer += view
        while len(self._buffer) >= self._part_size:
            # At most two parts in memory: the previous one is sent before this one is
            # copied out, and copied once (a slice of the bytearray would be a second).
            self._wait()
            with memoryview(self._buffer) as whole:
                part = bytes(whole[: self._part_size])
            del self._buffer[: self._part_size]
            self._send(part)

    def _send(self, part: bytes) -> None:
        """Hand ``part`` to the sender once the previous one is sent (one in flight)."""
        self._wait()
        if self._sender is None:
            self._sender = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="s3-upload"
            )
        # Only this thread touches ``_parts``: the sender answers the ETag through its
        # future, and ``_wait`` records it (a sender done before ``submit`` returns is fine).
        self._handed += 1
        self._sending = self._sender.submit(self._upload_part, part, self._handed)

    def _upload_part(self, part: bytes, number: int) -> str:
        with bucket_errors(_SUBJECT, "stored"):
            if self._upload_id is None:
                started = self._bucket.client.create_multipart_upload(
                    Bucket=self._bucket.bucket, Key=self._key
                )
                self._upload_id = started["UploadId"]
            answer = self._bucket.client.upload_part(
                Bucket=self._bucket.bucket,
                Key=self._key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=part,
            )
        return answer["ETag"]

    def _wait(self) -> None:
        """Wait for the part in flight, if any, and record its ETag (raise its failure)."""
        sending, self._sending = self._sending, None
        if sending is not None:
            etag = sending.result()
            self._parts.append({"PartNumber": len(self._parts) + 1, "ETag": etag})

    def finish(self) -> None:
        if self._aborted:
            raise ValueError("The upload was aborted.")
        if self._finished:
            if not self._completed:  # an earlier finish failed: there is no object
                raise StorageError(f"{_SUBJECT} was not stored: finishing it failed.")
            return
        self._finished = True
        try:
            if not self._handed:
                with bucket_errors(_SUBJECT, "stored"):
                    self._bucket.client.put_object(
                        Bucket=self._bucket.bucket, Key=self._key, Body=bytes(self._buffer)
                    )
            else:
                if self._buffer:
                    self._send(bytes(self._buffer))
                self._wait()
                assert self._upload_id is not None  # set by the first part sent
                with bucket_errors(_SUBJECT, "stored"):
                    self._bucket.client.complete_multipart_upload(
                        Bucket=self._bucket.bucket,
                        Key=self._key,
                        UploadId=self._upload_id,
                        MultipartUpload={"Parts": self._parts},
                    )
            self._completed = True
        finally:
            self._buffer = bytearray()
            self._stop_sender()

    def head(self, length: int) -> bytes:
        if length <= len(self._head) or self._size <= len(self._head):
            return bytes(self._head[:length])
        if not self._finished:
            raise ValueError(f"Only the first {HEAD_KEPT} bytes can be read before finish.")
        with bucket_errors(_SUBJECT, "read"):
            answer = self._bucket.client.get_object(
                Bucket=self._bucket.bucket, Key=self._key, Range=f"bytes=0-{length - 1}"
            )
            return answer["Body"].read()

    def taken(self) -> None:
        """Record that a store record names the object: ``abort`` leaves it alone."""
        self._gone = True

    def abort(self) -> None:
        if self._gone:
            return
        self._gone = self._aborted = True
        self._buffer = bytearray()
        try:
            # A failed part needs nothing of its own: the multipart abort below drops it,
            # whatever the part raised (the upload's own error was raised already).
            with contextlib.suppress(Exception):
                self._wait()
        finally:
            self._stop_sender()
        # Best effort, and never in place of the error that made the caller abort: what a
        # failure leaves here, remove_debris removes later.
        with (
            contextlib.suppress(StorageError, ServiceUnavailable),
            bucket_errors(_SUBJECT, "aborted"),
        ):
            if self._upload_id is not None and not self._completed:
                self._bucket.client.abort_multipart_upload(
                    Bucket=self._bucket.bucket, Key=self._key, UploadId=self._upload_id
                )
            elif self._finished:
                self._bucket.client.delete_object(Bucket=self._bucket.bucket, Key=self._key)

    def _stop_sender(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None:
            sender.shutdown(wait=True)

    def __enter__(self) -> S3Upload:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.abort()
