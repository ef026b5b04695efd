"""The hot reads answered below Litestar answer exactly as Litestar's handlers do.

Two apps over one project: one with ``fast_reads`` (the default), one where Litestar
answers every request. Each request below goes to both; status, headers and body must
be the same, for successes, errors, conditional requests, HEAD, CORS and every auth
variant. The answers are computed by the same code (``reads.py``): what this guards is
what lies around it (parameters, credentials, error mapping, headers, bodies).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from litestar.testing import TestClient

from flextype_entrypoints.container import build_container
from flextype_entrypoints.http.app import create_app
from tests.http_client import DRIVERS, Project, ProjectFactory

# Set by the server for each connection, or by the clock: never the app's to match.
_VARYING = {"date", "server"}


class Pair:
    """The same project served with and without the fast reads."""

    def __init__(self, fast: TestClient[Any], slow: TestClient[Any], project: Project) -> None:
        self.fast = fast
        self.slow = slow
        self.project = project

    def both(self, method: str, url: str, **kwargs: Any) -> tuple[httpx.Response, httpx.Response]:
        return (
            self.fast.request(method, url, **kwargs),
            self.slow.request(method, url, **kwargs),
        )

    def same(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        fast, slow = self.both(method, url, **kwargs)
        assert fast.status_code == slow.status_code, (url, fast.text, slow.text)
        assert _headers(fast) == _headers(slow), url
        assert fast.content == slow.content, url
        return fast


def _headers(response: httpx.Response) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in response.headers.multi_items() if k not in _VARYING)


@pytest.fixture(params=DRIVERS)
def pair(
    request: pytest.FixtureRequest, projects: ProjectFactory, tmp_path: Path
) -> Iterator[Pair]:
    project = projects(tmp_path / "project", request.param)
    fast_app = create_app(build_container(project.path, {}))
    slow_app = create_app(build_container(project.path, {}), fast_reads=False)
    with TestClient(fast_app) as fast, TestClient(slow_app) as slow:
        yield Pair(fast, slow, project)


def _get(pair: Pair, path: str, **params: str) -> httpx.Response:
    return pair.same("GET", path, params=params)


@pytest.mark.parametrize("prefix", ["/api", "/api/v0", "/api/v1"])
def test_entry_and_collection_reads_answer_alike(pair: Pair, prefix: str) -> None:
    token = pair.project.token
    entries = f"{prefix}/entries"
    assert _get(pair, entries, id="movies/dune", token=token).status_code == 200
    assert _get(pair, entries, id="movies", token=token, **{"options[collection]": "true"}).json()[
        "data"
    ]
    paged = _get(
        pair,
        entries,
        id="movies",
        token=token,
        **{"options[collection]": "true", "options[filter][limit]": "1"},
    )
    assert paged.headers["link"].endswith('rel="next"')
    assert _get(pair, entries, token=token, **{"options[collection]": "true"}).status_code == 200


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"id": "movies/none"}, 404),
        ({"id": "../etc/passwd"}, 400),
        ({"id": "movies\x00x"}, 400),
        ({}, 400),
        ({"id": "movies", "options[collection]": "true", "options[filter][limit]": "x"}, 400),
        ({"id": "movies", "options[collection]": "true", "options[filter][nope]": "1"}, 400),
        ({"id": "movies", "options[collection]": "true", "options[filter][after]": "forged"}, 400),
        ({"id": "movies", "options[collection]": "true", "options[method]": "nope"}, 400),
        ({"id": "movies", "options[collection]": "true", "options[filter][return]": "first"}, 200),
        ({"id": "missing-parent", "options[collection]": "true"}, 404),
        (
            {
                "id": "movies",
                "options[collection]": "true",
                "options[filter][where][0][key]": "title",
                "options[filter][where][0][operator]": "nope",
                "options[filter][where][0][value]": "x",
            },
            400,
        ),
    ],
)
def test_errors_answer_alike(pair: Pair, params: dict[str, str], status: int) -> None:
    response = _get(pair, "/api/entries", token=pair.project.token, **params)
    assert response.status_code == status, response.text


@pytest.mark.parametrize("path", ["/api/entries", "/api/registry", "/api/images/demo/flextype.png"])
def test_auth_variants_answer_alike(pair: Pair, path: str) -> None:
    token = pair.project.token
    params = {
        "/api/entries": {"id": "movies/dune"},
        "/api/registry": {"id": "flextype.manifest.version"},
    }.get(path, {"w": "40"})
    assert pair.same("GET", path, params=params).status_code == 401  # no token
    assert pair.same("GET", path, params={**params, "token": "0" * 32}).status_code == 401
    bearer = {"Authorization": f"Bearer {token}"}
    assert pair.same("GET", path, params=params, headers=bearer).status_code == 200
    basic = base64.b64encode(f"{token}:{pair.project.access_token}".encode()).decode()
    basic_header = {"Authorization": f"Basic {basic}"}
    assert pair.same("GET", path, params=params, headers=basic_header).status_code == 200
    bad = {"Authorization": "Bearer"}
    assert pair.same("GET", path, params=params, headers=bad).status_code == 401


def test_conditional_head_and_cors_answer_alike(pair: Pair) -> None:
    token = pair.project.token
    for path, params in [
        ("/api/entries", {"id": "movies/dune"}),
        ("/api/entries", {"id": "movies", "options[collection]": "true"}),
        ("/api/registry", {"id": "flextype.manifest"}),
        ("/api/images/demo/flextype.png", {"w": "40"}),
    ]:
        query = {**params, "token": token}
        first = pair.same("GET", path, params=query)
        etag = first.headers["etag"]
        for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            assert (
                pair.same("GET", path, params=query, headers={"If-None-Match": header}).status_code
                == 304
            )
        assert (
            pair.same("GET", path, params=query, headers={"If-None-Match": '"x"'}).status_code
            == 200
        )
        head = pair.same("HEAD", path, params=query)
        assert head.content == b""
        assert head.headers["etag"] == etag
        cors = pair.same("GET", path, params=query, headers={"Origin": "https://example.com"})
        assert cors.headers["access-control-allow-origin"]


def test_registry_and_image_errors_answer_alike(pair: Pair) -> None:
    token = pair.project.token
    assert _get(pair, "/api/registry", id="flextype.nope", token=token).status_code == 404
    assert _get(pair, "/api/registry", id="", token=token).status_code == 400
    assert _get(pair, "/api/registry", token=token).status_code == 400
    assert _get(pair, "/api/images/demo/none.png", w="40", token=token).status_code == 404
    assert _get(pair, "/api/images/demo/flextype.png", w="x", token=token).status_code == 400
    assert _get(pair, "/api/images/demo/flextype.png", w="40", s="forged").status_code == 401
    assert _get(pair, "/api/images/../settings.yaml", token=token).status_code in (400, 404)


def test_a_query_string_too_long_answers_alike(pair: Pair) -> None:
    response = pair.same("GET", "/api/entries?id=movies/dune&x=" + "a" * 40_000)
    assert response.status_code == 414


def test_a_get_with_a_body_goes_to_litestar_and_answers_alike(pair: Pair) -> None:
    body = {"id": "movies/dune", "token": pair.project.token}
    response = pair.same("GET", "/api/entries", json=body)
    assert response.status_code == 200
    assert response.json()["data"]["id"] == "movies/dune"


@pytest.mark.parametrize(
    "path",
    [
        "/api/images/demo//flextype.png",
        "/api/images/demo/flextype.png/",
        "/api/images//",
        "/api/images/",
        "/api/images/demo/./flextype.png",
        "/api/images/demo/%2e%2e/settings.yaml",
    ],
)
def test_image_paths_the_router_would_rewrite_answer_alike(pair: Pair, path: str) -> None:
    params = {"w": "40", "token": pair.project.token}
    fast = pair.fast.get(path, params=params)
    slow = pair.slow.get(path, params=params)
    assert (fast.status_code, fast.content) == (slow.status_code, slow.content), path


def _raw_get(
    app: Any, path: str, query: str, headers: list[tuple[bytes, bytes]]
) -> tuple[int, bytes]:
    """GET through the app's ASGI callable with these raw header lines (a test client
    merges a header sent twice, a server does not)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    anyio.run(app, scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_a_header_sent_twice_is_read_as_litestar_reads_it(pair: Pair) -> None:
    token = pair.project.token
    fast, slow = pair.fast.app, pair.slow.app
    good, bad = f"Bearer {token}".encode(), b"Bearer " + b"0" * 32
    for lines in ([good, bad], [bad, good]):
        headers = [(b"authorization", line) for line in lines]
        answers = [_raw_get(app, "/api/entries", "id=movies/dune", headers) for app in (fast, slow)]
        assert answers[0] == answers[1]
    query = f"id=movies/dune&token={token}"
    etag = pair.slow.get("/api/entries", params={"id": "movies/dune", "token": token})
    for tags in (['"x"', etag.headers["etag"]], [etag.headers["etag"], '"x"']):
        headers = [(b"if-none-match", tag.encode()) for tag in tags]
        answers = [_raw_get(app, "/api/entries", query, headers) for app in (fast, slow)]
        assert answers[0] == answers[1]
