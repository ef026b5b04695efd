"""``options[search]`` over HTTP (api.md section 10), from query strings built by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flextype_adapters.sqlite_search import SEARCH_FILE
from tests.http_client import (
    DRIVERS,
    ApiClient,
    Project,
    ProjectFactory,
    assert_error,
    data_of,
    serve,
)
from tests.integration.test_http_query import encode_value


@pytest.fixture(scope="module", params=DRIVERS)
def project(
    request: pytest.FixtureRequest,
    projects: ProjectFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Project:
    folder: Path = tmp_path_factory.mktemp(f"search-{request.param}") / "project"
    return projects(folder, request.param)


@pytest.fixture(scope="module")
def api(project: Project) -> Iterator[ApiClient]:
    with serve(project) as client:
        extra = {
            "notes/cafe": {"title": "Café <script>alert(1)</script>", "body": "dune tea"},
            "notes/plain": {"title": "Plain", "body": "nothing here"},
        }
        for entry_id, data in extra.items():
            data_of(client.send("POST", "entries", {"id": entry_id, "data": data}))
        yield client


def search(api: ApiClient, parent: str, pairs: list[tuple[str, str]]) -> Any:
    everything = [("id", parent), ("options[collection]", "true"), *pairs, ("token", api.token)]
    url = "/api/entries?" + "&".join(f"{n}={encode_value(v)}" for n, v in everything)
    return api.request("GET", url)


def test_search_finds_by_prefix_and_accent_with_score_and_highlight(
    api: ApiClient, project: Project
) -> None:
    response = search(
        api,
        "notes",
        [
            ("options[search][q]", "CAFE"),
            ("options[search][score]", "true"),
            ("options[search][highlight]", "true"),
            ("options[filter][only][]", "body"),
        ],
    )
    items = data_of(response)
    assert [item["id"] for item in items] == ["notes/cafe"]
    assert items[0]["_highlight"] == {
        "title": "<mark>Café</mark> &lt;script&gt;alert(1)&lt;/script&gt;"
    }
    assert items[0]["_score"] > 0
    assert items[0]["body"] == "dune tea"
    assert response.json()["meta"]["total"] == 1
    assert (project.path / SEARCH_FILE).is_file()  # answered by the file drivers' index


def test_search_of_the_demo_movies_orders_by_relevance(api: ApiClient) -> None:
    items = data_of(
        search(api, "", [("options[find][depth]", "all"), ("options[search][q]", "dun")])
    )
    assert "movies/dune" in [item["id"] for item in items]
    assert "notes/cafe" in [item["id"] for item in items]
    only_titles = data_of(
        search(
            api,
            "",
            [
                ("options[find][depth]", "all"),
                ("options[search][q]", "dun"),
                ("options[search][fields][]", "title"),
            ],
        )
    )
    assert "notes/cafe" not in [item["id"] for item in only_titles]


@pytest.mark.parametrize("blank", ["", "   "])
def test_an_empty_or_blank_search_is_400(api: ApiClient, blank: str) -> None:
    assert_error(search(api, "notes", [("options[search][q]", blank)]), 400, "BadRequest")
