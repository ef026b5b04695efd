"""Two ``flextype serve`` processes on one database: every guarantee holds across them.

Each server has its own project folder holding only the settings file (a copy), as two
hosts behind a load balancer would. A guarantee that holds on one server but not across
two (a cache, a count or a lock kept in a process) fails here.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

from flextype_entrypoints.project import open_project
from tests.http_client import assert_error
from tests.integration.postgres_support import PgProject, copy_settings, new_schema, pg_init
from tests.integration.test_serve import _server, _stop

TIMEOUT = 60.0


class Servers(NamedTuple):
    project: PgProject
    a: str
    b: str
    procs: tuple[subprocess.Popen[str], subprocess.Popen[str]]

    @property
    def auth(self) -> tuple[str, str]:
        return (self.project.token, self.project.access_token)

    def url(self, n: int) -> str:
        """Server A for even ``n``, B for odd: requests spread over both."""
        return self.a if n % 2 == 0 else self.b


@pytest.fixture
def servers(tmp_path: Path, postgres_url: str) -> Iterator[Servers]:
    with new_schema(postgres_url) as schema:
        seed = pg_init(tmp_path / "seed", postgres_url, schema)
        a = copy_settings(seed.path, tmp_path / "a")
        b = copy_settings(seed.path, tmp_path / "b")
        assert sorted(p.name for p in a.iterdir()) == ["flextype.yaml"]
        with _server(a) as (proc_a, url_a), _server(b) as (proc_b, url_b):
            yield Servers(seed, url_a, url_b, (proc_a, proc_b))


def _get(url: str, entry_id: str, token: str, **params: str) -> httpx.Response:
    query = {"id": entry_id, "token": token, **params}
    return httpx.get(f"{url}/api/entries", params=query, timeout=TIMEOUT)


def _fields(url: str, entry_id: str, token: str) -> dict[str, Any]:
    response = _get(url, entry_id, token)
    assert response.status_code == 200, response.text
    fields: dict[str, Any] = response.json()["data"]
    return fields


def _ids(url: str, entry_id: str, token: str, depth: str = "1") -> set[str]:
    params = {"options[collection]": "true", "options[find][depth]": depth}
    response = _get(url, entry_id, token, **params)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["data"]}


def _count_dune(url: str, auth: tuple[str, str], n: int) -> None:
    """PATCH ``counter`` = ``n`` into ``movies/dune`` through the server at ``url``."""
    patched = httpx.patch(
        f"{url}/api/entries",
        json={"id": "movies/dune", "data": {"counter": n}},
        auth=auth,
        timeout=TIMEOUT,
    )
    assert patched.status_code == 200, patched.text


def _racing_writes(servers: Servers, etag: str, round_: int) -> list[httpx.Response]:
    """PATCH the same entry through both servers at once, both with ``If-Match: etag``."""
    start = threading.Barrier(2)

    def write(n: int) -> httpx.Response:
        start.wait(TIMEOUT)
        return httpx.patch(
            f"{servers.url(n)}/api/entries",
            json={"id": "movies/dune", "data": {"writer": n, "round": round_}},
            headers={"If-Match": etag},
            auth=servers.auth,
            timeout=TIMEOUT,
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(write, range(2)))


def test_if_match_lets_exactly_one_of_two_writers_on_two_servers_win(servers: Servers) -> None:
    token = servers.project.token
    for round_ in range(8):
        # Read through one server, write the same version through both at once.
        etag = _get(servers.url(round_ + 1), "movies/dune", token).headers["etag"]
        answers = _racing_writes(servers, etag, round_)
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200, 412], [a.text for a in answers]
        loser = next(a for a in answers if a.status_code == 412)
        winner = next(a for a in answers if a.status_code == 200)
        assert_error(loser, 412, "PreconditionFailed")
        for url in (servers.a, servers.b):
            stored = _get(url, "movies/dune", token)
            assert stored.headers["etag"] == winner.headers["etag"]
            assert stored.json()["data"]["writer"] == winner.json()["data"]["writer"]


def test_concurrent_patches_of_different_fields_through_both_servers_are_all_kept(
    servers: Servers,
) -> None:
    def write(n: int) -> int:
        return httpx.patch(
            f"{servers.url(n)}/api/entries",
            json={"id": "movies/dune", "data": {f"field_{n}": n}},
            auth=servers.auth,
            timeout=TIMEOUT,
        ).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(write, range(40)))
    assert statuses == [200] * 40
    for url in (servers.a, servers.b):
        stored = _fields(url, "movies/dune", servers.project.token)
        assert {f"field_{n}": n for n in range(40)}.items() <= stored.items()
        assert stored["title"] == "Dune"


def _limited_token(url: str, auth: tuple[str, str], limit: int) -> str:
    created = httpx.post(
        f"{url}/api/tokens",
        json={"data": {"title": "limited", "limit_calls": limit}},
        auth=auth,
        timeout=TIMEOUT,
    )
    assert created.status_code == 200, created.text
    token: str = created.json()["data"]["token"]
    return token


def test_a_call_limit_holds_exactly_over_two_servers(servers: Servers) -> None:
    sequential = _limited_token(servers.a, servers.auth, 5)
    concurrent = _limited_token(servers.b, servers.auth, 7)
    answers = [_get(servers.url(n), "movies/dune", sequential).status_code for n in range(20)]
    assert answers == [200] * 5 + [429] * 15

    def fetch(n: int) -> httpx.Response:
        return _get(servers.url(n), "movies/dune", concurrent)

    with ThreadPoolExecutor(max_workers=20) as pool:
        racing = list(pool.map(fetch, range(40)))
    assert sorted(r.status_code for r in racing) == [200] * 7 + [429] * 33
    for refused in (r for r in racing if r.status_code == 429):
        assert_error(refused, 429, "CallLimitExceeded")


def test_calls_are_exact_once_both_servers_have_flushed(servers: Servers) -> None:
    token = servers.project.token

    def fetch(n: int) -> int:
        return _get(servers.url(n), "movies/dune", token).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(fetch, range(150)))
    assert statuses == [200] * 150
    for proc in servers.procs:  # a stop writes what the server still counts in memory
        code, _, err = _stop(proc, signal.SIGTERM)
        assert code == 0, err
    with open_project(servers.project.path) as project:
        assert project.tokens.fetch(token).calls == 150


def test_a_write_acknowledged_by_one_server_is_seen_by_the_next_request_to_the_other(
    servers: Servers,
) -> None:
    token, auth = servers.project.token, servers.auth
    for n in range(10):
        writer, reader = servers.url(n), servers.url(n + 1)
        assert _fields(reader, "movies/dune", token).get("counter") == (n - 1 if n else None)
        _count_dune(writer, auth, n)
        assert _fields(reader, "movies/dune", token)["counter"] == n
    # A subtree: made through A, read (and cached) through B, moved and deleted through A.
    for entry_id, n in [
        ("shelf", -2),
        ("shelf/tree", -1),
        *((f"shelf/tree/{n}", n) for n in range(6)),
    ]:
        created = httpx.post(
            f"{servers.a}/api/entries",
            json={"id": entry_id, "data": {"n": n}},
            auth=auth,
            timeout=TIMEOUT,
        )
        assert created.status_code == 200, created.text
        assert _fields(servers.b, entry_id, token) == created.json()["data"]
    assert _ids(servers.b, "shelf/tree", token) == {f"shelf/tree/{n}" for n in range(6)}
    assert _ids(servers.b, "", token, depth="all") >= {"shelf/tree/5"}
    moved = httpx.put(
        f"{servers.a}/api/entries",
        json={"id": "shelf/tree", "new_id": "shelf/moved"},
        auth=auth,
        timeout=TIMEOUT,
    )
    assert moved.status_code == 200, moved.text
    assert _get(servers.b, "shelf/tree/3", token).status_code == 404
    assert _fields(servers.b, "shelf/moved/3", token)["n"] == 3
    assert _ids(servers.b, "shelf/moved", token) == {f"shelf/moved/{n}" for n in range(6)}
    assert _ids(servers.b, "shelf", token) == {"shelf/moved"}
    assert not any(i.startswith("shelf/tree") for i in _ids(servers.b, "", token, depth="all"))
    deleted = httpx.request(
        "DELETE",
        f"{servers.a}/api/entries",
        json={"id": "shelf/moved"},
        auth=auth,
        timeout=TIMEOUT,
    )
    assert deleted.status_code == 204, deleted.text
    assert _get(servers.b, "shelf/moved", token).status_code == 404
    assert _get(servers.b, "shelf/moved/3", token).status_code == 404
    assert _ids(servers.b, "shelf", token) == set()
    assert not any(i.startswith("shelf/") for i in _ids(servers.b, "", token, depth="all"))


def test_a_token_created_on_one_server_works_on_the_other(servers: Servers) -> None:
    created = httpx.post(
        f"{servers.a}/api/tokens",
        json={"data": {"title": "made on A", "apis": ["*"]}},
        auth=servers.auth,
        timeout=TIMEOUT,
    )
    assert created.status_code == 200, created.text
    data = created.json()["data"]
    token, access = data["token"], data["access_token"]
    assert _get(servers.b, "movies/dune", token).status_code == 200
    written = httpx.post(
        f"{servers.b}/api/entries",
        json={"id": "from-b", "data": {"title": "by the new token"}},
        auth=(token, access),
        timeout=TIMEOUT,
    )
    assert written.status_code == 200, written.text
    assert _get(servers.a, "movies/dune", token).status_code == 200  # A now remembers it
    disabled = httpx.patch(
        f"{servers.b}/api/tokens",
        json={"id": token, "data": {"state": "disabled"}},
        auth=servers.auth,
        timeout=TIMEOUT,
    )
    assert disabled.status_code == 200, disabled.text
    assert_error(_get(servers.a, "movies/dune", token), 401, "AccessTokenInvalid")


def test_a_collection_kept_by_one_server_shows_a_write_made_through_the_other(
    servers: Servers,
) -> None:
    token, auth = servers.project.token, servers.auth
    params = {"options[collection]": "true"}
    for n in range(5):
        listed = [_get(servers.b, "movies", token, **params) for _ in range(2)]
        assert listed[0].content == listed[1].content  # the second is the kept answer
        _count_dune(servers.a, auth, n)
        after = _get(servers.b, "movies", token, **params)
        assert after.headers["etag"] != listed[0].headers["etag"]
        dune = next(item for item in after.json()["data"] if item["id"] == "movies/dune")
        assert dune["counter"] == n
