"""S3DerivativeCache on moto's S3 server: shared derivatives, and a bucket in trouble is a miss."""

from __future__ import annotations

import hashlib
import logging
import socket

import pytest

from flextype_adapters import log_limit
from flextype_adapters.s3_bucket import S3Bucket
from flextype_adapters.s3_derivatives import S3DerivativeCache
from tests.s3_server import S3_CREDENTIALS

KEY = hashlib.sha256(b"source and params").hexdigest()
OTHER = hashlib.sha256(b"other").hexdigest()
ACCESS_KEY_ID = S3_CREDENTIALS["access_key_id"]
SECRET_ACCESS_KEY = S3_CREDENTIALS["secret_access_key"]


def test_a_derivative_is_kept_under_its_key_and_seen_by_another_cache(
    s3_bucket: S3Bucket,
) -> None:
    cache = S3DerivativeCache(s3_bucket)
    assert cache.get(KEY) is None
    cache.put(KEY, b"jpeg bytes")
    assert cache.get(KEY) == b"jpeg bytes"
    assert cache.get(OTHER) is None
    # Another server's cache on the same bucket (its own client) sees it.
    twin = S3Bucket(
        bucket=s3_bucket.bucket,
        endpoint_url=s3_bucket.client.meta.endpoint_url,
        prefix=s3_bucket.prefix,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
    )
    assert S3DerivativeCache(twin).get(KEY) == b"jpeg bytes"
    names = [name for name, _ in s3_bucket.names("")]
    assert names == [f".derived/{KEY[:2]}/{KEY}"]
    cache.put(KEY, b"replaced")
    assert cache.get(KEY) == b"replaced"


@pytest.mark.parametrize("key", ["", "../x", "A" * 64, KEY[:63], KEY + "/x"])
def test_a_key_that_is_not_64_hex_never_becomes_an_object(s3_bucket: S3Bucket, key: str) -> None:
    cache = S3DerivativeCache(s3_bucket)
    with pytest.raises(ValueError, match="Not a derivative cache key"):
        cache.get(key)
    with pytest.raises(ValueError, match="Not a derivative cache key"):
        cache.put(key, b"x")
    assert list(s3_bucket.names("")) == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("trouble", ["no such bucket", "unreachable"])
def test_a_bucket_in_trouble_is_a_miss_logged_once_without_secrets(
    s3_endpoint: str, trouble: str, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = s3_endpoint if trouble == "no such bucket" else f"http://127.0.0.1:{_closed_port()}"
    bucket = S3Bucket(
        bucket="no-such-bucket-here",
        endpoint_url=endpoint,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        timeout=2.0,
    )
    cache = S3DerivativeCache(bucket)
    log_limit._last.clear()  # one line a minute per kind: start this test's kinds afresh
    with caplog.at_level(logging.WARNING):
        assert cache.get(KEY) is None
        assert cache.get(OTHER) is None
        cache.put(KEY, b"x")  # nothing kept, nothing raised
        cache.put(OTHER, b"x")
    warnings = [r for r in caplog.records if r.name == "flextype.storage"]
    assert [r.getMessage().split(" (")[0] for r in warnings] == [
        "Derived images cannot be read in the bucket",
        "Derived images cannot be written in the bucket",
    ]
    for needle in (ACCESS_KEY_ID, SECRET_ACCESS_KEY, endpoint):
        assert needle not in caplog.text
