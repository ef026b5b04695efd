"""The DerivativeCache port over an S3 bucket: objects ``<prefix>.derived/<key[:2]>/<key>``.

Every server of a project sharing the bucket shares its derivatives: a render on one is
a hit on all the others. A PutObject is atomic (a reader gets the whole object or none),
so no temporary object is needed and nothing is left behind by a killed writer.

The cache is an optimisation, never a reason to fail an image: a bucket that cannot be
read is a miss and one that cannot be written keeps nothing, each logged at most once a
minute (``warn_limited``), without the service's own message (it may name the
endpoint).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import botocore.exceptions

from flextype_adapters.log_limit import warn_limited
from flextype_adapters.s3_bucket import S3Bucket, is_missing

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

__all__ = ["DERIVED", "S3DerivativeCache"]

DERIVED = ".derived/"
"""Where derivatives are under the bucket's prefix (no media id begins with a dot)."""
_KEY = re.compile(r"[0-9a-f]{64}")
_FAILURES = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError)


class S3DerivativeCache:
    """Derivatives as objects of ``bucket``, one per key, fanned out by its first two hex.

    Nothing is evicted here: a lifecycle rule of the bucket on ``<prefix>.derived/`` (or
    deleting those objects) is always safe.
    """

    def __init__(self, bucket: S3Bucket) -> None:
        self._bucket = bucket
        self._client: S3Client = bucket.client

    def _key(self, key: str) -> str:
        # Keys come from the core (SHA-256 hex); anything else must not become an object.
        if not _KEY.fullmatch(key):
            raise ValueError(f"Not a derivative cache key: {key!r}")
        return self._bucket.key(f"{DERIVED}{key[:2]}/{key}")

    def get(self, key: str) -> bytes | None:
        name = self._key(key)
        try:
            answer = self._client.get_object(Bucket=self._bucket.bucket, Key=name)
            with answer["Body"] as body:
                return body.read()
        except _FAILURES as exc:
            if not is_missing(exc):
                _warn("read", exc)
            return None

    def put(self, key: str, data: bytes) -> None:
        name = self._key(key)
        try:
            self._client.put_object(Bucket=self._bucket.bucket, Key=name, Body=data)
        except _FAILURES as exc:
            _warn("written", exc)


def _warn(action: str, exc: BaseException) -> None:
    warn_limited(
        f"s3-derived-{action}",
        "Derived images cannot be %s in the bucket (%s); they are rendered instead.",
        action,
        type(exc).__name__,
    )
