"""One S3 bucket (any S3-compatible service) under a key prefix, through boto3.

Every S3 adapter reaches the bucket through ``S3Bucket``: it names keys (``key``), and
turns what boto3 raises into the domain's errors (``bucket_errors``): a service that
cannot be reached, times out or answers 5xx is ``ServiceUnavailable`` (503 with
``Retry-After``), anything else ``StorageError`` (a refusal, missing credentials, an
invalid request: no retry helps). Messages name the subject, never the endpoint, the keys
or the credentials, which boto3's own messages may carry.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import boto3
import botocore.config
import botocore.exceptions

from flextype_core.errors import ServiceUnavailable, StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

__all__ = ["S3Bucket", "bucket_errors", "is_missing", "is_precondition_failed"]

_MISSING = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchUpload"})
_PRECONDITION = frozenset({"412", "PreconditionFailed", "ConditionalRequestConflict"})


class S3Bucket:
    """Bucket ``bucket`` of the service at ``endpoint_url``; every key begins with ``prefix``.

    ``prefix`` is used as given ("" or ending in "/" to look like a folder). The client is
    thread-safe (boto3's clients are; its resources are not) and keeps a connection pool
    of ``max_connections``.
    """

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        prefix: str = "",
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        max_connections: int = 32,
        timeout: float = 10.0,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        config = botocore.config.Config(
            max_pool_connections=max_connections,
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"max_attempts": 3, "mode": "standard"},
            # Path-style addressing works with every S3-compatible service (MinIO, moto,
            # Ceph) without a DNS name per bucket.
            s3={"addressing_style": "path"},
            # SigV4 everywhere, presigned URLs too (boto3 may still presign with SigV2,
            # which newer regions refuse).
            signature_version="s3v4",
        )
        self.client: S3Client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=config,
        )

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], *, max_connections: int = 32) -> S3Bucket:
        """The bucket that ``media.s3`` settings name (endpoint, bucket, prefix, region, keys).

        Empty keys become None: boto3 then finds credentials itself (AWS_* variables, a
        profile, an instance role).
        """
        return cls(
            bucket=settings["bucket"],
            endpoint_url=settings.get("endpoint_url"),
            prefix=settings.get("prefix", ""),
            region=settings.get("region"),
            access_key_id=settings.get("access_key_id"),
            secret_access_key=settings.get("secret_access_key"),
            max_connections=max_connections,
        )

    def key(self, name: str) -> str:
        """The object key of ``name`` (a key relative to the prefix)."""
        return self.prefix + name

    def name(self, key: str) -> str:
        """The inverse of ``key``: ``key`` without the prefix."""
        return key[len(self.prefix) :]

    def names(self, start: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield (name, listing item) of every object whose name begins with ``start``."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.key(start)):
            for item in page.get("Contents", []):
                yield self.name(item["Key"]), dict(item)

    def delete_names(self, names: list[str]) -> None:
        """Delete the objects ``names`` (missing ones too), 1,000 per request."""
        for start in range(0, len(names), 1000):
            batch = names[start : start + 1000]
            answer = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": self.key(name)} for name in batch], "Quiet": True},
            )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise StorageError(f"An object cannot be deleted: {first.get('Code', 'error')}.")


def is_missing(exc: BaseException) -> bool:
    """Whether boto3's ``exc`` says the object (or upload) does not exist."""
    return _code(exc) in _MISSING


def is_precondition_failed(exc: BaseException) -> bool:
    """Whether boto3's ``exc`` is a failed ``If-Match``/``If-None-Match`` of a write."""
    return _code(exc) in _PRECONDITION


def _code(exc: BaseException) -> str | None:
    if not isinstance(exc, botocore.exceptions.ClientError):
        return None
    error = exc.response.get("Error", {})
    return str(error.get("Code", "")) or str(
        exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
    )


@contextlib.contextmanager
def bucket_errors(subject: str, action: str) -> Iterator[None]:
    """Turn boto3's failures into ``ServiceUnavailable`` or ``StorageError`` naming ``subject``.

    Domain errors raised inside pass through unchanged.
    """
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if status >= 500 or _code(exc) in {"SlowDown", "RequestTimeout"}:
            raise ServiceUnavailable(
                f"{subject} cannot be {action}: the object store is unavailable."
            ) from exc
        raise StorageError(
            f"{subject} cannot be {action}: the object store answered {_code(exc)}."
        ) from exc
    except _OUT_OF_REACH as exc:
        raise ServiceUnavailable(
            f"{subject} cannot be {action}: the object store cannot be reached."
        ) from exc
    except botocore.exceptions.BotoCoreError as exc:
        # No retry helps: the settings (or the code) are wrong. botocore's own words may
        # name the endpoint or a key: only the kind of failure is told.
        raise StorageError(f"{subject} cannot be {action}: {_client_failure(exc)}.") from exc


_OUT_OF_REACH = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ProxyConnectionError,
    botocore.exceptions.ResponseStreamingError,
    botocore.exceptions.IncompleteReadError,
    OSError,
)
"""What a service down, overloaded or cut off raises: worth a retry later (503)."""


def _client_failure(exc: botocore.exceptions.BotoCoreError) -> str:
    if isinstance(
        exc,
        botocore.exceptions.NoCredentialsError
        | botocore.exceptions.PartialCredentialsError
        | botocore.exceptions.CredentialRetrievalError,
    ):
        return (
            "no valid credentials for the object store"
            " (media.s3.access_key_id and secret_access_key, or the AWS_* variables)"
        )
    if isinstance(exc, botocore.exceptions.ParamValidationError):
        return "the request to the object store is invalid"
    if isinstance(exc, botocore.exceptions.SSLError):
        return "the object store's TLS certificate is refused"
    return f"the object store client failed ({type(exc).__name__})"
