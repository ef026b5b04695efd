"""Two ``flextype serve`` processes on one PostgreSQL database and one S3 bucket.

Each server has a project folder of its own holding only the settings file, as two hosts
would: no media folder is shared, only the database and the bucket. A file uploaded
through one is listed, served, rendered and deleted through the other; a derived image
rendered by one is in the bucket for both.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

from flextype_adapters.s3_bucket import S3Bucket
from tests.integration.postgres_support import PgProject, copy_settings, new_schema, pg_init
from tests.integration.test_http_media import JPEG
from tests.integration.test_serve import _server, _stop
from tests.media_drivers import use_bucket
from tests.s3_server import S3_CREDENTIALS

TIMEOUT = 60.0


class Servers(NamedTuple):
    project: PgProject
    bucket: S3Bucket
    a: str
    b: str
    procs: tuple[subprocess.Popen[str], subprocess.Popen[str]]

    def auth(self) -> dict[str, str]:
        return {"token": self.project.token, "access_token": self.project.access_token}

    def names(self, start: str) -> list[str]:
        return sorted(name for name, _ in self.bucket.names(start))


@pytest.fixture
def servers(tmp_path: Path, postgres_url: str, s3_settings: dict[str, Any]) -> Iterator[Servers]:
    with new_schema(postgres_url) as schema:
        seed = pg_init(tmp_path / "seed", postgres_url, schema, "--no-demo")
        use_bucket(seed.path, s3_settings)
        a = copy_settings(seed.path, tmp_path / "a")
        b = copy_settings(seed.path, tmp_path / "b")
        bucket = S3Bucket.from_settings(s3_settings)
        with _server(a, "--access-log") as (proc_a, url_a), _server(b) as (proc_b, url_b):
            yield Servers(seed, bucket, url_a, url_b, (proc_a, proc_b))


def test_a_file_uploaded_through_one_server_is_listed_served_rendered_and_deleted_by_the_other(
    servers: Servers,
) -> None:
    token = servers.project.token
    sent = httpx.post(
        f"{servers.a}/api/media/files",
        data={**servers.auth(), "folder": "shared"},
        files={"file": ("Photo.jpg", JPEG, "image/jpeg")},
        timeout=TIMEOUT,
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["data"]["id"] == "shared/photo.jpg"
    [blob] = servers.names(".blobs/")

    listed = httpx.get(
        f"{servers.b}/api/media/files",
        params={"id": "shared", "options[collection]": "true", "token": token},
        timeout=TIMEOUT,
    )
    assert [f["id"] for f in listed.json()["data"]] == ["shared/photo.jpg"]
    served = httpx.get(f"{servers.b}/media/shared/photo.jpg", timeout=TIMEOUT)
    assert (served.status_code, served.content) == (200, JPEG)
    assert served.headers["content-type"] == "image/jpeg"

    rendered = httpx.get(
        f"{servers.b}/api/images/shared/photo.jpg",
        params={"w": "32", "token": token},
        timeout=TIMEOUT,
    )
    assert rendered.status_code == 200, rendered.text
    [derived] = servers.names(".derived/")
    stored = servers.bucket.client.get_object(
        Bucket=servers.bucket.bucket, Key=servers.bucket.key(derived)
    )["Body"].read()
    assert stored == rendered.content
    # The other server finds it in the bucket: the same bytes, the same ETag, no new object.
    again = httpx.get(
        f"{servers.a}/api/images/shared/photo.jpg",
        params={"w": "32", "token": token},
        timeout=TIMEOUT,
    )
    assert (again.content, again.headers["etag"]) == (rendered.content, rendered.headers["etag"])
    assert servers.names(".derived/") == [derived]

    deleted = httpx.request(
        "DELETE",
        f"{servers.b}/api/media/files",
        json={**servers.auth(), "id": "shared/photo.jpg"},
        timeout=TIMEOUT,
    )
    assert deleted.status_code == 204, deleted.text
    gone = httpx.get(
        f"{servers.a}/api/media/files",
        params={"id": "shared/photo.jpg", "token": token},
        timeout=TIMEOUT,
    )
    assert gone.status_code == 404
    assert httpx.get(f"{servers.a}/media/shared/photo.jpg", timeout=TIMEOUT).status_code == 404
    assert blob not in servers.names(".blobs/")
    not_rendered = httpx.get(
        f"{servers.a}/api/images/shared/photo.jpg",
        params={"w": "32", "token": token},
        timeout=TIMEOUT,
    )
    assert not_rendered.status_code == 404
    # Nothing either server logged (requests, warnings) names a key.
    for proc in servers.procs:
        code, out, err = _stop(proc, signal.SIGTERM)
        assert code == 0, err
        for secret in (S3_CREDENTIALS["access_key_id"], S3_CREDENTIALS["secret_access_key"]):
            assert secret not in out + err
