"""The service endpoints (api.md section 13): ``/``, ``/health``, and HEAD wherever GET is."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from litestar.routes import HTTPRoute

import flextype_core
from flextype_core.webhook_port import Progress, Webhook
from tests.http_client import (
    ApiClient,
    ProjectFactory,
    assert_error,
    data_of,
    serve,
)

# -- / and /health ----------------------------------------------------------------------------


def test_the_root_points_to_the_docs_the_schema_and_the_health_check(api: ApiClient) -> None:
    response = api.request("GET", "/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["docs"] == "/docs"
    assert body["openapi"] == "/schema/openapi.json"
    assert body["health"] == "/health"
    for link in ("docs", "openapi", "health"):
        assert api.request("GET", body[link], follow_redirects=True).status_code == 200


def test_health_answers_ok_and_the_version_without_a_token(api: ApiClient) -> None:
    response = api.request("GET", "/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "version": flextype_core.__version__,
        "changes": "ok",
    }


def _break_folder(folder: Path) -> None:
    shutil.rmtree(folder)
    folder.write_text("not a folder\n")


@pytest.mark.parametrize("folder", ["entries", "tokens"])
def test_health_is_503_when_a_yaml_storage_folder_is_not_a_folder(
    projects: ProjectFactory, tmp_path: Path, folder: str
) -> None:
    project = projects(tmp_path / "project", "yaml")
    with serve(project) as api:
        assert api.request("GET", "/health").status_code == 200
        _break_folder(project.path / folder)
        body = assert_error(api.request("GET", "/health"), 503, "ServiceUnavailable")
        assert folder in body["message"]
        (project.path / folder).unlink()
        (project.path / folder).mkdir()
        assert api.request("GET", "/health").status_code == 200


@pytest.mark.parametrize("folder", ["entries", "tokens"])
def test_health_is_ok_when_a_yaml_storage_folder_is_not_made_yet(
    projects: ProjectFactory, tmp_path: Path, folder: str
) -> None:
    # A project opened as a library, or emptied by hand: reads take it as empty, and so
    # does the health check (the first write makes the folder).
    project = projects(tmp_path / "project", "yaml", demo=False)
    shutil.rmtree(project.path / folder)
    with serve(project) as api:
        assert api.request("GET", "/health").status_code == 200


def test_health_is_503_when_the_tinydb_file_is_not_json(
    projects: ProjectFactory, tmp_path: Path
) -> None:
    project = projects(tmp_path / "project", "tinydb")
    with serve(project) as api:
        assert api.request("GET", "/health").status_code == 200
        good = (project.path / "db.json").read_bytes()
        (project.path / "db.json").write_text("{not json")
        body = assert_error(api.request("GET", "/health"), 503, "ServiceUnavailable")
        assert "db.json" in body["message"]
        (project.path / "db.json").write_bytes(good)
        assert api.request("GET", "/health").status_code == 200


# -- HEAD -------------------------------------------------------------------------------------

_PATH_EXAMPLES = {
    "/api/images/{image_path}": "demo/flextype.png",
    "/media/{file_path}": "demo/flextype.png",
    "/schema/{path}": "nowhere",
}
"""A value for each path parameter of a GET route (a static asset's is read from the page)."""

_QUERY_EXAMPLES = {
    "entries": {"id": "movies/dune"},
    "registry": {"id": "flextype.manifest.version"},
    "media/files": {"id": "demo/flextype.png"},
    "media/folders": {"id": "demo"},
    "images": {"w": "8"},
    "webhooks": {"options[collection]": "true"},
    "webhooks/deliveries": {"id": "a" * 32},
}
_COMPARED = ("content-type", "content-length", "etag", "location", "cache-control")


def _get_routes(api: ApiClient) -> list[str]:
    return sorted(
        route.path_format
        for route in api.client.app.routes
        if isinstance(route, HTTPRoute) and "GET" in route.route_handler_map
    )


def _example_url(api: ApiClient, path_format: str) -> str:
    if "{" in path_format:
        if path_format.endswith("/static/{file_path}"):
            page = api.request("GET", "/docs", follow_redirects=True).text
            asset = re.search(r'src="([^"]+\.js)"', page)
            assert asset is not None
            return asset[1]
        value = _PATH_EXAMPLES.get(re.sub(r"^/api/v[01]/", "/api/", path_format))
        assert value is not None, f"add an example for {path_format} to _PATH_EXAMPLES"
        return re.sub(r"\{[^}]+\}", value, path_format)
    return path_format


def _example_query(api: ApiClient, path_format: str, other_token: str) -> dict[str, str]:
    family = re.sub(r"^/api(/v[01])?/", "", path_format).split("/{")[0]
    if not path_format.startswith("/api/"):
        return {}
    query = {"token": api.token, **_QUERY_EXAMPLES.get(family, {})}
    if family == "tokens":
        # Another token than the one asking: its ETag does not change with this call.
        query["id"] = other_token
    return query


def test_head_answers_every_get_route_with_the_same_status_and_headers_and_no_body(
    api: ApiClient,
) -> None:
    other = data_of(api.send("POST", "tokens", {"data": {"title": "Other"}}))["token"]
    hook = Webhook(id="a" * 32, url="https://x.example/", events=["*"], created_at=1, modified_at=1)
    api.container.webhook_store().create(hook, "whsec_x", Progress(position=0))
    routes = _get_routes(api)
    assert {"/", "/health", "/docs", "/api/entries", "/media/{file_path}"} <= set(routes)
    for path_format in routes:
        url = _example_url(api, path_format)
        query = _example_query(api, path_format, other)
        got = api.request("GET", url, params=query)
        head = api.request("HEAD", url, params=query)
        assert head.status_code == got.status_code, (path_format, head.status_code)
        assert head.content == b"", path_format
        for name in _COMPARED:
            assert head.headers.get(name) == got.headers.get(name), (path_format, name)
        if path_format.startswith("/api/"):
            assert got.status_code in {200, 304}, (path_format, got.text)


def test_head_counts_a_token_call_as_get_does(api: ApiClient) -> None:
    for _ in range(2):
        head = api.request("HEAD", "/api/entries", params={"id": "movies", "token": api.token})
        assert head.status_code == 200
    token = data_of(api.get("tokens", {"id": api.token}))
    assert token["calls"] == 3


def test_head_where_no_get_is_answered_is_405_without_a_body(api: ApiClient) -> None:
    response = api.request("HEAD", "/api/entries/copy")
    assert response.status_code == 405
    assert response.content == b""
