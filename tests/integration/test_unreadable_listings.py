"""Listings survive a broken file: the rest is answered, the broken one is in meta.unreadable.

An entry file, a media sidecar or a token broken by hand (or a damaged TinyDB document)
is left out of its listing, named by id (never by path) in ``meta.unreadable``, and
logged as a warning, at most once a minute per file however many requests list it.
Fetching the broken item itself still answers a 500 naming it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tests.http_client import (
    ApiClient,
    Project,
    assert_error,
    data_of,
    serve,
)
from tests.integration.test_http_media import PNG, collection, uploaded


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    """What the storage adapters log (the app's logging setup replaces pytest's capture)."""
    handler = _Records()
    logger = logging.getLogger("flextype.storage")
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def _rewrite_db(project: Project, change: Any) -> None:
    path = project.path / "db.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    other = path.with_name("by-hand.json")
    other.write_text(json.dumps(data), encoding="utf-8")
    other.replace(path)


def break_entry(project: Project, entry_id: str) -> None:
    if (project.path / "entries").is_dir():
        (project.path / "entries" / entry_id / "entry.yaml").write_bytes(b"title: [unclosed\n")
        return

    def damage(data: dict[str, Any]) -> None:
        for doc in data["entries"].values():
            if doc["id"] == entry_id:
                doc["fields"] = ["not", "an", "object"]

    _rewrite_db(project, damage)


def break_token(project: Project, token_id: str) -> None:
    if (project.path / "tokens").is_dir():
        (project.path / "tokens" / f"{token_id}.yaml").write_text("calls: [unclosed\n")
        return

    def damage(data: dict[str, Any]) -> None:
        for doc in data["tokens"].values():
            if doc["token"] == token_id:
                doc["calls"] = "many"

    _rewrite_db(project, damage)


def meta_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    meta: dict[str, Any] = response.json()["meta"]
    return meta


def entries_page(api: ApiClient, entry_id: str, depth: str = "1") -> Any:
    params = {"id": entry_id, "options[collection]": "true", "options[find][depth]": depth}
    return api.get("entries", params)


# -- entries ------------------------------------------------------------------------------


def test_a_broken_entry_is_left_out_named_in_meta_and_logged(
    project: Project, warnings: list[str]
) -> None:
    break_entry(project, "movies/dune")
    with serve(project) as api:
        page = entries_page(api, "movies")
        ids = [e["id"] for e in data_of(page)]
        assert "movies/dune" not in ids and "movies/parasite" in ids
        assert meta_of(page)["unreadable"] == ["movies/dune"]
        assert meta_of(page)["total"] == len(ids)
        assert meta_of(entries_page(api, "", "all"))["unreadable"] == ["movies/dune"]
        # Out of range: not named.
        assert "unreadable" not in meta_of(entries_page(api, "", "1"))
        assert "unreadable" not in meta_of(entries_page(api, "blog"))
        body = assert_error(api.fetch("movies/dune"), 500, "InternalError")
        assert "'movies/dune'" in body["message"]
        for _ in range(20):
            assert meta_of(entries_page(api, "movies"))["unreadable"] == ["movies/dune"]
    assert len([m for m in warnings if "'movies/dune'" in m]) == 1, warnings


def test_a_broken_entry_fixed_or_deleted_leaves_meta_unreadable(project: Project) -> None:
    break_entry(project, "movies/dune")
    with serve(project) as api:
        assert meta_of(entries_page(api, "movies"))["unreadable"] == ["movies/dune"]
        assert api.send("DELETE", "entries", {"id": "movies/dune"}).status_code == 204
        page = entries_page(api, "movies")
        assert "unreadable" not in meta_of(page)
        assert "movies/dune" not in [e["id"] for e in data_of(page)]


def test_a_subtree_holding_a_broken_entry_is_not_copied_without_it(project: Project) -> None:
    break_entry(project, "movies/dune")
    with serve(project) as api:
        copied = api.send("PUT", "entries/copy", {"id": "movies", "new_id": "films"})
        body = assert_error(copied, 500, "InternalError")
        assert "'movies/dune'" in body["message"]
        assert_error(api.fetch("films"), 404, "NotFound")


def test_a_collection_of_only_broken_entries_is_no_404(project: Project) -> None:
    with serve(project) as api:
        data_of(api.send("POST", "entries", {"id": "drafts/one", "data": {}}))
    break_entry(project, "drafts/one")
    with serve(project) as api:
        page = entries_page(api, "drafts")
        assert data_of(page) == []
        assert meta_of(page)["unreadable"] == ["drafts/one"]


# -- media --------------------------------------------------------------------------------


def test_a_broken_sidecar_is_left_out_of_the_file_collection_and_logged_once(
    project: Project, warnings: list[str]
) -> None:
    with serve(project) as api:
        for name in ("a.png", "b.png", "c.png"):
            uploaded(api, name, PNG, folder="gallery")
        (project.path / "media" / "gallery" / ".b.png.meta.yaml").write_text("title: [unclosed")
        for _ in range(20):
            page = collection(api, "gallery")
            assert [f["id"] for f in data_of(page)] == ["gallery/a.png", "gallery/c.png"]
            assert meta_of(page)["unreadable"] == ["gallery/b.png"]
            assert meta_of(page)["total"] == 2
        deep = collection(api, "", **{"options[find][depth]": "all"})
        assert meta_of(deep)["unreadable"] == ["gallery/b.png"]
        assert "unreadable" not in meta_of(collection(api, ""))
        folders = data_of(api.get("media/folders", {"id": "", "options[collection]": "true"}))
        assert "gallery" in [f["id"] for f in folders]
        assert_error(api.get("media/files", {"id": "gallery/b.png"}), 500, "InternalError")
        assert api.send("DELETE", "media/files", {"id": "gallery/b.png"}).status_code == 204
        assert "unreadable" not in meta_of(collection(api, "gallery"))
    assert len([m for m in warnings if "gallery/b.png" in m]) == 1, warnings


# -- tokens -------------------------------------------------------------------------------


def test_a_broken_token_is_left_out_of_the_token_list_and_logged_once(
    project: Project, warnings: list[str]
) -> None:
    with serve(project) as api:
        other = data_of(api.send("POST", "tokens", {"data": {"title": "Other"}}))["token"]
        page = api.get("tokens", {"options[collection]": "true"})
        assert meta_of(page) == {"total": 2, "offset": 0, "limit": None}
    break_token(project, other)
    with serve(project) as api:
        for _ in range(20):
            page = api.get("tokens", {"options[collection]": "true"})
            assert [t["token"] for t in data_of(page)] == [project.token]
            assert meta_of(page) == {
                "total": 1,
                "offset": 0,
                "limit": None,
                "unreadable": [other],
            }
        assert api.send("DELETE", "tokens", {"id": other}).status_code == 204
        assert "unreadable" not in meta_of(api.get("tokens", {"options[collection]": "true"}))
    assert len([m for m in warnings if other in m]) == 1, warnings


def test_the_openapi_document_describes_meta_unreadable(project: Project) -> None:
    with serve(project) as api:
        document = api.request("GET", "/schema/openapi.json").json()
    unreadable = document["components"]["schemas"]["PageMeta"]["properties"]["unreadable"]
    assert unreadable["type"] == "array"
    assert unreadable["items"] == {"type": "string"}
    assert "absent when there are none" in unreadable["description"]
