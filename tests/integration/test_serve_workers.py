"""``flextype serve --workers 2``: two processes over one project, nothing lost between them."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from flextype_entrypoints.project import open_project
from flextype_entrypoints.scaffold import create_project
from tests.integration.test_serve import _server, _stop

DRIVERS = ["yaml", "tinydb"]


@pytest.mark.parametrize("driver", DRIVERS)
def test_two_workers_count_every_call_exactly(tmp_path: Path, driver: str) -> None:
    project = tmp_path / "site"
    issued = create_project(project, driver=driver)
    token = issued.token.token
    with _server(project, "--workers", "2") as (proc, url):
        with httpx.Client(base_url=url, timeout=60) as client:

            def fetch(_: int) -> int:
                params = {"id": "movies/dune", "token": token}
                return client.get("/api/entries", params=params).status_code

            with ThreadPoolExecutor(max_workers=16) as pool:
                statuses = list(pool.map(fetch, range(200)))
        code, _, err = _stop(proc, signal.SIGTERM)
    assert statuses == [200] * 200
    assert code == 0, err
    with open_project(project) as opened:
        assert opened.tokens.fetch(token).calls == 200


def _field_write(resource: str, n: int) -> tuple[str, str, dict[str, Any]]:
    """The request writing field ``field_<n>`` of the demo entry or the demo image."""
    if resource == "entry":
        return "PATCH", "/api/entries", {"id": "movies/dune", "data": {f"field_{n}": n}}
    return "POST", "/api/media/files/meta", {"id": IMAGE, "field": f"field_{n}", "value": n}


IMAGE = "demo/flextype.png"
READ = {"entry": ("/api/entries", "movies/dune"), "media": ("/api/media/files", IMAGE)}


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("resource", ["entry", "media"])
def test_twenty_concurrent_writes_of_distinct_fields_over_two_workers_lose_none(
    tmp_path: Path, driver: str, resource: str
) -> None:
    # Each write is a read-change-write of one file (an entry, a media sidecar): it must
    # be serialised across the workers, not only between the threads of one.
    project = tmp_path / "site"
    issued = create_project(project, driver=driver)
    auth = (issued.token.token, issued.access_token)
    with _server(project, "--workers", "2") as (proc, url):
        with httpx.Client(base_url=url, timeout=60, auth=auth) as client:

            def write(n: int) -> int:
                method, path, body = _field_write(resource, n)
                return client.request(method, path, json=body).status_code

            with ThreadPoolExecutor(max_workers=20) as pool:
                statuses = list(pool.map(write, range(20)))
            path, item = READ[resource]
            stored = client.get(path, params={"id": item, "token": auth[0]}).json()["data"]
        _stop(proc, signal.SIGTERM)
    assert statuses == [200] * 20
    assert {f"field_{n}": n for n in range(20)}.items() <= stored.items()


def test_a_write_through_one_worker_is_seen_by_the_other_in_collections(tmp_path: Path) -> None:
    project = tmp_path / "site"
    issued = create_project(project)
    auth = (issued.token.token, issued.access_token)
    query = {"id": "movies", "options[collection]": "true", "token": auth[0]}
    with _server(project, "--workers", "2") as (proc, url):
        # Fresh connections land on either worker: after the create, every one must see it.
        with httpx.Client(base_url=url, timeout=60, auth=auth) as client:
            assert client.get("/api/entries", params=query).status_code == 200
            created = client.post(
                "/api/entries", json={"id": "movies/new-one", "data": {"title": "New"}}
            )
            assert created.status_code == 200
        seen = []
        for _ in range(20):
            with httpx.Client(base_url=url, timeout=60) as client:
                ids = [e["id"] for e in client.get("/api/entries", params=query).json()["data"]]
                seen.append("movies/new-one" in ids)
        _stop(proc, signal.SIGTERM)
    assert all(seen)


def _limited_token(project: Path, limit: int) -> str:
    with open_project(project) as opened:
        issued = opened.tokens.create({"title": "limited", "limit_calls": limit})
    return issued.token.token


def _check_limit_answer(response: httpx.Response) -> None:
    """A used-up token's answer: 429 in the one error shape, no Retry-After (it never passes)."""
    assert response.status_code == 429
    assert response.headers["content-type"].startswith("application/json")
    assert "retry-after" not in response.headers
    body = response.json()
    assert body["success"] is False
    assert body["errors"] == ["CallLimitExceeded"]
    assert body["data"] is None
    assert "5" in body["message"]


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_call_limit_holds_exactly_across_two_workers(tmp_path: Path, driver: str) -> None:
    project = tmp_path / "site"
    create_project(project, driver=driver)
    sequential, concurrent = _limited_token(project, 5), _limited_token(project, 5)
    params = {"id": "movies/dune"}
    with _server(project, "--workers", "2") as (proc, url):
        # A new connection per request, so that the requests spread over both workers.
        answers = []
        for _ in range(20):
            with httpx.Client(base_url=url, timeout=20) as client:
                answers.append(client.get("/api/entries", params={**params, "token": sequential}))

        def fetch(_: int) -> httpx.Response:
            with httpx.Client(base_url=url, timeout=20) as client:
                return client.get("/api/entries", params={**params, "token": concurrent})

        with ThreadPoolExecutor(max_workers=20) as pool:
            racing = list(pool.map(fetch, range(20)))
        code, _, err = _stop(proc, signal.SIGTERM)
    assert code == 0, err
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 15
    assert sorted(a.status_code for a in racing) == [200] * 5 + [429] * 15
    for answer in [*answers[5:], *(a for a in racing if a.status_code != 200)]:
        _check_limit_answer(answer)
    with open_project(project) as opened:
        assert opened.tokens.fetch(sequential).calls == 5
        assert opened.tokens.fetch(concurrent).calls == 5
