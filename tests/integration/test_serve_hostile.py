"""Hostile conditions only a real ``flextype serve`` meets: a full disk, slow or vanishing
clients, oversized headers. Each test starts the server and talks to it over sockets."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import socket
import threading
import time
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


def _assert_disk_full_error(response: httpx.Response, site: Site, media: Path) -> None:
    """The upload was refused naming the full disk, and left nothing in ``media``."""
    assert response.status_code == 500, response.text
    body = response.json()
    assert body["errors"] == ["InternalError"]
    assert body["data"] is None
    assert "No space left on device" in body["message"]
    assert str(site.path) not in response.text
    assert _files_below(media) == [".lock"]


def test_an_upload_larger_than_the_free_space_names_the_full_disk_and_leaves_nothing(
    site: Site,
) -> None:
    with _on_a_small_disk(site, pages=16) as (proc, url, media):
        response = site.upload(url, "big.txt", b"a" * (40 * PAGE))
        _assert_disk_full_error(response, site, media)
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
        _assert_disk_full_error(response, site, media)
        assert "exact.txt" in response.json()["message"]
        code, _, err = _stop(proc, signal.SIGTERM)
    assert code == 0, err


# -- clients that vanish in the middle of a body -----------------------------------------


def _address(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("http://").rpartition(":")
    return host, int(port)


def _send_and_vanish(url: str, head: str, body_start: bytes) -> None:
    """Send a request's head and the start of its body, then close the connection."""
    with socket.create_connection(_address(url), timeout=TIMEOUT) as sock:
        sock.sendall(head.encode("latin-1") + body_start)


def _stderr_line(proc: Any, wanted: str) -> str:
    """Read the server's stderr until a line containing ``wanted``; return what was read."""
    seen = ""
    deadline = time.monotonic() + TIMEOUT
    while wanted not in seen:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([proc.stderr], [], [], max(left, 0))
        assert ready, f"no line with {wanted!r} on stderr in time; got:\n{seen}"
        line = proc.stderr.readline()
        assert line, f"stderr closed before a line with {wanted!r}; got:\n{seen}"
        seen += line
    return seen


def _assert_one_quiet_line(proc: Any, method_and_path: str) -> None:
    before = _stderr_line(proc, "disconnected")
    code, _, after = _stop(proc, signal.SIGTERM)
    assert code == 0, after
    logged = before + after
    assert "Traceback" not in logged, logged
    lines = [line for line in logged.splitlines() if "disconnected" in line]
    assert len(lines) == 1, logged
    assert method_and_path in lines[0]
    assert logged.count("\n") == 1, logged  # nothing else: no error, no stack


def test_a_client_gone_in_the_middle_of_a_json_body_is_one_quiet_log_line(site: Site) -> None:
    with _server(site.path) as (proc, url):
        head = (
            "POST /api/entries HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 100000\r\n\r\n"
        )
        _send_and_vanish(url, head, b'{"id": "a", "data": {"text": "' + b"x" * 1000)
        _assert_one_quiet_line(proc, "POST /api/entries")


def test_a_client_gone_in_the_middle_of_an_upload_is_one_quiet_line_and_leaves_no_file(
    site: Site,
) -> None:
    uploads = site.path / "media" / ".uploads"
    with _server(site.path) as (proc, url):
        boundary = "b0undary"
        start = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="token"\r\n\r\n'
            f'{site.token}\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="a.txt"\r\nContent-Type: text/plain\r\n\r\n'
        ).encode() + b"a" * 50_000
        head = (
            "POST /api/media/files HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            "Content-Length: 1000000\r\n\r\n"
        )
        _send_and_vanish(url, head, start)
        _assert_one_quiet_line(proc, "POST /api/media/files")
    assert not uploads.exists() or list(uploads.iterdir()) == []


# -- request heads and slow clients ------------------------------------------------------


def _with_server_settings(site: Site, **settings: object) -> None:
    lines = "".join(f"  {name}: {value}\n" for name, value in settings.items())
    with (site.path / "flextype.yaml").open("a", encoding="utf-8") as file:
        file.write(f"\nserver:\n{lines}")


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (TIMEOUT at most)."""
    received = b""
    deadline = time.monotonic() + TIMEOUT
    while True:
        ready, _, _ = select.select([sock], [], [], max(deadline - time.monotonic(), 0))
        assert ready, f"the server did not close the connection in time; got {received!r}"
        chunk = sock.recv(65536)
        if not chunk:
            return received
        received += chunk


def _error_answer(raw: bytes, status: int, code: str) -> dict[str, Any]:
    """Parse one HTTP answer: check the status and the error shape; return its body."""
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), raw[:300]
    headers = head.decode("latin-1").lower()
    assert "content-type: application/json" in headers
    assert "connection: close" in headers
    document: dict[str, Any] = json.loads(body)
    assert document["success"] is False
    assert document["errors"] == [code]
    assert document["data"] is None
    return document


def _one_answer(sock: socket.socket) -> bytes:
    """Read one answer with a Content-Length from a connection that stays open."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, received
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length: *(\d+)", head)
    assert length, head
    while len(body) < int(length[1]):
        chunk = sock.recv(65536)
        assert chunk, received
        body += chunk
    return head + b"\r\n\r\n" + body


def _get(path: str, *headers: str) -> bytes:
    lines = "".join(f"{header}\r\n" for header in headers)
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{lines}\r\n".encode("latin-1")


def _answer_to_huge(url: str, request: bytes) -> bytes:
    """Send ``request`` from another thread (the server stops reading it) and read."""
    with socket.create_connection(_address(url), timeout=TIMEOUT) as sock:

        def send() -> None:
            with contextlib.suppress(OSError):  # the server closes before the end
                sock.sendall(request)

        sender = threading.Thread(target=send)
        sender.start()
        try:
            return _read_until_closed(sock)
        finally:
            sock.close()
            sender.join(TIMEOUT)


