"""S3Blobs on moto's S3 server: immutable blobs, copies inside the service, orphans removed."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig

from flextype_adapters.s3_blobs import S3Blobs
from flextype_adapters.s3_bucket import S3Bucket
from flextype_core.errors import MediaFileNotFound

MULTIPART_THRESHOLD = TransferConfig().multipart_threshold
"""boto3's default: a larger managed copy is a multipart copy."""


def _store(blobs: S3Blobs, data: bytes) -> str:
    with blobs.stage() as upload:
        upload.write(data)
        upload.finish()
        upload.taken()
    return S3Blobs.blob_name(upload)


def test_a_blob_is_read_streamed_hashed_and_copied(s3_bucket: S3Bucket) -> None:
    blobs = S3Blobs(s3_bucket)
    name = _store(blobs, b"0123456789" * 1000)
    assert blobs.read(name) == b"0123456789" * 1000
    with blobs.open(name) as stream:
        assert stream.read(5) == b"01234"
        assert stream.read() == (b"0123456789" * 1000)[5:]
    assert blobs.sha256(name) == hashlib.sha256(b"0123456789" * 1000).hexdigest()
    copy = blobs.new_name()
    blobs.copy(name, copy)
    assert blobs.read(copy) == blobs.read(name)
    blobs.remove([name])
    with pytest.raises(MediaFileNotFound):
        blobs.read(name, "a/b.png")
    assert blobs.read(copy) == b"0123456789" * 1000


def test_orphans_are_removed_by_age_and_name(s3_bucket: S3Bucket) -> None:
    blobs = S3Blobs(s3_bucket)
    kept, orphan = _store(blobs, b"kept"), _store(blobs, b"orphan")
    asked: list[list[str]] = []

    def named(candidates: list[str]) -> set[str]:
        asked.append(sorted(candidates))
        return {kept}

    assert blobs.remove_orphans(named, min_age=3600) == 0  # both too young
    assert asked == []
    assert blobs.remove_orphans(named, min_age=-60) == 1
    assert asked == [sorted([kept, orphan])]
    assert blobs.read(kept) == b"kept"
    with pytest.raises(MediaFileNotFound):
        blobs.read(orphan)


def test_stale_multipart_uploads_are_aborted(s3_bucket: S3Bucket) -> None:
    blobs = S3Blobs(s3_bucket)
    s3_bucket.client.create_multipart_upload(
        Bucket=s3_bucket.bucket, Key=s3_bucket.key(S3Blobs.object_name(blobs.new_name()))
    )
    # moto dates every multipart upload 2010-11-10, so only the abort itself shows here.
    assert blobs.abort_stale_uploads(min_age=-60) == 1
    assert s3_bucket.client.list_multipart_uploads(Bucket=s3_bucket.bucket).get("Uploads", []) == []


def test_a_large_copy_takes_no_threads_of_its_own(s3_bucket: S3Bucket) -> None:
    """Copies run up to 8 at once (a folder's): each must use one connection, not ten
    (boto3's managed copy), or the client's pool of 32 overflows."""
    blobs = S3Blobs(s3_bucket)
    name = _store(blobs, b"\x00" * (2 * MULTIPART_THRESHOLD + 1))  # a multipart copy
    senders = set()

    def note(**_: Any) -> None:
        senders.add(threading.current_thread())

    s3_bucket.client.meta.events.register("before-send.s3.UploadPartCopy", note)
    copy = blobs.new_name()
    blobs.copy(name, copy)
    assert senders == {threading.current_thread()}
    assert blobs.sha256(copy) == blobs.sha256(name)
