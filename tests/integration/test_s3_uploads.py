"""S3Upload on moto's S3 server: bytes go to the bucket as they arrive, aborts leave nothing."""

from __future__ import annotations

import concurrent.futures
import os
import tracemalloc
from typing import Any

import botocore.exceptions
import pytest

from flextype_adapters.s3_bucket import S3Bucket
from flextype_adapters.s3_uploads import HEAD_KEPT, MIN_PART_SIZE, S3Upload
from flextype_core.errors import ServiceUnavailable, StorageError
from tests.s3_server import moto_process, new_bucket


def _object(bucket: S3Bucket, name: str) -> bytes:
    return bucket.client.get_object(Bucket=bucket.bucket, Key=bucket.key(name))["Body"].read()


def _objects(bucket: S3Bucket) -> list[str]:
    return [name for name, _ in bucket.names("")]


def _incomplete(bucket: S3Bucket) -> list[str]:
    answer = bucket.client.list_multipart_uploads(Bucket=bucket.bucket)
    return [upload["Key"] for upload in answer.get("Uploads", [])]


def test_a_small_upload_is_one_object_at_finish(s3_bucket: S3Bucket) -> None:
    upload = S3Upload(s3_bucket, "blobs/small")
    upload.write(b"hello ")
    upload.write(memoryview(b"world"))
    assert _objects(s3_bucket) == []  # nothing before finish
    upload.finish()
    upload.taken()
    upload.abort()  # taken: abort leaves it
    assert upload.size == 11
    assert _object(s3_bucket, "blobs/small") == b"hello world"
    assert _incomplete(s3_bucket) == []


def test_a_large_upload_goes_in_parts_while_written(s3_bucket: S3Bucket) -> None:
    data = os.urandom(MIN_PART_SIZE * 2 + 12345)
    with S3Upload(s3_bucket, "blobs/large", part_size=MIN_PART_SIZE) as upload:
        for start in range(0, len(data), 65536):
            upload.write(data[start : start + 65536])
        # Two whole parts were written: a multipart upload is under way before finish.
        assert _incomplete(s3_bucket) == [s3_bucket.key("blobs/large")]
        assert upload.head(10) == data[:10]
        upload.finish()
        assert upload.head(HEAD_KEPT + 10) == data[: HEAD_KEPT + 10]  # past what is kept
        upload.taken()
    assert _object(s3_bucket, "blobs/large") == data
    assert _incomplete(s3_bucket) == []


def test_an_abort_in_the_middle_leaves_no_incomplete_upload(s3_bucket: S3Bucket) -> None:
    with S3Upload(s3_bucket, "blobs/aborted", part_size=MIN_PART_SIZE) as upload:
        # The second part is handed over once the first was sent: the upload is begun.
        upload.write(os.urandom(MIN_PART_SIZE * 2 + 1))
        assert _incomplete(s3_bucket) != []
    assert _incomplete(s3_bucket) == []
    assert _objects(s3_bucket) == []


@pytest.mark.parametrize("size", [10, MIN_PART_SIZE + 10])
def test_an_abort_after_finish_deletes_the_object(s3_bucket: S3Bucket, size: int) -> None:
    upload = S3Upload(s3_bucket, "blobs/refused", part_size=MIN_PART_SIZE)
    upload.write(b"x" * size)
    upload.finish()
    assert _objects(s3_bucket) == ["blobs/refused"]
    upload.abort()
    upload.abort()  # twice is nothing
    assert _objects(s3_bucket) == []
    assert _incomplete(s3_bucket) == []


def test_no_write_after_finish(s3_bucket: S3Bucket) -> None:
    with S3Upload(s3_bucket, "blobs/done") as upload:
        upload.finish()
        with pytest.raises(ValueError, match="finished"):
            upload.write(b"more")


def test_parts_smaller_than_s3_accepts_are_refused(s3_bucket: S3Bucket) -> None:
    with pytest.raises(ValueError, match="at least"):
        S3Upload(s3_bucket, "blobs/x", part_size=1024)


def test_an_upload_holds_at_most_two_parts_in_memory() -> None:
    """The part being filled and the part being sent (with boto3's buffers of a MiB or
    two): never a third copy when a part is handed over."""
    # moto in a process of its own: its copies of the parts are not ours.
    with moto_process() as endpoint:
        bucket = new_bucket(endpoint)
        chunk = b"\x00" * (256 * 1024)
        tracemalloc.start()
        try:
            upload = S3Upload(bucket, "blobs/big", part_size=MIN_PART_SIZE)
            for _ in range(8 * MIN_PART_SIZE // len(chunk)):
                upload.write(chunk)
            upload.finish()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        upload.taken()
        assert upload.size == 8 * MIN_PART_SIZE
        assert len(_object(bucket, "blobs/big")) == 8 * MIN_PART_SIZE
    assert peak < 3 * MIN_PART_SIZE, peak


def test_a_part_sent_before_its_sender_returns_is_recorded(
    s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writing thread may lose the CPU right after handing a part over: the sender
    finishing first must not find its part unrecorded."""
    submit = concurrent.futures.ThreadPoolExecutor.submit

    def submit_then_stall(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        future = submit(self, fn, *args, **kwargs)
        concurrent.futures.wait([future])  # the caller resumes once the part is sent
        return future

    monkeypatch.setattr(concurrent.futures.ThreadPoolExecutor, "submit", submit_then_stall)
    data = os.urandom(2 * MIN_PART_SIZE + 10)
    upload = S3Upload(s3_bucket, "blobs/raced", part_size=MIN_PART_SIZE)
    upload.write(data[: MIN_PART_SIZE + 10])
    upload.write(data[MIN_PART_SIZE + 10 :])
    upload.finish()
    upload.taken()
    assert _object(s3_bucket, "blobs/raced") == data


def test_an_abort_aborts_the_multipart_upload_whatever_the_last_part_raised(
    s3_bucket: S3Bucket,
) -> None:
    sent = []

    def second_part_fails(**_: Any) -> None:
        sent.append(1)
        if len(sent) == 2:
            raise RuntimeError("the sender failed")

    s3_bucket.client.meta.events.register("before-send.s3.UploadPart", second_part_fails)
    upload = S3Upload(s3_bucket, "blobs/failed", part_size=MIN_PART_SIZE)
    upload.write(os.urandom(2 * MIN_PART_SIZE))  # the second part fails in the sender
    assert _incomplete(s3_bucket) != []
    upload.abort()
    assert _incomplete(s3_bucket) == []
    assert _objects(s3_bucket) == []


@pytest.mark.parametrize("size", [10, MIN_PART_SIZE + 10])
def test_finish_after_a_failed_finish_raises(s3_bucket: S3Bucket, size: int) -> None:
    def refuse(**_: Any) -> None:
        raise botocore.exceptions.EndpointConnectionError(endpoint_url="http://s3.invalid")

    for operation in ("PutObject", "CompleteMultipartUpload"):
        s3_bucket.client.meta.events.register(f"before-send.s3.{operation}", refuse)
    upload = S3Upload(s3_bucket, "blobs/unfinished", part_size=MIN_PART_SIZE)
    upload.write(b"x" * size)
    with pytest.raises(ServiceUnavailable):
        upload.finish()
    with pytest.raises(StorageError, match="not stored"):
        upload.finish()  # never a quiet success: the object does not exist
    upload.abort()
    assert _incomplete(s3_bucket) == []
    assert _objects(s3_bucket) == []
