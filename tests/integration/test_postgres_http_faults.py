"""Faults of the database under a running ``flextype serve``: 503s, recovery, no lost write.

The database stopped, every connection taken, a statement that runs too long: each is a
503 in the error shape with Retry-After, and the server serves again by itself once the
cause is gone. A server killed while acknowledging writes has lost none of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.postgres_support import (
    PgProject,
    assert_unavailable,
    held_tables,
    new_schema,
    pg_init,
    server_folder,
    waiting_on_locks,
)
from tests.integration.test_serve import _server
from tests.postgres_cluster import PostgresCluster, require_bindir

TIMEOUT = 60.0


@pytest.fixture
def project(tmp_path: Path, postgres_url: str) -> Iterator[PgProject]:
    with new_schema(postgres_url) as schema:
        yield pg_init(tmp_path / "seed", postgres_url, schema)


def _get(url: str, project: PgProject, entry_id: str = "movies/dune") -> httpx.Response:
    params = {"id": entry_id, "token": project.token}
    return httpx.get(f"{url}/api/entries", params=params, timeout=TIMEOUT)


def _patch(url: str, project: PgProject, data: dict[str, Any]) -> httpx.Response:
    return httpx.patch(
        f"{url}/api/entries",
        json={"id": "movies/dune", "data": data},
        auth=(project.token, project.access_token),
        timeout=TIMEOUT,
    )


def _until_locked(url: str) -> None:
    """Wait until some session waits for a lock (a request is blocked, holding its
    connection): observed progress, not a guess at how long it takes."""
    deadline = time.monotonic() + TIMEOUT
    while waiting_on_locks(url) == 0:
        assert time.monotonic() < deadline, "no request came to wait for the locked tables"


def test_a_stopped_database_is_503_then_the_same_server_recovers_by_itself(
    tmp_path: Path,
) -> None:
    with PostgresCluster(require_bindir()) as cluster:
        cluster.start()
        seed = pg_init(tmp_path / "seed", cluster.url, "flextype")
        folder = server_folder(seed.path, tmp_path / "server", pool_timeout=1)
        with _server(folder) as (_, url):
            assert _get(url, seed).status_code == 200
            assert httpx.get(f"{url}/health", timeout=TIMEOUT).status_code == 200
            cluster.stop()
            assert_unavailable(_get(url, seed))
            assert_unavailable(_patch(url, seed, {"lost": True}))
            assert_unavailable(httpx.get(f"{url}/health", timeout=TIMEOUT))
            cluster.start()
            # Until the pool has reconnected (it retries on its own, backing off) the
            # answers are 503, never anything else; the server needs no restart.
            deadline = time.monotonic() + TIMEOUT
            answers = [_get(url, seed)]
            while answers[-1].status_code != 200 and time.monotonic() < deadline:
                assert_unavailable(answers[-1])
                answers.append(_get(url, seed))
            assert answers[-1].status_code == 200, [a.text for a in answers]
            assert "lost" not in answers[-1].json()["data"]  # the failed write left nothing
            # Reads may come back first (from memory, once the change log answers) while
            # the pool still reconnects: writes answer 503 until it has, nothing else.
            writes = [_patch(url, seed, {"after": True})]
            while writes[-1].status_code != 200 and time.monotonic() < deadline:
                assert_unavailable(writes[-1])
                writes.append(_patch(url, seed, {"after": True}))
            assert writes[-1].status_code == 200, [w.text for w in writes]
            assert _get(url, seed).json()["data"]["after"] is True
            assert httpx.get(f"{url}/health", timeout=TIMEOUT).status_code == 200


def test_with_every_connection_taken_a_request_waits_pool_timeout_then_is_503(
    tmp_path: Path, project: PgProject
) -> None:
    folder = server_folder(project.path, tmp_path / "server", pool_size=1, pool_timeout=1)
    with _server(folder) as (_, url), ThreadPoolExecutor(max_workers=1) as pool:
        assert _get(url, project).status_code == 200
        with held_tables(project.url, project.schema):
            blocked = pool.submit(_get, url, project)  # holds the only connection, waiting
            _until_locked(project.url)
            started = time.monotonic()
            refused = _get(url, project)
            waited = time.monotonic() - started
            body = assert_unavailable(refused)
            assert "no database connection came free in time" in body["message"]
        assert 1.0 <= waited < 15.0
        assert blocked.result(TIMEOUT).status_code == 200  # served once the tables were free
        assert _get(url, project).status_code == 200


def test_a_statement_past_statement_timeout_is_cancelled_and_503(
    tmp_path: Path, project: PgProject
) -> None:
    folder = server_folder(project.path, tmp_path / "server", statement_timeout=1)
    with _server(folder) as (_, url):
        assert _get(url, project).status_code == 200
        with held_tables(project.url, project.schema):
            started = time.monotonic()
            refused = _get(url, project)
            waited = time.monotonic() - started
        body = assert_unavailable(refused)
        assert "statement timeout" in body["message"]
        assert 1.0 <= waited < 15.0  # 1 s, not the default 30
        assert _get(url, project).status_code == 200


def test_a_server_killed_during_writes_loses_none_it_acknowledged(
    tmp_path: Path, project: PgProject
) -> None:
    auth = (project.token, project.access_token)
    created: list[tuple[str, int]] = []
    counters: list[int] = []
    enough = threading.Event()
    with _server(project.path) as (proc, url):

        def create(writer: int) -> None:
            with httpx.Client(base_url=url, auth=auth, timeout=TIMEOUT) as client:
                for n in range(10_000):
                    entry_id = f"crash/{writer}-{n}"
                    try:
                        answer = client.post(
                            "/api/entries", json={"id": entry_id, "data": {"n": n}}
                        )
                    except httpx.HTTPError:
                        return  # the server is gone
                    assert answer.status_code == 200, answer.text
                    created.append((entry_id, n))
                    progressed()

        def progressed() -> None:
            # Kill only once both kinds of write were acknowledged: on a busy machine the
            # creates alone could reach their count before the first update came back.
            if len(created) >= 60 and len(counters) >= 5:
                enough.set()

        def count() -> None:
            with httpx.Client(base_url=url, auth=auth, timeout=TIMEOUT) as client:
                for n in range(10_000):
                    body = {"id": "movies/dune", "data": {"counter": n}}
                    try:
                        answer = client.patch("/api/entries", json=body)
                    except httpx.HTTPError:
                        return
                    assert answer.status_code == 200, answer.text
                    counters.append(n)
                    progressed()

        with ThreadPoolExecutor(max_workers=4) as pool:
            running = [pool.submit(create, w) for w in range(3)] + [pool.submit(count)]
            assert enough.wait(TIMEOUT), "the writes did not get going"
            proc.kill()  # SIGKILL: no shutdown, no flush, connections cut mid-write
            proc.wait(TIMEOUT)
            for future in running:
                future.result(TIMEOUT)
    assert counters
    with _server(project.path) as (_, url):
        for entry_id, n in created:
            answer = _get(url, project, entry_id)
            assert answer.status_code == 200, entry_id
            assert answer.json()["data"]["n"] == n
        # The last acknowledged update is there, or the one in flight when it died.
        assert _get(url, project).json()["data"]["counter"] in (counters[-1], counters[-1] + 1)
