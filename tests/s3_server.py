"""A real S3 API for the tests: moto's server mode on 127.0.0.1, and a fresh bucket per test.

``s3_endpoint`` (session) starts moto's server once, in a process of its own on a free
port (moto is in the test extras, so it is never missing): no test process hosts moto,
so its threads and objects never count in a test's memory or threads. ``s3_bucket`` is
an ``S3Bucket`` on a bucket of its own, with a key prefix, so a test that reads outside
its prefix shows; ``s3_settings`` gives the same bucket as ``media.s3`` settings for a project.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from flextype_adapters.s3_bucket import S3Bucket

__all__ = [
    "S3_CREDENTIALS",
    "bucket_settings",
    "moto_process",
    "new_bucket",
    "s3_bucket",
    "s3_endpoint",
    "s3_settings",
]

S3_CREDENTIALS = {
    "region": "us-east-1",
    "access_key_id": "test-key",
    "secret_access_key": "test-secret",
}
"""moto accepts any credentials; these are what tests check are never shown."""


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with moto_process() as endpoint:
        yield endpoint


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


def bucket_settings(endpoint: str) -> dict[str, Any]:
    """``media.s3`` settings of a fresh bucket (created) of ``endpoint``, with a key prefix."""
    bucket = new_bucket(endpoint)
    return {
        "endpoint_url": endpoint,
        "bucket": bucket.bucket,
        "prefix": bucket.prefix,
        **S3_CREDENTIALS,
    }


@pytest.fixture
def s3_settings(s3_endpoint: str) -> dict[str, Any]:
    """``media.s3`` settings of a fresh bucket (created), with a key prefix."""
    return bucket_settings(s3_endpoint)


_RUNNING = re.compile(r"Running on (http://127\.0\.0\.1:\d+)")


@contextmanager
def moto_process() -> Iterator[str]:
    """A moto S3 server in a process of its own; yields its endpoint.

    moto's server prints its address once it listens (port 0: a free one, chosen by
    the system); what the test process measures (memory, threads) is then its own.
    """
    program = Path(sys.executable).with_name("moto_server")
    command = [str(program)] if program.exists() else [shutil.which("moto_server") or "moto_server"]
    proc = subprocess.Popen(
        [*command, "-H", "127.0.0.1", "-p", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    # Its request log goes on after the first line: drained, or it blocks on a full pipe.
    drain = threading.Thread(target=proc.stderr.read, daemon=True)
    try:
        endpoint = None
        for line in proc.stderr:
            found = _RUNNING.search(line)
            if found:
                endpoint = found.group(1)
                break
        assert endpoint is not None, "moto_server ended before serving"
        drain.start()
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if drain.is_alive():
            drain.join(timeout=30)
        proc.stderr.close()
