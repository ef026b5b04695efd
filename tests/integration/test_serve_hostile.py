"""Hostile conditions only a real ``flextype serve`` meets: a full disk, slow or vanishing
clients, oversized headers. Each test starts the server and talks to it over sockets."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from flextype_entrypoints.scaffold import create_project
from tests.integration.test_serve import TIMEOUT, _server, _stop

__all__: list[str] = []

PAGE = 4096
"""tmpfs counts its size in pages of this many bytes."""


class Site:
    """A project and its credentials."""

    def __init__(self, path: Path) -> None:
        issued = create_project(path, demo=False)
        self.path = path
        self.token = issued.token.token
        self.access_token = issued.access_token

    def upload(self, url: str, name: str, content: bytes) -> httpx.Response:
        form = {"token": self.token, "access_token": self.access_token, "folder": "up"}
        files = {"file": (name, content, "text/plain")}
        return httpx.post(f"{url}/api/media/files", data=form, files=files, timeout=TIMEOUT)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path / "site")


@contextmanager
def _on_a_small_disk(site: Site, pages: int) -> Iterator[tuple[Any, str, Path]]:
    """Serve ``site`` with ``media/`` on a tmpfs of ``pages`` pages: a disk that fills up.

    The tmpfs is mounted in a mount namespace of the server's own (``unshare``, as an
    unprivileged user too), so the test looks at it through ``/proc/<pid>/root``; it
    vanishes with the server. Yields the process, its URL and that view of ``media/``.
    """
    media = site.path / "media"
    media.mkdir(exist_ok=True)
    mount = 'mount -t tmpfs -o "size=$1" tmpfs "$2" && shift 2 && exec "$@"'
    prefix = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", mount, "sh"]
    prefix += [str(pages * PAGE), str(media)]
    with _server(site.path, prefix=prefix) as (proc, url):
        seen = Path(f"/proc/{proc.pid}/root{media}")
        assert os.statvfs(seen).f_blocks == pages  # the server's media/ is the small disk
        yield proc, url, seen


def _files_below(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _assert_disk_full_error(response: httpx.Response, site: Site) -> None:
    assert response.status_code == 500, response.text
    body = response.json()
    assert body["errors"] == ["InternalError"]
    assert body["data"] is None
    assert "No space left on device" in body["message"]
    assert str(site.path) not in response.text


def test_an_upload_larger_than_the_free_space_names_the_full_disk_and_leaves_nothing(
    site: Site,
) -> None:
    with _on_a_small_disk(site, pages=16) as (proc, url, media):
        response = site.upload(url, "big.txt", b"a" * (40 * PAGE))
        _assert_disk_full_error(response, site)
        assert _files_below(media) == [".lock"]
        # The space is free again: a file that fits is stored.
        assert site.upload(url, "small.txt", b"a" * (4 * PAGE)).status_code == 200
        assert _files_below(media) == [".lock", "up/.small.txt.meta.yaml", "up/small.txt"]
        code, _, err = _stop(proc, signal.SIGTERM)
    assert code == 0, err


def test_an_upload_that_fills_the_disk_before_its_metadata_names_it_and_leaves_nothing(
    site: Site,
) -> None:
    with _on_a_small_disk(site, pages=16) as (proc, url, media):
        # The content takes every page; its metadata file then finds none.
        response = site.upload(url, "exact.txt", b"a" * (16 * PAGE))
        _assert_disk_full_error(response, site)
        assert "exact.txt" in response.json()["message"]
        assert _files_below(media) == [".lock"]
        code, _, err = _stop(proc, signal.SIGTERM)
    assert code == 0, err
