"""``/media/<path>`` streaming when things go wrong after the headers were sent.

A bucket lost mid-file (a proxy in front of moto cuts the answer, ``tests/s3_proxy.py``)
ends the answer short with one warning line that names no address; a client gone
mid-download leaves no file or bucket stream open. Requests go straight to the ASGI app
(``tests/asgi_calls.py``), which lets a client hang up at a chosen byte.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest
from litestar.testing import TestClient

from flextype_entrypoints.container import build_container
from flextype_entrypoints.http.app import create_app
from tests.asgi_calls import streamed
from tests.http_client import Project, ProjectFactory
from tests.media_drivers import use_bucket
from tests.s3_proxy import GatedProxy
from tests.s3_server import S3_CREDENTIALS, bucket_settings

MB = 1024 * 1024
SIZE = 3 * MB
CONTENT = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * (SIZE // 256 - 1) + b"\x00" * 248


def _blob_get(line: bytes) -> bool:
    return line.startswith(b"GET ") and b"/.blobs/" in line.split(b"\r\n", 1)[0]


def _until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Wait until ``condition()`` holds (polled: another thread's progress)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.01)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return ProjectFactory(tmp_path / "templates")(tmp_path / "project", "yaml", demo=False)


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[GatedProxy]:
    with GatedProxy(s3_endpoint, cuts=_blob_get, cut_after=MB) as gated:
        yield gated


def _client(project: Project) -> TestClient:  # type: ignore[type-arg]
    return TestClient(create_app(build_container(project.path, {})))


def _upload(client: TestClient, project: Project) -> None:  # type: ignore[type-arg]
    answer = client.post(
        "/api/media/files",
        data={"token": project.token, "access_token": project.access_token, "folder": "f"},
        files={"file": ("big.png", CONTENT, "image/png")},
    )
    assert answer.status_code == 200, answer.text


def test_a_bucket_lost_mid_file_ends_the_answer_short_with_one_line_naming_no_address(
    project: Project, proxy: GatedProxy, caplog: pytest.LogCaptureFixture
) -> None:
    use_bucket(project.path, {**bucket_settings(proxy.endpoint), "endpoint_url": proxy.endpoint})
    with _client(project) as client:
        _upload(client, project)
        caplog.clear()
        # Once a server ran in this process, the app's loggers no longer propagate
        # (logs.py): caplog listens to those directly (the others reach its root handler).
        names = ("flextype", "litestar", "uvicorn")
        loggers = [
            logging.getLogger(name) for name in names if not logging.getLogger(name).propagate
        ]
        for logger in loggers:
            logger.addHandler(caplog.handler)
        try:
            status, first, length = client.blocking_portal.call(
                streamed, client.app, "GET", "/media/f/big.png", {}, iter(())
            )
        finally:
            for logger in loggers:
                logger.removeHandler(caplog.handler)
    assert proxy.cut.is_set()
    assert status == 200
    assert first == CONTENT[: len(first)]
    assert 0 < length < SIZE  # short of its Content-Length: the client knows
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in problems] == [
        "The media file f/big.png was not sent whole: "
        "A media file cannot be read: the object store cannot be reached."
    ]
    logged = caplog.text + "".join(str(r.exc_info) for r in caplog.records)
    port = proxy.endpoint.rsplit(":", 1)[1]
    for secret in (port, "127.0.0.1", S3_CREDENTIALS["secret_access_key"]):
        assert secret not in logged


@pytest.mark.parametrize("driver", ["local", "s3"])
def test_a_client_gone_mid_download_leaves_no_stream_open(
    project: Project, s3_endpoint: str, driver: str
) -> None:
    if driver == "s3":
        # A proxy that only counts: which connections are open, and what they carried.
        with GatedProxy(s3_endpoint) as plain:
            use_bucket(project.path, bucket_settings(plain.endpoint))
            _hang_up(project, plain)
    else:
        _hang_up(project, None)


def _hang_up(project: Project, plain: GatedProxy | None) -> None:
    media = (project.path / "media").resolve()

    def open_files() -> list[str]:
        found = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:  # closed meanwhile
                continue
            if target.startswith(str(media)) and not target.endswith(".lock"):
                found.append(target)
        return found

    with _client(project) as client:
        _upload(client, project)
        get = partial(streamed, hang_up_after=256 * 1024)
        status, _, length = client.blocking_portal.call(
            get, client.app, "GET", "/media/f/big.png", {}, iter(())
        )
        assert status == 200
        assert length < SIZE
        if plain is None:
            assert open_files() == []
        else:
            _until(lambda: plain.carrying(_blob_get) == 0, "the bucket's stream is closed")
