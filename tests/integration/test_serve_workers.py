"""``flextype serve --workers 2``: two processes over one project, nothing lost between them."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from entrypoints.project import open_project
from entrypoints.scaffold import create_project
from tests.integration.test_serve import _server, _stop

DRIVERS = ["yaml", "tinydb"]


@pytest.mark.parametrize("driver", DRIVERS)
def test_two_workers_count_every_call_exactly(tmp_path: Path, driver: str) -> None:
    project = tmp_path / "site"
    issued = create_project(project, driver=driver)
    token = issued.token.token
    with _server(project, "--workers", "2") as (proc, url):
        with httpx.Client(base_url=url, timeout=20) as client:

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


@pytest.mark.parametrize("driver", DRIVERS)
def test_twenty_concurrent_patches_over_two_workers_lose_no_field(
    tmp_path: Path, driver: str
) -> None:
    project = tmp_path / "site"
    issued = create_project(project, driver=driver)
    auth = (issued.token.token, issued.access_token)
    with _server(project, "--workers", "2") as (proc, url):
        with httpx.Client(base_url=url, timeout=20, auth=auth) as client:

            def patch(n: int) -> int:
                body = {"id": "movies/dune", "data": {f"field_{n}": n}}
                return client.patch("/api/entries", json=body).status_code

            with ThreadPoolExecutor(max_workers=20) as pool:
                statuses = list(pool.map(patch, range(20)))
            entry = client.get(
                "/api/entries", params={"id": "movies/dune", "token": auth[0]}
            ).json()["data"]
        _stop(proc, signal.SIGTERM)
    assert statuses == [200] * 20
    assert {f"field_{n}": n for n in range(20)}.items() <= entry.items()


@pytest.mark.parametrize("driver", DRIVERS)
def test_twenty_concurrent_metadata_adds_over_two_workers_lose_no_field(
    tmp_path: Path, driver: str
) -> None:
    # A sidecar's read-change-write must be serialised across the workers, not only
    # between the threads of one.
    project = tmp_path / "site"
    issued = create_project(project, driver=driver)
    auth = (issued.token.token, issued.access_token)
    file_id = "demo/flextype.png"
    with _server(project, "--workers", "2") as (proc, url):
        with httpx.Client(base_url=url, timeout=20, auth=auth) as client:

            def add(n: int) -> int:
                body = {"id": file_id, "field": f"field_{n}", "value": n}
                return client.post("/api/media/files/meta", json=body).status_code

            with ThreadPoolExecutor(max_workers=20) as pool:
                statuses = list(pool.map(add, range(20)))
            meta = client.get("/api/media/files", params={"id": file_id, "token": auth[0]}).json()[
                "data"
            ]
        _stop(proc, signal.SIGTERM)
    assert statuses == [200] * 20
    assert {f"field_{n}": n for n in range(20)}.items() <= meta.items()


def test_a_write_through_one_worker_is_seen_by_the_other_in_collections(tmp_path: Path) -> None:
    project = tmp_path / "site"
    issued = create_project(project)
    auth = (issued.token.token, issued.access_token)
    query = {"id": "movies", "options[collection]": "true", "token": auth[0]}
    with _server(project, "--workers", "2") as (proc, url):
        # Fresh connections land on either worker: after the create, every one must see it.
        with httpx.Client(base_url=url, timeout=20, auth=auth) as client:
            assert client.get("/api/entries", params=query).status_code == 200
            created = client.post(
                "/api/entries", json={"id": "movies/new-one", "data": {"title": "New"}}
            )
            assert created.status_code == 200
        seen = []
        for _ in range(20):
            with httpx.Client(base_url=url, timeout=20) as client:
                ids = [e["id"] for e in client.get("/api/entries", params=query).json()["data"]]
                seen.append("movies/new-one" in ids)
        _stop(proc, signal.SIGTERM)
    assert all(seen)
