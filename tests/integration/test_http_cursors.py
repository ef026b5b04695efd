"""Cursor pagination over HTTP: ``meta.next``, ``Link: <...>; rel="next"`` and ``after``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from flextype_core.walk import MAX_CHANGED
from tests.feed_support import change, container_with_log
from tests.http_client import (
    DRIVERS,
    ApiClient,
    Project,
    ProjectFactory,
    assert_error,
    data_of,
    serve,
)
from tests.integration.postgres_support import new_schema, pg_init
from tests.unit.feed_fakes import FakeChangeLog

_LINK = re.compile(r'^<([^>]+)>; rel="next"$')


@pytest.fixture(scope="module", params=DRIVERS)
def project(
    request: pytest.FixtureRequest,
    projects: ProjectFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Project:
    folder: Path = tmp_path_factory.mktemp(f"cursors-{request.param}") / "project"
    return projects(folder, request.param, demo=False)


@pytest.fixture(scope="module")
def api(project: Project) -> Iterator[ApiClient]:
    with serve(project) as client:
        for n in range(10):
            data = {"title": f"Title {n % 4} é&=+", "n": n}
            data_of(client.send("POST", "entries", {"id": f"books/b{n}", "data": data}))
        yield client


def _first_url(api: ApiClient, **extra: str) -> str:
    params = {
        "id": "books",
        "options[collection]": "true",
        "options[filter][sort_by][0][key]": "title",
        "options[filter][sort_by][0][direction]": "desc",
        "options[filter][limit]": "4",
        "options[filter][only][]": "title",
        "token": api.token,
        **extra,
    }
    return str(httpx.URL(api.url("entries"), params=params))


def _link(response: httpx.Response) -> str | None:
    header = response.headers.get("link")
    if header is None:
        return None
    found = _LINK.match(header)
    assert found, header
    return found.group(1)


def test_following_link_walks_every_entry_once_and_the_last_page_has_none(api: ApiClient) -> None:
    url: str | None = _first_url(api, **{"options[filter][where][0][key]": "n",
                                         "options[filter][where][0][operator]": "gte",
                                         "options[filter][where][0][value]": "0"})  # fmt: skip
    seen: list[str] = []
    pages = 0
    while url is not None:
        response = api.request("GET", url)
        body: dict[str, Any] = response.json()
        assert response.status_code == 200, body
        pages += 1
        seen += [item["id"] for item in body["data"]]
        assert set(body["data"][0]) == {"id", "title"}  # `only` went along
        assert body["meta"]["total"] == 10
        url = _link(response)
        assert (url is None) == (body["meta"].get("next") is None)
        if url is not None:
            assert url.startswith("http://testserver.local/api/entries?") or url.startswith(
                "http://testserver/api/entries?"
            ), url
            query = dict(parse_qsl(urlsplit(url).query))
            assert query["options[filter][after]"] == body["meta"]["next"]
            assert query["options[filter][where][0][value]"] == "0"
            assert query["token"] == api.token
    assert pages == 3
    assert sorted(seen) == sorted(f"books/b{n}" for n in range(10))
    assert len(seen) == 10


def test_the_link_drops_the_offset_and_keeps_odd_characters(api: ApiClient) -> None:
    url = _first_url(api, **{"options[filter][offset]": "2", "note": "a b&c=é"})
    response = api.request("GET", url)
    link = _link(response)
    assert link is not None
    query = parse_qsl(urlsplit(link).query)
    names = [name for name, _ in query]
    assert "options[filter][offset]" not in names
    assert names.count("options[filter][after]") == 1
    assert ("note", "a b&c=é") in query
    second = api.request("GET", link)
    assert second.status_code == 200, second.text
    first_ids = [item["id"] for item in response.json()["data"]]
    assert not {item["id"] for item in second.json()["data"]} & set(first_ids)


def test_no_link_without_limit(api: ApiClient) -> None:
    response = api.get("entries", {"id": "books", "options[collection]": "true"})
    assert "link" not in response.headers
    assert "next" not in response.json()["meta"]


def test_an_edited_cursor_or_one_of_another_query_is_400(api: ApiClient) -> None:
    first = api.request("GET", _first_url(api))
    cursor = first.json()["meta"]["next"]
    edited = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    for bad in (edited, "not-a-cursor"):
        response = api.request("GET", _first_url(api, **{"options[filter][after]": bad}))
        body = assert_error(response, 400, "BadRequest")
        assert "options[filter][after]" in body["message"]
    other = _first_url(
        api,
        **{"options[filter][sort_by][0][direction]": "asc", "options[filter][after]": cursor},
    )
    assert_error(api.request("GET", other), 400, "BadRequest")
    with_offset = _first_url(
        api, **{"options[filter][offset]": "1", "options[filter][after]": cursor}
    )
    assert_error(api.request("GET", with_offset), 400, "BadRequest")


def test_options_in_a_body_give_meta_next_but_no_link(api: ApiClient) -> None:
    # A Link built from the URL would lose the body's options (review finding).
    options: dict[str, Any] = {"collection": True, "filter": {"sort_by": {"key": "n"}, "limit": 4}}
    seen: list[str] = []
    after: str | None = None
    while True:
        if after is not None:
            options["filter"]["after"] = after
        response = api.send("GET", "entries", {"id": "books", "options": options})
        assert response.status_code == 200, response.text
        assert _link(response) is None
        answer = response.json()
        seen += [item["id"] for item in answer["data"]]
        after = answer["meta"].get("next")
        if after is None:
            break
    assert seen == [f"books/b{n}" for n in range(10)]


def test_a_cursor_of_a_long_sort_value_is_taken_back(api: ApiClient) -> None:
    long = "z" * 6000  # its cursor is longer than 4 KiB (review finding: it was refused)
    for n in range(2):
        data_of(api.send("POST", "entries", {"id": f"long/l{n}", "data": {"title": long}}))
    params = {
        "id": "long",
        "options[collection]": "true",
        "options[filter][sort_by][0][key]": "title",
        "options[filter][limit]": "1",
    }
    first = api.get("entries", params).json()
    assert len(first["meta"]["next"]) > 6000
    second = api.get("entries", {**params, "options[filter][after]": first["meta"]["next"]})
    assert second.status_code == 200, second.text
    assert [i["id"] for i in second.json()["data"]] == ["long/l1"]


def _shelf_page(api: ApiClient, after: str | None = None) -> dict[str, Any]:
    params = {
        "id": "shelf",
        "options[collection]": "true",
        "options[filter][sort_by][0][key]": "rank",
        "options[filter][limit]": "2",
    }
    if after is not None:
        params["options[filter][after]"] = after
    response = api.get("entries", params)
    body: dict[str, Any] = response.json()
    assert response.status_code == 200, body
    return body


def test_an_entry_updated_past_the_cursor_does_not_come_again(api: ApiClient) -> None:
    _walk_past_an_update(api)


def test_an_entry_updated_past_the_cursor_does_not_come_again_on_postgres(
    postgres_url: str, tmp_path: Path
) -> None:
    with new_schema(postgres_url) as schema:
        made = pg_init(tmp_path / "site", postgres_url, schema, "--no-demo")
        with serve(Project(made.path, made.token, made.access_token)) as api:
            _walk_past_an_update(api)


def _walk_past_an_update(api: ApiClient) -> None:
    """The server's entries service walks with its driver's change log (the container)."""
    for n in range(6):
        data_of(api.send("POST", "entries", {"id": f"shelf/s{n}", "data": {"rank": n}}))
    first = _shelf_page(api)
    assert [item["id"] for item in first["data"]] == ["shelf/s0", "shelf/s1"]
    # s0 moves to the end of the order, after the cursor; s3 stays where it was.
    data_of(api.send("PATCH", "entries", {"id": "shelf/s0", "data": {"rank": 99}}))
    seen: list[str] = []
    after = first["meta"]["next"]
    while after is not None:
        body = _shelf_page(api, after)
        assert body["meta"]["total"] == 6  # the store's count, changed entries included
        seen += [item["id"] for item in body["data"]]
        after = body["meta"].get("next")
    assert seen == ["shelf/s2", "shelf/s3", "shelf/s4", "shelf/s5"]


def test_a_walk_the_change_log_cannot_vouch_for_is_410_resync_required(
    yaml_project: Project,
) -> None:
    log = FakeChangeLog()
    with serve(yaml_project, container=container_with_log(yaml_project, log)) as api:
        for n in range(3):
            data_of(api.send("POST", "entries", {"id": f"shelf/s{n}", "data": {"rank": n}}))
        after = _shelf_page(api)["meta"]["next"]
        log.append([change(f"shelf/c{n}") for n in range(MAX_CHANGED)])
        _shelf_page(api, after)  # as many as the bound: still a page
        log.append([change("shelf/one-more")])
        body = assert_error(
            api.get(
                "entries",
                {
                    "id": "shelf",
                    "options[collection]": "true",
                    "options[filter][sort_by][0][key]": "rank",
                    "options[filter][limit]": "2",
                    "options[filter][after]": after,
                },
            ),
            410,
            "ResyncRequired",
        )
        assert "Start the walk again" in body["message"]
        # Starting again works, and its cursor carries the walk on from now.
        again = _shelf_page(api)
        assert [item["id"] for item in _shelf_page(api, again["meta"]["next"])["data"]] == [
            "shelf/s2"
        ]
