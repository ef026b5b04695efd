"""bucket_errors: an unreachable or overloaded service is 503 (try again); a client that
cannot even make the request (no credentials, an invalid parameter) is a StorageError
saying why. No message names the endpoint or the keys."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from flextype_adapters.s3_bucket import S3Bucket, bucket_errors
from flextype_core.errors import ServiceUnavailable, StorageError
from tests.s3_server import S3_CREDENTIALS

_NO_CREDENTIALS = {
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "AWS_CONFIG_FILE": "/nonexistent/config",
    "AWS_EC2_METADATA_DISABLED": "true",
}
_CHAIN = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


def _bucket(endpoint: str, *, keys: bool = True, timeout: float = 10.0) -> S3Bucket:
    return S3Bucket(
        bucket="b",
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id=S3_CREDENTIALS["access_key_id"] if keys else None,
        secret_access_key=S3_CREDENTIALS["secret_access_key"] if keys else None,
        timeout=timeout,
    )


def _get(bucket: S3Bucket, key: str = "k") -> None:
    with bucket_errors("The file", "read"):
        bucket.client.get_object(Bucket=bucket.bucket, Key=key)


def _shown(exc: BaseException, endpoint: str) -> None:
    message = str(exc)
    assert endpoint not in message and "127.0.0.1" not in message
    assert S3_CREDENTIALS["secret_access_key"] not in message
    assert S3_CREDENTIALS["access_key_id"] not in message


def test_no_credentials_is_a_storage_error(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in _CHAIN:
        monkeypatch.delenv(name, raising=False)
    for name, value in _NO_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(StorageError, match="credentials") as raised:
        _get(_bucket(s3_endpoint, keys=False))
    _shown(raised.value, s3_endpoint)


def test_an_invalid_request_is_a_storage_error(s3_endpoint: str) -> None:
    with pytest.raises(StorageError, match="invalid") as raised:
        _get(_bucket(s3_endpoint), key="")  # keys are at least one character
    _shown(raised.value, s3_endpoint)


@pytest.fixture
def silent() -> Iterator[str]:
    """An endpoint that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(50)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture
def closed() -> str:
    """An endpoint nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize("endpoint", ["silent", "closed"])
def test_a_service_out_of_reach_is_503(request: pytest.FixtureRequest, endpoint: str) -> None:
    url = request.getfixturevalue(endpoint)
    with pytest.raises(ServiceUnavailable, match="cannot be reached") as raised:
        _get(_bucket(url, timeout=0.2))
    _shown(raised.value, url)
