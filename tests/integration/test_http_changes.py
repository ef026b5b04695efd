"""GET /api/changes through the test client, over an in-memory change log (FakeChangeLog).

Paging, parameters and their errors, the long poll's timeout, the retention purge at
start, tokens, and ``X-Changes-Cursor`` on collection answers. What needs a real socket
(long-poll latency, server-sent events, shutdown) is in test_http_changes_live.py.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import flextype_core
from flextype_core.errors import ServiceUnavailable
from tests.feed_support import change, container_with_log, eventually
from tests.http_client import (
    PREFIXES,
    ApiClient,
    Project,
    ProjectFactory,
    assert_error,
    data_of,
    serve,
)
from tests.unit.fakes import FixedClock
from tests.unit.feed_fakes import FakeChangeLog

DAY = 86_400


@pytest.fixture
def log() -> FakeChangeLog:
    return FakeChangeLog()


@pytest.fixture
def feed(yaml_project: Project, log: FakeChangeLog) -> Iterator[ApiClient]:
    with serve(yaml_project, container=container_with_log(yaml_project, log)) as api:
        yield api


def page_of(response: httpx.Response) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Check a feed answer's shape; return its changes and its meta."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"data", "meta"}
    assert set(body["meta"]) == {"next", "more"}
    return body["data"], body["meta"]


def test_following_next_lists_every_change_once_in_order_under_every_prefix(
    feed: ApiClient, log: FakeChangeLog
) -> None:
    log.append([change(f"movies/m{i}") for i in range(3)])
    for prefix in PREFIXES:
        api = feed.at(prefix)
        seen: list[str] = []
        since: str | None = None
        for round_ in range(10):
            params = {"limit": "2"} | ({"since": since} if since else {})
            data, meta = page_of(api.get("changes", params))
            seen += [c["id"] for c in data]
            since = meta["next"]
            if round_ == 0:
                log.append([change(f"{prefix}/during")])  # a write between two pages
            if not meta["more"]:
                break
        assert seen[:3] == ["movies/m0", "movies/m1", "movies/m2"]
        assert seen[3:] == [f"{p}/during" for p in PREFIXES[: PREFIXES.index(prefix) + 1]]
        assert since is not None
        data, meta = page_of(api.get("changes", {"since": since}))
        assert (data, meta) == ([], {"next": since, "more": False})


def test_each_change_shows_cursor_op_type_id_etag_and_time_as_the_contract_says(
    feed: ApiClient, log: FakeChangeLog
) -> None:
    log.append(
        [
            change("movies/a", "create"),
            change("movies/b", "move", from_id="movies/a"),
            change("movies/c", "copy", from_id="movies/b"),
            change("movies/c", "delete"),
            change("posters/a.png", "create", "media"),
        ]
    )
    data, meta = page_of(feed.get("changes"))
    epoch = log.epoch()
    assert meta == {"next": f"{epoch}-5", "more": False}
    at = data[0]["at"]
    assert isinstance(at, int) and abs(at - time.time()) < 600
    assert data == [
        {"cursor": f"{epoch}-1", "op": "create", "type": "entry", "id": "movies/a"}
        | {"etag": '"create-movies/a"', "at": at},
        {"cursor": f"{epoch}-2", "op": "move", "type": "entry", "id": "movies/b"}
        | {"from_id": "movies/a", "etag": '"move-movies/b"', "at": at},
        {"cursor": f"{epoch}-3", "op": "copy", "type": "entry", "id": "movies/c"}
        | {"from_id": "movies/b", "etag": '"copy-movies/c"', "at": at},
        {"cursor": f"{epoch}-4", "op": "delete", "type": "entry", "id": "movies/c", "at": at},
        {"cursor": f"{epoch}-5", "op": "create", "type": "media", "id": "posters/a.png"}
        | {"etag": '"create-posters/a.png"', "at": at},
    ]


def test_now_lists_nothing_and_names_the_head_then_what_comes_after(
    feed: ApiClient, log: FakeChangeLog
) -> None:
    log.append([change("movies/old")])
    data, meta = page_of(feed.get("changes", {"since": "now"}))
    assert (data, meta) == ([], {"next": f"{log.epoch()}-1", "more": False})
    log.append([change("movies/new")])
    data, _ = page_of(feed.get("changes", {"since": meta["next"]}))
    assert [c["id"] for c in data] == ["movies/new"]


def test_id_and_types_keep_only_the_changes_asked_for(feed: ApiClient, log: FakeChangeLog) -> None:
    log.append(
        [
            change("movies/dune"),
            change("movies-old/heat"),
            change("archive/up", "move", from_id="movies/up"),
            change("movies/dune.jpg", "create", "media"),
        ]
    )
    data, _ = page_of(feed.get("changes", {"id": "movies"}))
    assert [c["id"] for c in data] == ["movies/dune", "archive/up", "movies/dune.jpg"]
    data, meta = page_of(feed.get("changes", {"id": "movies", "types": "entry"}))
    assert [c["id"] for c in data] == ["movies/dune", "archive/up"]
    assert meta["next"] == f"{log.epoch()}-4"  # past what the filter left out
    data, _ = page_of(feed.get("changes", {"types": "media,entry", "limit": "1"}))
    assert [c["id"] for c in data] == ["movies/dune"]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"since": "yesterday"}, "'since' is not a change cursor"),
        ({"limit": "0"}, "'limit' must be a whole number from 1 to 1000"),
        ({"limit": "1001"}, "'limit' must be a whole number from 1 to 1000"),
        ({"wait": "61"}, "'wait' must be a number of seconds from 0 to 60"),
        ({"wait": "soon"}, "'wait' must be a number of seconds from 0 to 60"),
        ({"types": "foo"}, "'types' must be 'entry', 'media' or 'entry,media'"),
        ({"id": "../etc"}, "'id': Invalid entry id"),
    ],
)
def test_a_bad_parameter_is_400_in_the_error_shape(
    feed: ApiClient, params: dict[str, str], words: str
) -> None:
    body = assert_error(feed.get("changes", params), 400, "BadRequest")
    assert words in body["message"]


def test_a_cursor_of_another_log_is_410_resync_required(feed: ApiClient) -> None:
    other = FakeChangeLog()
    body = assert_error(feed.get("changes", {"since": f"{other.epoch()}-0"}), 410, "ResyncRequired")
    assert "list the collection again" in body["message"]


def test_a_cursor_beyond_the_head_is_410(feed: ApiClient, log: FakeChangeLog) -> None:
    assert_error(feed.get("changes", {"since": f"{log.epoch()}-7"}), 410, "ResyncRequired")


def test_the_server_purges_what_is_past_the_retention_at_start_and_its_cursors_are_410(
    yaml_project: Project,
) -> None:
    clock = FixedClock(int(time.time()) - 31 * DAY)
    log = FakeChangeLog(clock=clock.now)
    log.append([change("movies/old")])
    clock.current = int(time.time())
    log.append([change("movies/new")])
    with serve(yaml_project, container=container_with_log(yaml_project, log)) as api:
        assert eventually(lambda: log.floor() == 1)
        body = assert_error(
            api.get("changes", {"since": f"{log.epoch()}-0"}), 410, "ResyncRequired"
        )
        assert "changes.retention_days" in body["message"]
        data, _ = page_of(api.get("changes"))
        assert [c["id"] for c in data] == ["movies/new"]
        # The cursor of the last purged change misses nothing: it still reads.
        data, _ = page_of(api.get("changes", {"since": f"{log.epoch()}-1"}))
        assert [c["id"] for c in data] == ["movies/new"]


class _Unreachable(FakeChangeLog):
    def purge(self, before: int) -> int:
        raise ServiceUnavailable("The database does not answer.")


def test_a_log_out_of_reach_at_the_purge_costs_a_warning_never_the_server(
    yaml_project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    log = _Unreachable()
    log.append([change("movies/dune")])
    logger = logging.getLogger("flextype")  # the app's loggers do not propagate (logs.py)
    logger.addHandler(caplog.handler)
    try:
        with serve(yaml_project, container=container_with_log(yaml_project, log)) as api:
            assert eventually(lambda: "purging old changes failed" in caplog.text)
            data, _ = page_of(api.get("changes"))
            assert [c["id"] for c in data] == ["movies/dune"]
    finally:
        logger.removeHandler(caplog.handler)
    assert "The database does not answer." in caplog.text


def test_a_long_poll_with_nothing_new_answers_after_wait_an_empty_page_at_since(
    feed: ApiClient, log: FakeChangeLog
) -> None:
    log.append([change("movies/dune")])
    since = f"{log.epoch()}-1"
    started = time.monotonic()
    data, meta = page_of(feed.get("changes", {"since": since, "wait": "0.3"}))
    assert time.monotonic() - started >= 0.3
    assert (data, meta) == ([], {"next": since, "more": False})


def test_a_long_poll_answers_the_change_that_arrives_while_it_waits(
    feed: ApiClient, log: FakeChangeLog
) -> None:
    hub = feed.client.app.state.feed

    def write_once_parked() -> None:
        assert eventually(lambda: hub.watcher.waiting == 1)
        log.append([change("posters/skipped.png", "create", "media")])  # filtered out
        log.append([change("movies/dune")])

    writer = threading.Thread(target=write_once_parked)
    writer.start()
    data, meta = page_of(feed.get("changes", {"since": "now", "wait": "30", "types": "entry"}))
    writer.join()
    assert [c["id"] for c in data] == ["movies/dune"]
    assert meta["next"] == f"{log.epoch()}-2"


def test_head_and_if_none_match_work_as_on_every_read(feed: ApiClient, log: FakeChangeLog) -> None:
    log.append([change("movies/dune")])
    first = feed.get("changes")
    head = feed.request("HEAD", "/api/changes", params={"token": feed.token})
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == first.headers["etag"]
    again = feed.get("changes", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    log.append([change("movies/heat")])
    assert feed.get("changes", headers={"If-None-Match": first.headers["etag"]}).status_code == 200


def test_head_of_an_event_stream_answers_its_headers_at_once(feed: ApiClient) -> None:
    head = feed.request(
        "HEAD",
        "/api/changes",
        params={"token": feed.token},
        headers={"Accept": "text/event-stream"},
    )
    assert head.status_code == 200
    assert head.headers["content-type"].startswith("text/event-stream")
    assert head.content == b""


def test_the_feed_needs_a_token_allowed_for_changes(feed: ApiClient) -> None:
    def token_for(apis: list[str]) -> str:
        issued = data_of(feed.send("POST", "tokens", {"data": {"title": "f", "apis": apis}}))
        token: str = issued["token"]
        return token

    body = assert_error(
        feed.as_token(token_for(["entries"])).get("changes"), 401, "AccessTokenInvalid"
    )
    assert "Add this API to the token's apis" in body["message"]
    assert_error(feed.get("changes", auth=False), 401, "AccessTokenInvalid")
    page_of(feed.as_token(token_for(["changes"])).get("changes"))


def test_the_changes_family_can_be_turned_off(yaml_project: Project) -> None:
    container = container_with_log(
        yaml_project, FakeChangeLog(), {"FLEXTYPE_API__CHANGES__ENABLED": "false"}
    )
    with serve(yaml_project, container=container) as api:
        assert_error(api.get("changes"), 404, "NotFound")


# -- X-Changes-Cursor ---------------------------------------------------------------------------


def test_collection_answers_carry_the_feeds_head_and_single_reads_do_not(
    project: Project,
) -> None:
    log = FakeChangeLog()
    log.append([change("movies/dune")])
    with serve(project, container=container_with_log(project, log)) as api:
        collections = (
            ("entries", {"id": "movies", "options[collection]": "true"}),
            ("media/files", {"id": "demo", "options[collection]": "true"}),
            ("media/folders", {"id": "", "options[collection]": "true"}),
        )
        for path, params in collections:
            listed = api.get(path, params)
            assert listed.status_code == 200, listed.text
            assert listed.headers["x-changes-cursor"] == f"{log.epoch()}-1", path
            cached = api.get(path, params, headers={"If-None-Match": listed.headers["etag"]})
            assert cached.status_code == 304
            assert cached.headers["x-changes-cursor"] == f"{log.epoch()}-1", path
        singles = (
            ("entries", {"id": "movies/dune"}),
            ("media/files", {"id": "demo/flextype.png"}),
            ("media/folders", {"id": "demo"}),
            ("registry", {"id": "flextype.manifest.name"}),
            ("tokens", {"id": api.token}),
            ("tokens", {"options[collection]": "true"}),  # tokens are not in the feed
        )
        for path, params in singles:
            single = api.get(path, params)
            assert single.status_code == 200, single.text
            assert "x-changes-cursor" not in single.headers, path


def test_following_the_feed_from_a_listings_cursor_shows_what_changed_after_it(
    feed: ApiClient, log: FakeChangeLog
) -> None:
    log.append([change("movies/dune")])
    listed = feed.get("entries", {"id": "movies", "options[collection]": "true"})
    cursor = listed.headers["x-changes-cursor"]
    log.append([change("movies/heat")])
    data, _ = page_of(feed.get("changes", {"since": cursor}))
    assert [c["id"] for c in data] == ["movies/heat"]


def _damage_change_log(project: Project) -> None:
    """Replace the project's ``changes.sqlite3`` with bytes that are no SQLite database."""
    for name in ("changes.sqlite3", "changes.sqlite3-wal", "changes.sqlite3-shm"):
        (project.path / name).unlink(missing_ok=True)
    (project.path / "changes.sqlite3").write_bytes(b"garbage" * 1000)


