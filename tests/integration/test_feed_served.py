"""The change feed end to end: real ``flextype serve`` processes, real writes, every driver.

Each driver's server is shared by the module (each test writes under ids of its own and
starts from the feed's head); writes go through the API as another client's would
(POST, PATCH, PUT, DELETE of entries and media files), and the feed is read over HTTP:
a long poll answers within 100 ms of a write's answer while another process keeps a
core busy, an event stream resumes from ``Last-Event-ID``, ``flextype changes`` prints
what the API wrote, and a listing's ``X-Changes-Cursor`` misses nothing written after
it. On PostgreSQL, a write through one server wakes a long poll on another.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

from tests.http_client import Project, new_project
from tests.images import encode, gradient
from tests.integration.postgres_support import copy_settings, new_schema, pg_init
from tests.programs import FLEXTYPE, run_program
from tests.serve_process import ServeProcess

TIMEOUT = 30.0
LATENCY_BOUND = 0.1
"""The contract: a long poll answers within 100 ms of the write it waited for."""
EVENTS = {"Accept": "text/event-stream"}
PNG = encode(gradient((8, 8)), "PNG")

Change = dict[str, Any]


class Served(NamedTuple):
    """A project's server, and the project (for postgres: the folder of its settings)."""

    driver: str
    project: Project
    server: ServeProcess

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def auth(self) -> tuple[str, str]:
        return (self.project.token, self.project.access_token)


