"""Conditional requests: ETags on reads, 304, If-Match on writes, no lost updates."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from flextype_entrypoints.container import build_container
from flextype_entrypoints.http.app import create_app
from flextype_entrypoints.scaffold import create_project


class Api:
    def __init__(self, client: TestClient[Any], token: str, access_token: str) -> None:
        self.client = client
        self.token = token
        self.access_token = access_token

    def get(self, path: str, headers: dict[str, str] | None = None, **params: str) -> Any:
        return self.client.get(path, params={**params, "token": self.token}, headers=headers)

    def get_query(self, query: dict[str, str], headers: dict[str, str] | None = None) -> Any:
        return self.get("/api/entries", headers, **query)

    def write(
        self, method: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> Any:
        auth = {"token": self.token, "access_token": self.access_token}
        return self.client.request(
            method, "/api/entries", json={**body, **auth}, headers=headers or {}
        )


@pytest.fixture(params=["yaml", "tinydb"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    project = tmp_path / "p"
    issued = create_project(project, driver=request.param)
    with TestClient(create_app(build_container(project, {}))) as client:
        yield Api(client, issued.token.token, issued.access_token)


def test_a_read_carries_a_strong_etag_and_if_none_match_answers_304(api: Api) -> None:
    first = api.get("/api/entries", id="movies/dune")
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    again = api.get("/api/entries", headers={"If-None-Match": etag}, id="movies/dune")
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    weak = api.get("/api/entries", headers={"If-None-Match": f"W/{etag}"}, id="movies/dune")
    assert weak.status_code == 304


def test_an_entry_changes_its_etag_when_written(api: Api) -> None:
    etag = api.get("/api/entries", id="movies/dune").headers["etag"]
    patched = api.write("PATCH", {"id": "movies/dune", "data": {"rating": 9.0}})
    assert patched.status_code == 200
    assert patched.headers["etag"] != etag
    assert api.get("/api/entries", id="movies/dune").headers["etag"] == patched.headers["etag"]
    stale = api.get("/api/entries", headers={"If-None-Match": etag}, id="movies/dune")
    assert stale.status_code == 200


def test_a_collection_etag_changes_when_any_entry_in_it_changes(api: Api) -> None:
    query = {"id": "movies", "options[collection]": "true"}
    etag = api.get_query(query).headers["etag"]
    assert api.get_query(query, {"If-None-Match": etag}).status_code == 304
    api.write("PATCH", {"id": "movies/parasite", "data": {"rating": 8.6}})
    after = api.get_query(query, {"If-None-Match": etag})
    assert after.status_code == 200
    assert after.headers["etag"] != etag


def test_a_registry_item_has_an_etag_and_answers_304(api: Api) -> None:
    first = api.get("/api/registry", id="flextype.manifest.version")
    again = api.get(
        "/api/registry",
        headers={"If-None-Match": first.headers["etag"]},
        id="flextype.manifest.version",
    )
    assert again.status_code == 304


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("PATCH", {"id": "movies/dune", "data": {"rating": 1}}),
        ("PUT", {"id": "movies/dune", "new_id": "movies/dune-2"}),
        ("DELETE", {"id": "movies/dune"}),
    ],
)
def test_a_stale_if_match_is_412_and_changes_nothing(
    api: Api, method: str, body: dict[str, Any]
) -> None:
    before = api.get("/api/entries", id="movies/dune").json()
    response = api.write(method, body, headers={"If-Match": '"stale"'})
    assert response.status_code == 412
    assert response.json()["errors"] == ["PreconditionFailed"]
    assert api.get("/api/entries", id="movies/dune").json() == before


def test_a_current_if_match_lets_the_write_through(api: Api) -> None:
    etag = api.get("/api/entries", id="movies/dune").headers["etag"]
    patched = api.write(
        "PATCH", {"id": "movies/dune", "data": {"rating": 9.1}}, headers={"If-Match": etag}
    )
    assert patched.status_code == 200
    second = api.write(
        "PATCH", {"id": "movies/dune", "data": {"rating": 9.2}}, headers={"If-Match": etag}
    )
    assert second.status_code == 412
    moved = api.write(
        "PUT",
        {"id": "movies/dune", "new_id": "archive/dune"},
        headers={"If-Match": patched.headers["etag"]},
    )
    assert moved.status_code == 200


def test_if_none_match_star_on_create_refuses_an_existing_entry(api: Api) -> None:
    exists = api.write(
        "POST", {"id": "movies/dune", "data": {"title": "x"}}, headers={"If-None-Match": "*"}
    )
    assert exists.status_code == 412
    created = api.write(
        "POST", {"id": "movies/new", "data": {"title": "New"}}, headers={"If-None-Match": "*"}
    )
    assert created.status_code == 200
    assert created.headers["etag"] == api.get("/api/entries", id="movies/new").headers["etag"]


def test_twenty_concurrent_patches_of_distinct_fields_lose_none(api: Api) -> None:
    results: list[int] = []

    def patch(n: int) -> None:
        response = api.write("PATCH", {"id": "movies/dune", "data": {f"field_{n}": n}})
        results.append(response.status_code)

    threads = [threading.Thread(target=patch, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 20
    entry = api.get("/api/entries", id="movies/dune").json()["data"]
    assert {f"field_{n}": n for n in range(20)}.items() <= entry.items()


def test_concurrent_patches_with_one_if_match_let_exactly_one_through(api: Api) -> None:
    etag = api.get("/api/entries", id="movies/dune").headers["etag"]
    results: list[int] = []

    def patch(n: int) -> None:
        response = api.write(
            "PATCH", {"id": "movies/dune", "data": {"winner": n}}, headers={"If-Match": etag}
        )
        results.append(response.status_code)

    threads = [threading.Thread(target=patch, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200] + [412] * 9


def test_tokens_media_files_and_folders_carry_etags_and_answer_304(api: Api) -> None:
    for path, params in (
        ("/api/tokens", {"id": api.token}),
        ("/api/media/files", {"id": "demo/flextype.png"}),
        ("/api/media/files", {"id": "demo", "options[collection]": "true"}),
        ("/api/media/folders", {"id": "demo"}),
    ):
        first = api.client.get(path, params={**params, "token": api.token})
        assert first.status_code == 200, (path, first.text)
        etag = first.headers["etag"]
        if path != "/api/tokens":  # a token's own call count changes with every request
            again = api.client.get(
                path, params={**params, "token": api.token}, headers={"If-None-Match": etag}
            )
            assert again.status_code == 304, path


def test_a_stale_if_match_on_a_media_file_write_is_412_and_changes_nothing(api: Api) -> None:
    auth = {"token": api.token, "access_token": api.access_token}
    before = api.get("/api/media/files", id="demo/flextype.png").json()["data"]
    stale = api.client.patch(
        "/api/media/files/meta",
        json={"id": "demo/flextype.png", "field": "title", "value": "New", **auth},
        headers={"If-Match": '"stale"'},
    )
    assert stale.status_code == 412
    assert api.get("/api/media/files", id="demo/flextype.png").json()["data"] == before
    etag = api.get("/api/media/files", id="demo/flextype.png").headers["etag"]
    current = api.client.patch(
        "/api/media/files/meta",
        json={"id": "demo/flextype.png", "field": "title", "value": "New", **auth},
        headers={"If-Match": etag},
    )
    assert current.status_code == 200
    assert current.json()["data"]["title"] == "New"


def test_a_stale_if_match_on_token_and_folder_writes_is_412(api: Api) -> None:
    auth = {"token": api.token, "access_token": api.access_token}
    stale = {"If-Match": '"stale"'}
    token = api.client.patch(
        "/api/tokens", json={"id": api.token, "data": {"title": "x"}, **auth}, headers=stale
    )
    assert token.status_code == 412
    folder = api.client.request(
        "DELETE", "/api/media/folders", json={"id": "demo", **auth}, headers=stale
    )
    assert folder.status_code == 412
    assert api.get("/api/media/folders", id="demo").status_code == 200
    etag = api.get("/api/media/folders", id="demo").headers["etag"]
    moved = api.client.put(
        "/api/media/folders",
        json={"id": "demo", "new_id": "demo2", **auth},
        headers={"If-Match": etag},
    )
    assert moved.status_code == 200


def test_token_and_media_writes_answer_the_etag_a_later_get_gives(api: Api) -> None:
    auth = {"token": api.token, "access_token": api.access_token}
    token = api.client.patch("/api/tokens", json={"id": api.token, "data": {"title": "t"}, **auth})
    assert token.status_code == 200 and token.headers["etag"].startswith('"')
    meta = api.client.post(
        "/api/media/files/meta",
        json={"id": "demo/flextype.png", "field": "alt", "value": "A gradient", **auth},
    )
    later = api.get("/api/media/files", id="demo/flextype.png")
    assert meta.headers["etag"] == later.headers["etag"]
    folder = api.client.post("/api/media/folders", json={"id": "posters", **auth})
    assert folder.headers["etag"] == api.get("/api/media/folders", id="posters").headers["etag"]


def test_if_none_match_star_on_an_upload_refuses_an_existing_file(api: Api) -> None:
    png = api.client.get("/media/demo/flextype.png").content
    fields = {"folder": "demo", "token": api.token, "access_token": api.access_token}
    files = {"file": ("flextype.png", png, "image/png")}
    again = api.client.post(
        "/api/media/files", data=fields, files=files, headers={"If-None-Match": "*"}
    )
    assert again.status_code == 412
    fresh = api.client.post(
        "/api/media/files",
        data={**fields, "folder": "fresh"},
        files=files,
        headers={"If-None-Match": "*"},
    )
    assert fresh.status_code == 200
    assert (
        fresh.headers["etag"]
        == api.get("/api/media/files", id="fresh/flextype.png").headers["etag"]
    )


def race(count: int, send: Any) -> list[int]:
    """Run ``send(n)`` for n in range(count) on as many threads; return the statuses, sorted."""
    results: list[int] = []
    threads = [threading.Thread(target=lambda n=n: results.append(send(n))) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(results)


def test_concurrent_metadata_writes_with_one_if_match_let_exactly_one_through(api: Api) -> None:
    auth = {"token": api.token, "access_token": api.access_token}
    etag = api.get("/api/media/files", id="demo/flextype.png").headers["etag"]

    def add(n: int) -> int:
        body = {"id": "demo/flextype.png", "field": f"field_{n}", "value": n, **auth}
        response = api.client.post("/api/media/files/meta", json=body, headers={"If-Match": etag})
        return int(response.status_code)

    assert race(10, add) == [200] + [412] * 9
    meta = api.get("/api/media/files", id="demo/flextype.png").json()["data"]
    assert len([k for k in meta if k.startswith("field_")]) == 1


def test_concurrent_token_updates_with_one_if_match_let_exactly_one_through(api: Api) -> None:
    auth = {"token": api.token, "access_token": api.access_token}
    created = api.client.post("/api/tokens", json={"data": {"title": "Other"}, **auth})
    other = created.json()["data"]["token"]
    etag = api.get("/api/tokens", id=other).headers["etag"]

    def update(n: int) -> int:
        body = {"id": other, "data": {"title": f"Title {n}"}, **auth}
        response = api.client.patch("/api/tokens", json=body, headers={"If-Match": etag})
        return int(response.status_code)

    assert race(10, update) == [200] + [412] * 9


def test_if_match_on_a_missing_resource_answers_as_without_it(api: Api) -> None:
    # RFC 9110 section 13.2.1: the 404 the request gets anyway wins over the precondition.
    auth = {"token": api.token, "access_token": api.access_token}
    stale = {"If-Match": '"stale"'}
    for path, body in (
        ("/api/entries", {"id": "movies/none"}),
        ("/api/media/files", {"id": "demo/none.png"}),
        ("/api/media/folders", {"id": "none"}),
        ("/api/tokens", {"id": "none-such-token-0001"}),
    ):
        response = api.client.request("DELETE", path, json={**body, **auth}, headers=stale)
        assert response.status_code == 404, (path, response.text)


def test_an_upload_over_a_file_honours_if_match(api: Api) -> None:
    png = api.client.get("/media/demo/flextype.png").content
    fields = {"folder": "demo", "token": api.token, "access_token": api.access_token}
    files = {"file": ("flextype.png", png, "image/png")}
    stale = api.client.post(
        "/api/media/files", data=fields, files=files, headers={"If-Match": '"stale"'}
    )
    assert stale.status_code == 412
    etag = api.get("/api/media/files", id="demo/flextype.png").headers["etag"]
    replaced = api.client.post(
        "/api/media/files", data=fields, files=files, headers={"If-Match": etag}
    )
    assert replaced.status_code == 200
    later = api.get("/api/media/files", id="demo/flextype.png").headers["etag"]
    assert replaced.headers["etag"] == later
