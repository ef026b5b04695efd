"""``flextype --version`` and the log lines of a real ``flextype serve``: access log, JSON."""

from __future__ import annotations

import base64
import importlib.metadata
import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from flextype_entrypoints.scaffold import create_project
from tests.http_client import Project, new_project
from tests.programs import FLEXTYPE, clean_env

TIMEOUT = 30.0
URL = re.compile(r"Serving on (http://127\.0\.0\.1:\d+)")


class Lines:
    """The lines a stream of a process writes, read as they come by a thread."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def next(self) -> str:
        """The next line; fails after ``TIMEOUT`` seconds or at the end of the stream."""
        try:
            line = self._queue.get(timeout=TIMEOUT)
        except queue.Empty:
            pytest.fail(f"no line in {TIMEOUT}s; seen so far: {self.seen}")
        assert line is not None, f"the stream ended; seen: {self.seen}"
        self.seen.append(line)
        return line

    def until(self, wanted: Callable[[str], bool], count: int = 1) -> list[str]:
        """Read lines until ``count`` of them are ``wanted``; return those."""
        found: list[str] = []
        while len(found) < count:
            line = self.next()
            if wanted(line):
                found.append(line)
        return found

    def rest(self) -> list[str]:
        """Every line left, once the process has closed the stream."""
        self._thread.join(TIMEOUT)
        while (line := self._queue.get_nowait()) is not None:
            self.seen.append(line)
        return self.seen


class Server:
    """A running ``flextype serve`` with its URL and its two output streams."""

    def __init__(self, proc: subprocess.Popen[str], url: str, out: Lines, err: Lines) -> None:
        self.proc, self.url, self.out, self.err = proc, url, out, err

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(TIMEOUT) == 0, self.err.rest()
        self.out.rest()
        self.err.rest()


@contextmanager
def running(project: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    argv = [FLEXTYPE, "serve", "--project", str(project), "--port", "0", *extra]
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**clean_env(), **(env or {})},
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            out, err = Lines(proc.stdout), Lines(proc.stderr)
            found = URL.search(out.next())
            assert found, out.seen
            yield Server(proc, found[1], out, err)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(TIMEOUT)


def basic(token: str, access_token: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{token}:{access_token}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def _requests(client: httpx.Client, site: Project) -> None:
    """Requests carrying credentials every way the API reads them."""
    t, a = site.token, site.access_token
    assert client.get(f"/api/entries?id=movies&token={t}").status_code == 200
    assert client.get(f"/api/v1/entries?id=nope&%74oken={t}&access_token={a}").status_code == 404
    assert client.get("/api/entries?id=movies", headers={"Authorization": f"Bearer {t}"}).is_success
    body = {"id": "logged", "data": {"title": "x"}}
    assert client.post("/api/entries", json=body, headers=basic(t, a)).status_code == 200
    assert client.get(f"/api/tokens?id={t}&token={t}").status_code == 200


ACCESS_TEXT = re.compile(r"127\.0\.0\.1 (GET|POST) (\S+) (\d{3}) (\d+\.\d)ms")


def test_version_prints_the_distribution_and_its_version() -> None:
    done = subprocess.run(
        [FLEXTYPE, "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"flextype-py {importlib.metadata.version('flextype-py')}\n"


def test_the_access_log_prints_a_line_per_request_with_credentials_masked(tmp_path: Path) -> None:
    site = new_project(tmp_path / "site", "yaml")
    with running(site.path, "--access-log") as server:
        assert server.out.next() == f"API docs: {server.url}/docs"
        with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
            _requests(client, site)
        lines = server.out.until(lambda line: True, count=5)
        server.stop()
    matched = [ACCESS_TEXT.fullmatch(line) for line in lines]
    assert all(matched), lines
    assert sorted((m[1], m[2], m[3]) for m in matched if m) == sorted(
        [
            ("GET", "/api/entries?id=movies&token=***", "200"),
            ("GET", "/api/v1/entries?id=nope&%74oken=***&access_token=***", "404"),
            ("GET", "/api/entries?id=movies", "200"),
            ("POST", "/api/entries", "200"),
            ("GET", "/api/tokens?id=***&token=***", "200"),
        ]
    )
    everything = "\n".join(server.out.seen + server.err.seen)
    assert site.token not in everything and site.access_token not in everything
    assert base64.b64encode(f"{site.token}:{site.access_token}".encode()).decode() not in everything


def test_without_the_access_log_nothing_is_printed_per_request(tmp_path: Path) -> None:
    site = new_project(tmp_path / "site", "yaml")
    with running(site.path) as server:
        answer = httpx.get(f"{server.url}/api/entries?id=movies&token={site.token}")
        assert answer.status_code == 200
        server.stop()
    assert server.out.seen[1:] == [f"API docs: {server.url}/docs"]
    assert server.err.seen == []


def _json(line: str) -> dict[str, Any]:
    record = json.loads(line)
    assert isinstance(record, dict), line
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"]), record
    return record


def test_json_logs_are_one_object_per_line_on_both_streams(tmp_path: Path) -> None:
    site = new_project(tmp_path / "site", "yaml")
    leftover = site.path / "entries" / "movies" / "dune" / ".entry.yaml.abcd1234.tmp"
    leftover.write_text("half written")
    with running(site.path, "--access-log", "--log-format", "json") as server:
        first = _json(server.out.seen[0])
        assert (first["level"], first["message"]) == ("info", f"Serving on {server.url}")
        assert (first["url"], first["docs"]) == (server.url, f"{server.url}/docs")
        with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
            _requests(client, site)
        lines = server.out.until(lambda line: True, count=5)
        with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1]))) as bad:
            bad.sendall(b"NOT HTTP AT ALL\r\n\r\n")  # uvicorn itself logs a warning
            server.err.until(lambda line: '"uvicorn.error"' in line)
        server.stop()
    records = [_json(line) for line in lines]
    assert {r["logger"] for r in records} == {"flextype.access"}
    assert sorted((r["method"], r["path"], r["query"], r["status"]) for r in records) == sorted(
        [
            ("GET", "/api/entries", "id=movies&token=***", 200),
            ("GET", "/api/v1/entries", "id=nope&%74oken=***&access_token=***", 404),
            ("GET", "/api/entries", "id=movies", 200),
            ("POST", "/api/entries", "", 200),
            ("GET", "/api/tokens", "id=***&token=***", 200),
        ]
    )
    assert all(r["client"] == "127.0.0.1" and r["duration_ms"] >= 0 for r in records)
    errors = [_json(line) for line in server.err.seen]
    assert [(r["logger"], r["level"], r["message"]) for r in errors] == [
        ("flextype.serve", "info", "Removed 1 leftovers of interrupted writes."),
        ("uvicorn.error", "warning", "Invalid HTTP request received."),
    ]


def test_serve_refusing_to_start_says_why_in_one_json_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [FLEXTYPE, "serve", "--project", str(tmp_path), "--log-format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (1, "")
    record = _json(done.stderr)
    assert record["level"] == "error"
    assert record["message"].startswith(f"no flextype project at {tmp_path} ")


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_every_worker_logs_its_requests(tmp_path: Path, log_format: str) -> None:
    token = create_project(tmp_path / "site").token.token
    args = ("--workers", "2", "--access-log", "--log-format", log_format)
    with running(tmp_path / "site", *args) as server:
        with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
            for n in range(20):
                params = {"id": "movies", "token": token, "n": str(n)}
                assert client.get("/api/entries", params=params).status_code == 200
        lines = server.out.until(lambda line: "/api/entries" in line, count=20)
        server.stop()
    if log_format == "json":
        queries = [_json(line)["query"] for line in lines]
    else:
        queries = [line.split()[2].split("?", 1)[1] for line in lines]
    assert sorted(queries) == sorted(f"id=movies&token=***&n={n}" for n in range(20))
    assert token not in "\n".join(server.out.seen + server.err.seen)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_serve_warns_when_the_content_is_in_the_other_driver(
    tmp_path: Path, log_format: str
) -> None:
    create_project(tmp_path / "site", driver="yaml")
    env = {"FLEXTYPE_STORAGE__DRIVER": "tinydb"}
    with running(tmp_path / "site", "--log-format", log_format, env=env) as server:
        line = server.err.next()
        server.stop()
    message = (
        "storage.driver is tinydb, but the entries and tokens are stored by the yaml driver"
        " (entries/, tokens/), so none of them is served. Move them with:"
        " flextype migrate --to tinydb (or set storage.driver back to yaml)"
    )
    if log_format == "json":
        record = _json(line)
        assert (record["level"], record["message"]) == ("warning", message)
    else:
        assert line == f"WARNING:  {message}"


def test_another_librarys_warning_is_a_line_in_the_servers_format_and_its_info_none() -> None:
    # As serve sets logging up: a library's info lines (httpx logs each request it makes,
    # URL and all) stay out; its warnings come out as the server's own lines do.
    program = (
        "import logging\n"
        "from flextype_entrypoints.logs import configure_logging\n"
        "configure_logging('json')\n"
        "logging.getLogger('httpx').info('HTTP Request: POST http://h/hook?key=k')\n"
        "logging.getLogger('some.library').warning('the pool is full')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    record = _json(done.stderr)
    assert (record["logger"], record["level"], record["message"]) == (
        "some.library",
        "warning",
        "the pool is full",
    )