@pytest.fixture(scope="module", params=["yaml", "tinydb", "postgres"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    driver: str = request.param
    tmp = tmp_path_factory.mktemp(f"feed-{driver}")
    if driver != "postgres":
        project = new_project(tmp / "site", driver, demo=False)
        with ServeProcess(project.path, tmp / "serve.log") as server:
            yield Served(driver, project, server)
        return
    url: str = request.getfixturevalue("postgres_url")
    with new_schema(url) as schema:
        made = pg_init(tmp / "site", url, schema, "--no-demo")
        project = Project(made.path, made.token, made.access_token)
        with ServeProcess(project.path, tmp / "serve.log") as server:
            yield Served(driver, project, server)


@pytest.fixture
def busy_core() -> Iterator[None]:
    """Another process keeps one core busy, as a neighbour on a loaded machine would."""
    spinner = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait(TIMEOUT)


# -- the API, as another client uses it ---------------------------------------------------------


def _call(served: Served, method: str, path: str, **kwargs: Any) -> httpx.Response:
    answer = httpx.request(method, served.url + path, auth=served.auth, timeout=TIMEOUT, **kwargs)
    assert answer.status_code in (200, 204), answer.text
    return answer


def _upload(served: Served, folder: str, name: str) -> httpx.Response:
    return _call(
        served,
        "POST",
        "/api/media/files",
        data={"folder": folder},
        files={"file": (name, PNG, "image/png")},
    )


def _changes(url: str, token: str, **params: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}/api/changes", params={"token": token, **params}, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    page: dict[str, Any] = answer.json()
    return page


def _head(served: Served) -> str:
    """The feed's cursor now."""
    return str(_changes(served.url, served.project.token, since="now")["meta"]["next"])


def _all_after(served: Served, cursor: str, **params: str) -> list[Change]:
    """Every change after ``cursor``, following ``next`` to the end."""
    found: list[Change] = []
    while True:
        page = _changes(served.url, served.project.token, since=cursor, limit="1000", **params)
        found += page["data"]
        cursor = page["meta"]["next"]
        if not page["meta"]["more"]:
            return found


def _shape(changes: list[Change]) -> list[tuple[str, str, str]]:
    return [(c["op"], c["type"], c["id"]) for c in changes]


def _writes(served: Served, base: str) -> list[tuple[Callable[[], object], tuple[str, str, str]]]:
    """One write of each kind through the API, and the (first) change each gives."""

    def call(method: str, path: str, **body: Any) -> Callable[[], object]:
        return partial(_call, served, method, path, json=body)

    return [
        (
            call("POST", "/api/entries", id=f"{base}/a", data={"n": 1}),
            ("create", "entry", f"{base}/a"),
        ),
        (
            call("PATCH", "/api/entries", id=f"{base}/a", data={"n": 2}),
            ("update", "entry", f"{base}/a"),
        ),
        (
            call("PUT", "/api/entries", id=f"{base}/a", new_id=f"{base}/b"),
            ("move", "entry", f"{base}/b"),
        ),
        (
            call("PUT", "/api/entries/copy", id=f"{base}/b", new_id=f"{base}/c"),
            ("copy", "entry", f"{base}/c"),
        ),
        (call("DELETE", "/api/entries", id=f"{base}/c"), ("delete", "entry", f"{base}/c")),
        (lambda: _upload(served, base, "x.png"), ("create", "media", f"{base}/x.png")),
        (
            call("POST", "/api/media/files/meta", id=f"{base}/x.png", field="alt", value="X"),
            ("update", "media", f"{base}/x.png"),
        ),
        (
            call("PUT", "/api/media/files", id=f"{base}/x.png", new_id=f"{base}/y.png"),
            ("move", "media", f"{base}/y.png"),
        ),
        (
            call("PUT", "/api/media/files/copy", id=f"{base}/y.png", new_id=f"{base}/z.png"),
            ("copy", "media", f"{base}/z.png"),
        ),
        (
            call("DELETE", "/api/media/files", id=f"{base}/z.png"),
            ("delete", "media", f"{base}/z.png"),
        ),
    ]


# -- long polls --------------------------------------------------------------------------------


def _long_poll_round(
    poll_url: str, token: str, since: str, write: Callable[[], object]
) -> tuple[list[Change], str, float]:
    """Hold a long poll from ``since``, then write; return its changes, its ``next``, and
    the seconds from the write's answer to the poll's (negative: the poll came first).

    Before the write, a plain read of the feed from ``since`` is answered by the same
    server: it came after the poll, so the poll has most likely reached its wait (the
    bound holds either way: a poll that arrives after the write answers at once).
    """
    arrived: dict[str, Any] = {}

    def poll() -> None:
        page = _changes(poll_url, token, since=since, wait="10")
        arrived["at"] = time.perf_counter()
        arrived["page"] = page

    with ThreadPoolExecutor(1) as pool:
        polled = pool.submit(poll)
        assert _changes(poll_url, token, since=since)["data"] == []
        write()
        answered = time.perf_counter()
        polled.result(timeout=TIMEOUT)
    page = arrived["page"]
    return page["data"], page["meta"]["next"], arrived["at"] - answered


def _latencies_ms(latencies: list[float]) -> str:
    return ", ".join(f"{x * 1000:.1f}" for x in sorted(latencies))


def test_a_long_poll_answers_within_100_ms_of_each_kind_of_write(
    served: Served, busy_core: None
) -> None:
    cursor = _head(served)
    latencies = []
    for write, expected in _writes(served, "latency"):
        changes, cursor, latency = _long_poll_round(served.url, served.project.token, cursor, write)
        assert _shape(changes)[:1] == [expected]
        latencies.append(latency)
    assert max(latencies) < LATENCY_BOUND, f"ms: {_latencies_ms(latencies)}"


# -- server-sent events ------------------------------------------------------------------------


def _events(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    """Server-sent events as field -> value; comment lines (keep-alives) skipped."""
    fields: dict[str, str] = {}
    for line in lines:
        if line.startswith(":"):
            continue
        if line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        elif fields:
            yield fields
            fields = {}


def test_an_event_stream_resumes_from_last_event_id_with_the_writes_made_while_away(
    served: Served,
) -> None:
    base = "stream"
    _call(served, "POST", "/api/entries", json={"id": base, "data": {}})
    params = {"token": served.project.token, "since": _head(served), "id": base}
    with httpx.Client(base_url=served.url, timeout=TIMEOUT) as client:
        with client.stream("GET", "/api/changes", params=params, headers=EVENTS) as answer:
            assert answer.status_code == 200
            events = _events(answer.iter_lines())
            _call(served, "POST", "/api/entries", json={"id": f"{base}/a", "data": {}})
            _upload(served, base, "a.png")
            seen = [next(events), next(events)]
        # Away: what is written now comes on the next connection, after the last event seen.
        _call(served, "DELETE", "/api/entries", json={"id": f"{base}/a"})
        _call(
            served,
            "PUT",
            "/api/media/files",
            json={"id": f"{base}/a.png", "new_id": f"{base}/b.png"},
        )
        resume = {**EVENTS, "Last-Event-ID": seen[-1]["id"]}
        with client.stream("GET", "/api/changes", params=params, headers=resume) as answer:
            assert answer.status_code == 200
            events = _events(answer.iter_lines())
            resumed = [next(events), next(events)]
    changes = [json.loads(event["data"]) for event in seen + resumed]
    assert [event["id"] for event in seen + resumed] == [c["cursor"] for c in changes]
    assert _shape(changes) == [
        ("create", "entry", f"{base}/a"),
        ("create", "media", f"{base}/a.png"),
        ("delete", "entry", f"{base}/a"),
        ("move", "media", f"{base}/b.png"),
    ]
    # The events carry the changes as the feed lists them.
    assert changes == _all_after(served, params["since"], id=base)


# -- flextype changes --------------------------------------------------------------------------


def test_flextype_changes_prints_the_changes_made_through_the_api(served: Served) -> None:
    since = _head(served)
    base = "cli"
    for write, _ in _writes(served, base):
        write()
    done = run_program(
        [FLEXTYPE, "changes", "--project", str(served.project.path), "--since", since]
    )
    assert done.returncode == 0, done.stderr
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    assert printed == _all_after(served, since)
    assert [c for c in _shape(printed) if c[2].startswith(f"{base}/")] == [
        expected for _, expected in _writes(served, base)
    ]


# -- X-Changes-Cursor --------------------------------------------------------------------------


RACED = 20
"""Writes made while another client lists."""


def _create_entry(served: Served, base: str, n: int) -> str:
    return str(
        _call(served, "POST", "/api/entries", json={"id": f"{base}/r{n:02}", "data": {}}).json()[
            "data"
        ]["id"]
    )


def _create_file(served: Served, base: str, n: int) -> str:
    return str(_upload(served, base, f"r{n:02}.png").json()["data"]["id"])


LISTED = {
    "entries": ("/api/entries", _create_entry),
    "media": ("/api/media/files", _create_file),
}


@pytest.mark.parametrize("kind", list(LISTED))
def test_a_listings_cursor_followed_by_the_feed_misses_nothing_written_after_the_listing(
    served: Served, kind: str
) -> None:
    base = f"race-{kind}"
    path, create = LISTED[kind]
    # The parent first: listing a folder that does not exist is 404.
    if kind == "entries":
        _call(served, "POST", "/api/entries", json={"id": base, "data": {}})
    else:
        _call(served, "POST", "/api/media/folders", json={"id": base})
    query = {"id": base, "options[collection]": "true", "token": served.project.token}
    with httpx.Client(base_url=served.url, timeout=TIMEOUT) as client:

        def listing() -> tuple[set[str], str]:
            answer = client.get(path, params=query)
            assert answer.status_code == 200, answer.text
            return {item["id"] for item in answer.json()["data"]}, answer.headers[
                "x-changes-cursor"
            ]

        listings = []
        with ThreadPoolExecutor(1) as pool:
            # Another client writes while this one lists: each listing and its cursor
            # together must account for every write, listed or in the feed after it.
            writing = pool.submit(lambda: [create(served, base, n) for n in range(RACED)])
            while not writing.done():
                listings.append(listing())
            created = writing.result()
        last = listing()
    assert last[0] >= set(created)
    assert listings, "the writes were done before a listing"
    followed: dict[str, set[str]] = {}  # many listings share a cursor: one read each
    for listed, cursor in listings:
        if cursor not in followed:
            followed[cursor] = {c["id"] for c in _all_after(served, cursor, id=base)}
        missed = set(created) - listed - followed[cursor]
        assert not missed, (cursor, sorted(missed))


# -- two servers on one database ---------------------------------------------------------------


@pytest.mark.parametrize("served", ["postgres"], indirect=True)
def test_a_write_through_one_server_wakes_a_long_poll_on_another_within_100_ms(
    served: Served, tmp_path: Path, busy_core: None
) -> None:
    # Another host's server: a folder holding only a copy of the settings.
    other = copy_settings(served.project.path, tmp_path / "b")
    with ServeProcess(other, tmp_path / "b.log") as b:
        cursor = _head(served)
        latencies = []
        for n in range(10):
            entry = f"two-servers/e{n}"
            body = {"id": entry, "data": {}}
            changes, cursor, latency = _long_poll_round(
                b.url,
                served.project.token,
                cursor,
                partial(_call, served, "POST", "/api/entries", json=body),
            )
            assert _shape(changes) == [("create", "entry", entry)]
            latencies.append(latency)
    assert max(latencies) < LATENCY_BOUND, f"ms: {_latencies_ms(latencies)}"
