"""A slow bucket never holds the event loop: other requests are answered meanwhile.

The project keeps its media in a bucket of moto's server reached through a proxy
(``tests/s3_proxy.py``) that holds chosen requests, as a slow or distant bucket would.
Requests go straight to the ASGI app (``tests/asgi_calls.py``) on the test client's
event loop, so the test sees how much of an upload the server has read. Were the loop
held by the upload, the test's own coroutine could not run either: the proxy lets the
request go after ``max_hold`` seconds and says so (``timed_out``), and the test fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from anyio import to_thread
from litestar import Litestar
from litestar.testing import TestClient

from flextype_entrypoints.container import build_container
from flextype_entrypoints.http.app import create_app
from tests.asgi_calls import multipart, streamed
from tests.http_client import Project, ProjectFactory
from tests.media_drivers import StoredMedia, use_bucket
from tests.s3_proxy import GatedProxy, upload_part
from tests.s3_server import bucket_settings

MB = 1024 * 1024
PART = 5 * MB
CHUNK = 256 * 1024
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
HEADERS = {"content-type": "multipart/form-data; boundary=b0undary"}


def _abort(chunk: bytes) -> bool:
    """Whether ``chunk`` begins an AbortMultipartUpload (a DELETE with an upload id)."""
    return chunk.startswith(b"DELETE ") and b"uploadId=" in chunk.split(b"\r\n", 1)[0]


class Site:
    def __init__(self, project: Project, proxy: GatedProxy, stored: StoredMedia) -> None:
        self.project = project
        self.proxy = proxy
        self.stored = stored


def _site(tmp_path: Path, endpoint: str, holds: Callable[[bytes], bool]) -> Iterator[Site]:
    project = ProjectFactory(tmp_path / "templates")(tmp_path / "project", "yaml", demo=False)
    s3 = bucket_settings(endpoint)
    with GatedProxy(endpoint, holds=holds) as proxy:
        use_bucket(project.path, {**s3, "endpoint_url": proxy.endpoint}, part_size=PART)
        yield Site(project, proxy, StoredMedia(project.path, "s3", s3))


@pytest.fixture
def slow_parts(tmp_path: Path, s3_endpoint: str) -> Iterator[Site]:
    """A project whose bucket holds every UploadPart until released."""
    yield from _site(tmp_path, s3_endpoint, upload_part)


@pytest.fixture
def slow_aborts(tmp_path: Path, s3_endpoint: str) -> Iterator[Site]:
    """A project whose bucket holds every AbortMultipartUpload until released."""
    yield from _site(tmp_path, s3_endpoint, _abort)


def _app(site: Site, max_file_size: int = 64 * MB) -> TestClient[Litestar]:
    container = build_container(
        site.project.path,
        {
            "FLEXTYPE_MEDIA__MAX_FILE_SIZE": str(max_file_size),
            "FLEXTYPE_API__MAX_BODY_SIZE": str(64 * MB),
        },
    )
    return TestClient(create_app(container))


def _file(size: int) -> list[bytes]:
    chunks = [PNG + b"\x00" * (CHUNK - len(PNG))] + [b"\x00" * CHUNK] * (size // CHUNK - 1)
    assert sum(map(len, chunks)) == size
    return chunks


async def _health(app: Litestar) -> int:
    with anyio.fail_after(30):
        status, _, _ = await streamed(app, "GET", "/health", {}, iter(()))
    return status


def test_other_requests_are_answered_while_an_upload_waits_for_a_part_to_be_sent(
    slow_parts: Site,
) -> None:
    site = slow_parts
    file = _file(2 * PART + CHUNK)
    size = sum(map(len, file))
    read = {"bytes": 0}

    async def scenario(app: Litestar) -> tuple[Any, int, bool]:
        second_part_read = anyio.Event()

        def body() -> Iterator[bytes]:
            parts = multipart(site.project.token, site.project.access_token, "b.png", file)
            yield next(parts)  # the form up to the file's bytes
            for chunk in parts:
                read["bytes"] += len(chunk)
                if read["bytes"] >= 2 * PART:
                    # The server is handed the end of the second part: writing it waits
                    # for the first, which the bucket holds.
                    second_part_read.set()
                yield chunk

        async with anyio.create_task_group() as group:
            upload: dict[str, Any] = {}

            async def send() -> None:
                upload["answer"] = await streamed(app, "POST", "/api/media/files", HEADERS, body())

            group.start_soon(send)
            await second_part_read.wait()
            # The first part may still be on its way to the bucket: it is held there.
            await to_thread.run_sync(site.proxy.held.wait, 30)
            status = await _health(app)
            held = not site.proxy.timed_out
            site.proxy.release()
        return upload["answer"], status, held

    with _app(site) as client:
        (status, answer, _), health, held = client.blocking_portal.call(scenario, client.app)
    assert health == 200
    assert held, "the health check waited for the bucket"
    assert status == 200, answer
    assert msgspec.json.decode(answer)["data"]["filesize"] == size == 2 * PART + CHUNK
    assert len(site.stored.content("b.png") or b"") == size


@pytest.mark.parametrize("refused", ["too big", "wrong type"])
def test_other_requests_are_answered_while_a_refused_upload_is_aborted(
    slow_aborts: Site, refused: str
) -> None:
    """The abort comes after a part was sent: while parsing (413), after it (415)."""
    site = slow_aborts
    before = site.stored.snapshot()
    file = _file(PART + 4 * CHUNK)
    name, limit = ("big.png", PART + CHUNK) if refused == "too big" else ("big.exe", 64 * MB)

    async def scenario(app: Litestar) -> tuple[Any, int, bool]:
        parts = multipart(site.project.token, site.project.access_token, name, file)
        async with anyio.create_task_group() as group:
            upload: dict[str, Any] = {}

            async def send() -> None:
                upload["answer"] = await streamed(app, "POST", "/api/media/files", HEADERS, parts)

            group.start_soon(send)
            # Returns once the abort is held: at once if the loop is free.
            await to_thread.run_sync(site.proxy.held.wait, 30)
            status = await _health(app)
            held = not site.proxy.timed_out
            site.proxy.release()
        return upload["answer"], status, held

    with _app(site, max_file_size=limit) as client:
        (status, answer, _), health, held = client.blocking_portal.call(scenario, client.app)
    assert health == 200
    assert held, "the health check waited for the bucket"
    assert status == (413 if refused == "too big" else 415), answer
    assert site.stored.snapshot() == before  # no object, no multipart upload left