@pytest.mark.parametrize("driver", ["yaml", "tinydb"])
def test_a_change_log_that_cannot_be_read_leaves_listings_answering_without_the_cursor(
    projects: ProjectFactory, tmp_path: Path, driver: str, caplog: pytest.LogCaptureFixture
) -> None:
    project = projects(tmp_path / "project", driver)
    _damage_change_log(project)
    logger = logging.getLogger("flextype")  # the app's loggers do not propagate (logs.py)
    logger.addHandler(caplog.handler)
    # Run alone, before anything set up the server's logging, the records would also reach
    # caplog's root handler, and each would be counted twice.
    propagate, logger.propagate = logger.propagate, False
    try:
        with serve(project) as api:
            listings = (
                ("entries", {"id": "movies", "options[collection]": "true"}),
                ("media/files", {"id": "demo", "options[collection]": "true"}),
                ("media/folders", {"id": "", "options[collection]": "true"}),
            )
            for _ in range(3):
                for path, params in listings:
                    listed = api.get(path, params)
                    assert listed.status_code == 200, listed.text
                    assert listed.json()["data"], path
                    assert "x-changes-cursor" not in listed.headers, path
            assert api.get("entries", {"id": "movies/dune"}).status_code == 200
            # The content answers; the feed does not, and /health says so.
            health = api.request("GET", "/health")
            assert health.status_code == 200
            assert health.json() == {
                "status": "ok",
                "version": flextype_core.__version__,
                "changes": "unavailable",
            }
            assert_error(api.get("changes"), 500, "InternalError")
            warnings = [r for r in caplog.records if "change feed is unavailable" in r.getMessage()]
            assert len(warnings) == 1, caplog.text  # not one per listing
            assert "SQLITE_NOTADB" in warnings[0].getMessage()
            # Taken aside by hand: the next write starts a new log, and listings name it.
            (project.path / "changes.sqlite3").unlink()
            assert api.request("GET", "/health").json()["changes"] == "ok"
            listed = api.get(*listings[0])
            assert listed.headers["x-changes-cursor"].endswith("-0")
    finally:
        logger.propagate = propagate
        logger.removeHandler(caplog.handler)
