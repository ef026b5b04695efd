"""Cursor pagination over HTTP: ``meta.next``, ``Link: <...>; rel="next"`` and ``after``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.http_client import (
    DRIVERS,
    ApiClient,
    Project,
    ProjectFactory,
    assert_error,
    data_of,
    serve,
)

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
