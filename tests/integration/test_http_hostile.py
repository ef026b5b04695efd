"""Hostile request bodies and parameters get a clear 4xx in the error shape, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.scaffold import create_project


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
    ],
    ids=["objects-5000-deep", "lists-3000-deep", "objects-100-deep"],
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
