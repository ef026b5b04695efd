"""Hostile request bodies and parameters get a clear 4xx in the error shape, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from flextype_entrypoints.container import build_container
from flextype_entrypoints.http.app import create_app
from flextype_entrypoints.http.params import MAX_QUERY_BYTES
from flextype_entrypoints.scaffold import create_project


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient[Any], str, str]]:
    issued = create_project(tmp_path / "p", demo=False)
    with TestClient(create_app(build_container(tmp_path / "p", {}))) as test_client:
        yield test_client, issued.token.token, issued.access_token


@pytest.mark.parametrize(
    "data",
    [
        '{"a":' * 5000 + "1" + "}" * 5000,
        '{"a":' + "[" * 3000 + "]" * 3000 + "}",
        '{"a":' * 100 + "1" + "}" * 100,
        # Over 64 KiB: decoded in a worker thread, checked the same.
        '{"pad": "' + "x" * 70_000 + '", "deep": ' + '{"a":' * 100 + "1" + "}" * 101,
    ],
    ids=["objects-5000-deep", "lists-3000-deep", "objects-100-deep", "big-body-100-deep"],
)
def test_deeply_nested_json_is_a_bad_request(
    client: tuple[TestClient[Any], str, str], data: str
) -> None:
    test_client, token, access_token = client
    body = f'{{"id": "x", "token": "{token}", "access_token": "{access_token}", "data": {data}}}'
    response = test_client.post(
        "/api/entries", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"] == ["BadRequest"]
    assert "nested" in response.json()["message"]


def test_json_nested_within_the_limit_is_stored(client: tuple[TestClient[Any], str, str]) -> None:
    test_client, token, access_token = client
    nested: Any = 1
    for _ in range(30):
        nested = {"a": nested}
    response = test_client.post(
        "/api/entries",
        json={"id": "x", "token": token, "access_token": access_token, "data": {"deep": nested}},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"\xff\xfe{", "application/json"),
        (b"a=%ff", "application/x-www-form-urlencoded"),
        (b"a=\xff", "application/x-www-form-urlencoded"),
        (b"[1, 2]", "application/json"),
        (b'"text"', "application/json"),
    ],
)
def test_bodies_that_are_not_utf8_or_not_objects_are_bad_requests(
    client: tuple[TestClient[Any], str, str], content: bytes, content_type: str
) -> None:
    test_client, _, _ = client
    response = test_client.post(
        "/api/entries", content=content, headers={"content-type": content_type}
    )
    assert response.status_code == 400
    assert response.json()["success"] is False


def test_a_query_string_over_the_limit_is_414_in_the_error_shape(
    client: tuple[TestClient[Any], str, str],
) -> None:
    test_client, token, _ = client
    at_limit = f"id=x&token={token}&pad="
    at_limit += "x" * (MAX_QUERY_BYTES - len(at_limit))
    assert test_client.get(f"/api/entries?{at_limit}").status_code == 404  # read: no entry x
    response = test_client.get(f"/api/entries?{at_limit}y")
    assert response.status_code == 414
    assert response.json()["errors"] == ["URITooLong"]
    assert "query string" in response.json()["message"]


def test_long_parameters_may_come_in_a_json_body_instead(
    client: tuple[TestClient[Any], str, str],
) -> None:
    test_client, token, access_token = client
    auth = {"token": token, "access_token": access_token}
    for n in range(3):
        test_client.post("/api/entries", json={"id": f"p/e{n}", "data": {"n": n}, **auth})
    wanted = [0, 2, *range(100, 6000)]  # a list far longer than a query string may be
    body = {
        "id": "p",
        "token": token,
        "options": {
            "collection": True,
            "filter": {"where": [{"key": "n", "operator": "in", "value": wanted}]},
        },
    }
    response = test_client.request("GET", "/api/entries", json=body)
    assert response.status_code == 200
    assert [e["id"] for e in response.json()["data"]] == ["p/e0", "p/e2"]


def test_a_broken_entry_on_disk_answers_a_clear_error_and_the_rest_keeps_working(
    tmp_path: Path,
) -> None:
    project = tmp_path / "site"
    issued = create_project(project)
    (project / "entries" / "movies" / "dune" / "entry.yaml").write_bytes(
        b"title: [unclosed\n\xff\xfe: {"
    )
    with TestClient(create_app(build_container(project, {}))) as test_client:
        token = issued.token.token
        broken = test_client.get("/api/entries", params={"id": "movies/dune", "token": token})
        assert broken.status_code == 500
        # A 500 (the server's files are at fault), with a message naming the entry.
        assert broken.json()["errors"] == ["InternalError"]
        assert "Entry 'movies/dune' cannot be read" in broken.json()["message"]
        assert str(project) not in broken.text
        others = test_client.get(
            "/api/entries",
            params={"id": "movies", "options[collection]": "true", "token": token},
        )
        assert others.status_code == 200
        listed = [e["id"] for e in others.json()["data"]]
        assert listed and "movies/dune" not in listed
        auth = {"token": token, "access_token": issued.access_token}
        written = test_client.post(
            "/api/entries", json={"id": "movies/new", "data": {"title": "New"}, **auth}
        )
        assert written.status_code == 200