def test_a_single_8_mb_header_is_431_in_the_error_shape(site: Site) -> None:
    with _server(site.path) as (proc, url):
        raw = _answer_to_huge(url, _get("/api/entries?id=x", "X-Big: " + "a" * 8_000_000))
        body = _error_answer(raw, 431, "RequestHeaderFieldsTooLarge")
        assert "65536 bytes" in body["message"]
        # The server goes on serving.
        assert httpx.get(f"{url}/api/entries", params={"id": "x"}).status_code == 401
        code, _, err = _stop(proc, signal.SIGTERM)
    assert code == 0, err
    assert "Traceback" not in err


def test_many_headers_past_the_limit_are_431_and_a_long_url_is_414(site: Site) -> None:
    _with_server_settings(site, max_header_size=10000)
    with _server(site.path) as (proc, url):
        many = [f"X-Header-{n}: {'v' * 20}" for n in range(1000)]
        _error_answer(
            _answer_to_huge(url, _get("/api/entries", *many)), 431, "RequestHeaderFieldsTooLarge"
        )
        long_url = "/api/entries?id=" + "a" * 20_000
        _error_answer(_answer_to_huge(url, _get(long_url)), 414, "URITooLong")
        within = [f"X-Header-{n}: {'v' * 20}" for n in range(200)]  # about 6 kB
        with socket.create_connection(_address(url), timeout=TIMEOUT) as sock:
            sock.sendall(_get("/api/entries?id=x", *within, "Connection: close"))
            assert _read_until_closed(sock).startswith(b"HTTP/1.1 401 ")
        _stop(proc, signal.SIGTERM)


def test_a_url_httptools_cannot_parse_is_414_whatever_the_head_limit(site: Site) -> None:
    _with_server_settings(site, max_header_size=1_000_000)
    with _server(site.path) as (proc, url):
        raw = _answer_to_huge(url, _get("/api/entries?id=" + "a" * 100_000))
        assert "65535 bytes" in _error_answer(raw, 414, "URITooLong")["message"]
        _stop(proc, signal.SIGTERM)


def test_a_client_trickling_header_lines_is_closed_after_the_header_timeout(site: Site) -> None:
    _with_server_settings(site, header_timeout=1)
    with _server(site.path) as (proc, url):
        with socket.create_connection(_address(url), timeout=TIMEOUT) as sock:
            started = time.monotonic()
            sock.sendall(b"GET /api/entries HTTP/1.1\r\nHost: x\r\n")
            deadline = started + TIMEOUT
            line = 0
            # A header line every 0.2 s, until the server answers and closes.
            while not select.select([sock], [], [], 0.2)[0]:
                assert time.monotonic() < deadline, "the trickling client was never closed"
                line += 1
                sock.sendall(f"X-Slow-{line}: v\r\n".encode())
            raw = _read_until_closed(sock)
            elapsed = time.monotonic() - started
        _error_answer(raw, 408, "RequestTimeout")
        assert elapsed >= 1
        _stop(proc, signal.SIGTERM)


def test_a_client_that_stalls_its_body_is_closed_after_the_body_timeout(site: Site) -> None:
    _with_server_settings(site, body_timeout=1)
    with _server(site.path) as (proc, url):
        with socket.create_connection(_address(url), timeout=TIMEOUT) as sock:
            sock.sendall(
                b"POST /api/entries HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 1000\r\n\r\n{"id": "a", '
            )
            started = time.monotonic()
            raw = _read_until_closed(sock)
            elapsed = time.monotonic() - started
        _error_answer(raw, 408, "RequestTimeout")
        assert elapsed >= 1
        code, _, err = _stop(proc, signal.SIGTERM)
    assert code == 0, err
    assert "Traceback" not in err


def test_a_keep_alive_client_idle_between_requests_is_not_cut_by_the_header_timeout(
    site: Site,
) -> None:
    # uvicorn closes a connection idle for 5 s (its keep-alive timeout): wait less.
    _with_server_settings(site, header_timeout=1, body_timeout=1)
    with _server(site.path) as (proc, url):
        with socket.create_connection(_address(url), timeout=TIMEOUT) as sock:
            for _ in range(2):
                sock.sendall(_get(f"/api/entries?options%5Bcollection%5D=1&token={site.token}"))
                assert _one_answer(sock).startswith(b"HTTP/1.1 200 ")
                # Idle past the header timeout: the connection stays open meanwhile.
                assert not select.select([sock], [], [], 2.5)[0], sock.recv(65536)
        _stop(proc, signal.SIGTERM)


def test_the_limits_hold_with_several_workers(site: Site) -> None:
    _with_server_settings(site, max_header_size=4096, header_timeout=1)
    with _server(site.path, "--workers", "2") as (proc, url):
        raw = _answer_to_huge(url, _get("/api/entries", "X-Big: " + "a" * 100_000))
        _error_answer(raw, 431, "RequestHeaderFieldsTooLarge")
        with socket.create_connection(_address(url), timeout=TIMEOUT) as sock:
            sock.sendall(b"GET /api/entries HTTP/1.1\r\n")
            _error_answer(_read_until_closed(sock), 408, "RequestTimeout")
        _stop(proc, signal.SIGTERM)


def test_a_big_upload_in_many_chunks_is_received_whole(site: Site) -> None:
    content = os.urandom(3_000_000).hex().encode()[:3_000_000]
    with _server(site.path) as (proc, url):
        response = site.upload(url, "big.txt", content)
        assert response.status_code == 200, response.text
        assert httpx.get(f"{url}/media/up/big.txt", timeout=TIMEOUT).content == content
        _stop(proc, signal.SIGTERM)
