"""The change feed on a real socket: long-poll latency, many waiting requests, server-sent
events, and what a stop signal does to the requests that wait.

The server is uvicorn over the app (in a thread, or a process for signals), its change
log a ``FakeChangeLog`` that a test appends to as a write of another thread would.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from flextype_entrypoints.http.app import create_app
from flextype_entrypoints.http.feed import FeedHub
from tests.feed_support import change, container_with_log, eventually, live
from tests.http_client import Project
from tests.programs import clean_env
from tests.unit.feed_fakes import FakeChangeLog

ROOT = Path(__file__).resolve().parents[2]
EVENTS = {"Accept": "text/event-stream"}
LATENCY_BOUND = 0.1
"""The contract: a long poll answers within 100 ms of the change it waited for."""


class Served(msgspec.Struct, kw_only=True):
    url: str
    log: FakeChangeLog
    hub: FeedHub
    token: str

    def params(self, **more: str) -> dict[str, str]:
        return {"token": self.token, **more}


@pytest.fixture
def served(yaml_project: Project) -> Iterator[Served]:
    log = FakeChangeLog()
    app = create_app(container_with_log(yaml_project, log), feed_keepalive=0.2)
    with live(app) as url:
        yield Served(url=url, log=log, hub=app.state.feed, token=yaml_project.token)


@pytest.fixture
def busy_core() -> Iterator[None]:
    """Another process keeps one core busy, as a neighbour on a loaded machine would."""
    with subprocess.Popen([sys.executable, "-c", "while 1: pass"]) as spinner:
        try:
            yield
        finally:
            spinner.kill()


def _poll(served: Served, since: str) -> tuple[list[dict[str, Any]], float]:
    """A long poll from ``since``; its changes and when its answer arrived."""
    params = served.params(since=since, wait="30")
    answer = httpx.get(f"{served.url}/api/changes", params=params, timeout=60)
    arrived = time.perf_counter()
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data, arrived


def test_a_long_poll_answers_within_100_ms_of_an_append_from_another_thread(
    served: Served, busy_core: None
) -> None:
    latencies = []
    with ThreadPoolExecutor(1) as pool:
        for round_ in range(20):
            since = f"{served.log.epoch()}-{round_}"
            answered = pool.submit(_poll, served, since)
            assert eventually(lambda: served.hub.watcher.waiting == 1)
            appended = time.perf_counter()
            served.log.append([change(f"movies/m{round_}")])
            data, arrived = answered.result(timeout=60)
            assert [c["id"] for c in data] == [f"movies/m{round_}"]
            latencies.append(arrived - appended)
    latencies.sort()
    shown = ", ".join(f"{x * 1000:.1f}" for x in latencies)
    assert latencies[-1] < LATENCY_BOUND, f"latencies in ms: {shown}"


def test_a_hundred_waiting_long_polls_hold_no_thread_and_all_wake_on_one_append(
    served: Served,
) -> None:
    async def scenario() -> tuple[list[httpx.Response], httpx.Response, float]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=served.url, timeout=60, limits=limits) as client:
            since = f"{served.log.epoch()}-0"
            polls = [
                asyncio.ensure_future(
                    client.get("/api/changes", params=served.params(since=since, wait="30"))
                )
                for _ in range(100)
            ]
            while served.hub.watcher.waiting < 100:
                await asyncio.sleep(0.005)
            # /health runs in a worker thread (40 at most): none is held by a waiting poll.
            health = await client.get("/health")
            appended = time.perf_counter()
            served.log.append([change("movies/dune")])
            answers = await asyncio.gather(*polls)
            return answers, health, time.perf_counter() - appended

    answers, health, elapsed = asyncio.run(scenario())
    assert health.status_code == 200
    assert [a.json()["data"][0]["id"] for a in answers] == ["movies/dune"] * 100
    assert elapsed < 2.0


def _events(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    """Server-sent events as field -> value (a comment line as ``{"comment": text}``)."""
    fields: dict[str, str] = {}
    for line in lines:
        if line.startswith(":"):
            yield {"comment": line[1:].strip()}
        elif line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        elif fields:
            yield fields
            fields = {}


def _next_event(events: Iterator[dict[str, str]]) -> dict[str, str]:
    return next(event for event in events if "comment" not in event)


def test_server_sent_events_carry_each_change_and_resume_after_last_event_id(
    served: Served,
) -> None:
    log = served.log
    log.append([change("movies/before")])
    epoch = log.epoch()
    with httpx.Client(base_url=served.url, timeout=30) as client:
        params = served.params(since=f"{epoch}-1")
        with client.stream("GET", "/api/changes", params=params, headers=EVENTS) as answer:
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/event-stream")
            assert answer.headers["cache-control"] == "no-cache"
            events = _events(answer.iter_lines())
            log.append([change("movies/a", "create"), change("movies/a", "delete")])
            first, second = _next_event(events), _next_event(events)
        assert first["id"] == f"{epoch}-2"
        assert msgspec.json.decode(first["data"]) == {
            "cursor": f"{epoch}-2",
            "op": "create",
            "type": "entry",
            "id": "movies/a",
            "etag": '"create-movies/a"',
            "at": msgspec.json.decode(first["data"])["at"],
        }
        assert second["id"] == f"{epoch}-3"
        assert msgspec.json.decode(second["data"])["op"] == "delete"
        # Last-Event-ID wins over since (here the head, which would skip both).
        resume = {**EVENTS, "Last-Event-ID": first["id"]}
        params = served.params(since=f"{epoch}-3")
        with client.stream("GET", "/api/changes", params=params, headers=resume) as answer:
            assert _next_event(_events(answer.iter_lines()))["id"] == f"{epoch}-3"


def test_an_idle_event_stream_gets_comment_lines_and_filters_apply(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        params = served.params(since="now", id="movies", types="entry")
        with client.stream("GET", "/api/changes", params=params, headers=EVENTS) as answer:
            events = _events(answer.iter_lines())
            assert next(events) == {"comment": "keep-alive"}  # after feed_keepalive (0.2 s)
            served.log.append([change("posters/a.png", "create", "media"), change("blog/x")])
            served.log.append([change("movies/dune")])
            event = _next_event(events)
    assert msgspec.json.decode(event["data"])["id"] == "movies/dune"


class FlowingLog(FakeChangeLog):
    """A log that, once ``flowing``, gains a change of ``blog/`` at each read of its head.

    The head watcher reads it every ``POLL_SECONDS`` while a stream waits: a steady flow
    of writes that wakes the stream at each poll, with no clock in the test.
    """

    flowing = False

    def head(self) -> int:
        if self.flowing:
            self.append([change(f"blog/b{super().head()}")])
        return super().head()


def test_a_stream_whose_filters_leave_out_a_steady_flow_of_changes_still_gets_keep_alives(
    yaml_project: Project,
) -> None:
    log = FlowingLog()
    app = create_app(container_with_log(yaml_project, log), feed_keepalive=0.2)
    params = {"token": yaml_project.token, "since": "now", "types": "media"}
    # A keep-alive is due 0.2 s into the flow; without one the read times out and fails.
    timeout = httpx.Timeout(30, read=10)
    with (
        live(app) as url,
        httpx.Client(base_url=url, timeout=timeout) as client,
        client.stream("GET", "/api/changes", params=params, headers=EVENTS) as answer,
    ):
        events = _events(answer.iter_lines())
        assert next(events) == {"comment": "keep-alive"}
        log.flowing = True
        started = log.head()
        assert next(events) == {"comment": "keep-alive"}
        assert next(events) == {"comment": "keep-alive"}
        log.flowing = False
    # Changes kept coming while the stream was silent: each woke it, none was sent.
    assert log.head() - started > 2


def test_a_client_that_goes_away_ends_its_event_stream(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        params = served.params(since="now")
        with client.stream("GET", "/api/changes", params=params, headers=EVENTS) as answer:
            events = _events(answer.iter_lines())  # kept: its end would close the stream
            assert next(events) == {"comment": "keep-alive"}
            assert eventually(lambda: served.hub.watcher.waiting == 1)  # waits again
    assert eventually(lambda: served.hub.watcher.waiting == 0)


def test_an_event_stream_from_a_bad_or_gone_cursor_is_refused_before_it_begins(
    served: Served,
) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        gone = {**EVENTS, "Last-Event-ID": f"{FakeChangeLog().epoch()}-4"}
        answer = client.get("/api/changes", params=served.params(), headers=gone)
        assert answer.status_code == 410
        assert answer.json()["errors"] == ["ResyncRequired"]
        bad = client.get("/api/changes", params=served.params(since="x"), headers=EVENTS)
        assert bad.status_code == 400
        assert bad.headers["content-type"].startswith("application/json")


# -- a stop signal -------------------------------------------------------------------------------


def _ask(proc: subprocess.Popen[str], command: str) -> str:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(command + "\n")
    proc.stdin.flush()
    return proc.stdout.readline().strip()


def _read_stream(url: str, token: str) -> list[str]:
    """Every line of an event stream, until the server ends it (an error if it breaks)."""
    params = {"token": token, "since": "now"}
    with (
        httpx.Client(timeout=30) as client,
        client.stream("GET", f"{url}/api/changes", params=params, headers=EVENTS) as answer,
    ):
        return list(answer.iter_lines())


@contextmanager
def _feed_server(project: Project) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``tests.feed_server_program`` over ``project``: the process and its URL."""
    argv = [sys.executable, "-m", "tests.feed_server_program", str(project.path)]
    with subprocess.Popen(
        argv,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    ) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:"), url
            yield proc, url
        finally:
            if proc.poll() is None:
                proc.kill()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_stop_signal_ends_event_streams_and_long_polls_at_once_and_cleanly(
    yaml_project: Project, sig: signal.Signals
) -> None:
    with _feed_server(yaml_project) as (proc, url):
        with ThreadPoolExecutor(2) as pool:
            since = f"{url}/api/changes"
            poll = pool.submit(
                httpx.get,
                since,
                params={"token": yaml_project.token, "since": "now", "wait": "60"},
                timeout=60,
            )
            stream = pool.submit(_read_stream, url, yaml_project.token)
            assert eventually(lambda: _ask(proc, "waiting") == "2")
            stopped = time.monotonic()
            proc.send_signal(sig)
            answer = poll.result(timeout=60)
            lines = stream.result(timeout=60)  # raises if the stream was cut, not ended
            took = time.monotonic() - stopped
        _, err = proc.communicate(timeout=60)
    assert answer.status_code == 200
    assert answer.json()["data"] == []
    assert set(lines) <= {": keep-alive", ""}
    # uvicorn would wait 10 s for them (GRACEFUL_SHUTDOWN_SECONDS), then cut them.
    assert took < 5, took
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "Cancel" not in err, err


