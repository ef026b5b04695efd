"""A real S3 API for the tests: moto's server mode on 127.0.0.1, and a fresh bucket per test.

``s3_endpoint`` (session) starts ``moto.server.ThreadedMotoServer`` once on a free port
(moto is in the test extras, so it is never missing). ``s3_bucket`` is an ``S3Bucket``
on a bucket of its own, with a key prefix, so a test that reads outside its prefix
shows; ``s3_settings`` gives the same bucket as ``media.s3`` settings for a project.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from flextype_adapters.s3_bucket import S3Bucket

__all__ = ["S3_CREDENTIALS", "new_bucket", "s3_bucket", "s3_endpoint", "s3_settings"]

S3_CREDENTIALS = {
    "region": "us-east-1",
    "access_key_id": "test-key",
    "secret_access_key": "test-secret",
}
"""moto accepts any credentials; these are what tests check are never shown."""


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def new_bucket(endpoint: str, *, prefix: str = "site/") -> S3Bucket:
    """Create a bucket with a fresh name and return it under ``prefix``."""
    bucket = S3Bucket(
        bucket=f"test-{uuid.uuid4().hex[:20]}",
        endpoint_url=endpoint,
        prefix=prefix,
        region=S3_CREDENTIALS["region"],
        access_key_id=S3_CREDENTIALS["access_key_id"],
        secret_access_key=S3_CREDENTIALS["secret_access_key"],
    )
    bucket.client.create_bucket(Bucket=bucket.bucket)
    return bucket


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> S3Bucket:
    return new_bucket(s3_endpoint)


@pytest.fixture
def s3_settings(s3_endpoint: str) -> dict[str, Any]:
    """``media.s3`` settings of a fresh bucket (created), with a key prefix."""
    bucket = new_bucket(s3_endpoint)
    return {
        "endpoint_url": s3_endpoint,
        "bucket": bucket.bucket,
        "prefix": bucket.prefix,
        **S3_CREDENTIALS,
    }