BACKLOG = 200_000
"""Changes a stream catches up on: pages of 100, each a scan of the fake's whole list,
take minutes to send; a stop signal must not wait for them."""


def test_a_stop_signal_ends_an_event_stream_catching_up_on_a_large_backlog(
    yaml_project: Project, busy_core: None
) -> None:
    ids: list[str] = []

    def read_all(url: str) -> None:
        params = {"token": yaml_project.token, "since": f"{epoch}-0"}
        with (
            httpx.Client(timeout=30) as client,
            client.stream("GET", f"{url}/api/changes", params=params, headers=EVENTS) as answer,
        ):
            ids.extend(event["id"] for event in _events(answer.iter_lines()) if "id" in event)

    with _feed_server(yaml_project) as (proc, url):
        assert _ask(proc, f"backlog {BACKLOG}") == "appended"
        epoch = (
            httpx.get(
                f"{url}/api/changes", params={"token": yaml_project.token, "limit": "1"}, timeout=60
            )
            .json()["meta"]["next"]
            .partition("-")[0]
        )
        with ThreadPoolExecutor(1) as pool:
            stream = pool.submit(read_all, url)
            assert eventually(lambda: len(ids) > 0)  # the catch-up has begun
            stopped = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            stream.result(timeout=60)  # raises if the stream was cut, not ended
            took = time.monotonic() - stopped
        _, err = proc.communicate(timeout=60)
    assert 0 < len(ids) < BACKLOG
    assert ids[:2] == [f"{epoch}-1", f"{epoch}-2"]
    assert took < 5, took
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "Cancel" not in err, err
