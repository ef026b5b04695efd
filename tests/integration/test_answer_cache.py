"""Kept read answers: reused while nothing changed, never once something did.

A collection's answer is kept under the change feed's head and the store's version:
a write through this server, a write by another server of the project, and an edit by
hand (as soon as the store sees it: at once on TinyDB, within the sweep on YAML) make
the next read answer what a server without the cache answers. Authentication and call
counting still run for every request; answers that may differ each time are not kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from flextype_adapters.tinydb_file import open_tinydb
from flextype_adapters.tinydb_store import TinyDBEntryStore
from flextype_adapters.yaml_files import ENTRY_FILE
from flextype_entrypoints.container import build_container
from flextype_entrypoints.http.answers import AnswerCache
from flextype_entrypoints.http.app import create_app
from flextype_entrypoints.project import open_project
from tests.feed_support import eventually
from tests.http_client import DRIVERS, Project, ProjectFactory
from tests.integration.postgres_support import new_schema, pg_init

_LIST = {"id": "movies", "options[collection]": "true"}


class Server:
    def __init__(self, client: TestClient[Any], project: Project) -> None:
        self.client = client
        self.project = project

    @property
    def answers(self) -> AnswerCache:
        answers: AnswerCache = self.client.app.state.answers
        return answers

    def get(self, params: dict[str, str], **kwargs: Any) -> httpx.Response:
        query = {**params, "token": self.project.token}
        return self.client.get("/api/entries", params=query, **kwargs)

    def titles(self) -> list[str]:
        response = self.get(_LIST)
        assert response.status_code == 200, response.text
        return sorted(str(item.get("title")) for item in response.json()["data"])

    def calls(self) -> int:
        container = self.client.app.state.container
        return int(container.tokens().fetch(self.project.token).calls)


@pytest.fixture(params=DRIVERS)
def project(request: pytest.FixtureRequest, projects: ProjectFactory, tmp_path: Path) -> Project:
    return projects(tmp_path / "project", request.param)


def _serve(project: Project, environ: dict[str, str] | None = None) -> Iterator[Server]:
    app = create_app(build_container(project.path, environ or {}))
    with TestClient(app) as client:
        yield Server(client, project)


@pytest.fixture
def server(project: Project) -> Iterator[Server]:
    yield from _serve(project)


def _uncached(project: Project) -> list[str]:
    """The titles a server that keeps no answer gives now."""
    for fresh in _serve(project, {"FLEXTYPE_API__RESPONSE_CACHE_MB": "0"}):
        assert fresh.answers.bytes == 0
        return fresh.titles()
    raise AssertionError("unreachable")


def test_a_collection_answer_is_kept_and_answered_again_unchanged(server: Server) -> None:
    first = server.get(_LIST)
    kept = server.answers.bytes
    assert kept > len(first.content)
    second = server.get(_LIST)
    assert second.content == first.content
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["x-changes-cursor"] == first.headers["x-changes-cursor"]
    assert server.answers.bytes == kept  # the same key: nothing new kept
    # The token in a header: the same answer.
    again = server.client.get(
        "/api/entries",
        params=_LIST,
        headers={"Authorization": f"Bearer {server.project.token}"},
    )
    assert again.content == first.content


def test_each_request_is_authorized_and_counted_even_when_its_answer_is_kept(
    server: Server,
) -> None:
    server.get(_LIST)
    before = server.calls()
    for _ in range(5):
        assert server.get(_LIST).status_code == 200
    assert server.calls() == before + 5
    refused = server.client.get("/api/entries", params={**_LIST, "token": "0" * 32})
    assert refused.status_code == 401
    assert server.client.get("/api/entries", params=_LIST).status_code == 401
    etag = server.get(_LIST).headers["etag"]
    not_modified = server.get(_LIST, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert server.calls() == before + 7


def test_a_write_through_the_api_is_in_the_next_answer(server: Server) -> None:
    before = server.titles()
    created = server.client.post(
        "/api/entries",
        json={
            "id": "movies/new-one",
            "data": {"title": "New One"},
            "token": server.project.token,
            "access_token": server.project.access_token,
        },
    )
    assert created.status_code == 200, created.text
    assert server.titles() == sorted([*before, "New One"])


def test_a_write_by_another_server_is_in_the_next_answer(project: Project) -> None:
    for first in _serve(project):
        before = first.titles()
        for second in _serve(project):
            second.client.app.state.container.entries().update("movies/dune", {"title": "Dune 2"})
        expected = sorted("Dune 2" if t == "Dune" else t for t in before)
        assert first.titles() == expected


def test_an_edit_by_hand_is_in_the_answers_as_soon_as_the_store_sees_it(
    server: Server, project: Project
) -> None:
    before = server.titles()
    assert "By hand" not in before
    if (project.path / "db.json").exists():
        db = open_tinydb(project.path / "db.json")  # another program's handle, no log
        try:
            TinyDBEntryStore(db).update(
                "movies/dune", lambda fields: {**fields, "title": "By hand"}
            )
        finally:
            db.close()
        assert "By hand" in server.titles()  # TinyDB sees the file changed at once
    else:
        path = project.path / "entries" / "movies" / "dune" / ENTRY_FILE
        saving = path.with_name(".saving")
        saving.write_text(path.read_text().replace("title: Dune", "title: By hand"))
        saving.replace(path)
        assert eventually(lambda: "By hand" in server.titles())  # within the sweep
    assert server.titles() == _uncached(project)


def test_answers_that_differ_each_time_are_not_kept(server: Server) -> None:
    for mode in ("random", "shuffle"):
        response = server.get({**_LIST, "options[filter][return]": mode})
        assert response.status_code == 200
    assert server.answers.bytes == 0
    server.get({**_LIST, "options[filter][return]": "first"})
    assert server.answers.bytes > 0


def test_with_no_memory_for_answers_none_is_kept(project: Project) -> None:
    for server in _serve(project, {"FLEXTYPE_API__RESPONSE_CACHE_MB": "0"}):
        first = server.get(_LIST)
        assert server.get(_LIST).content == first.content
        assert server.answers.bytes == 0


def test_registry_items_are_kept_and_counted(server: Server) -> None:
    query = {"id": "flextype.manifest.version", "token": server.project.token}
    first = server.client.get("/api/registry", params=query)
    assert first.status_code == 200
    kept = server.answers.bytes
    assert kept > 0
    before = server.calls()
    assert server.client.get("/api/registry", params=query).content == first.content
    assert server.answers.bytes == kept
    assert server.calls() == before + 1


def test_the_library_reads_what_the_server_kept_changes(project: Project) -> None:
    # A write by the library (another process's kind of write) moves the head as well.
    for server in _serve(project):
        server.titles()
        with open_project(project.path) as library:
            library.entries.delete("movies/dune")
        assert "Dune" not in server.titles()


def test_a_kept_answer_names_the_feeds_head_after_a_write_to_another_store(
    server: Server,
) -> None:
    # Entries unchanged, the feed moved on (a media change): the listing's cursor moves too.
    first = server.get(_LIST)
    container = server.client.app.state.container
    container.media().delete("demo/flextype.png")
    moved = server.get(_LIST)
    assert moved.content == first.content
    assert moved.headers["x-changes-cursor"] != first.headers["x-changes-cursor"]
    assert moved.headers["x-changes-cursor"] == container.changes().head_cursor()


def test_list_indexes_equal_as_numbers_keep_the_order_given(server: Server) -> None:
    # [01] and [1] are one index to PHP's rules and ours: the order given decides which
    # sort key comes first, so the same parameters in another order are another answer.
    one = [
        ("options[filter][sort_by][01][key]", "title"),
        ("options[filter][sort_by][1][key]", "year"),
    ]
    two = list(reversed(one))
    for given in (one, two):
        query = [("id", "movies"), ("options[collection]", "true"), *given]
        kept = server.client.get("/api/entries", params=[*query, ("token", server.project.token)])
        for fresh in _serve(server.project, {"FLEXTYPE_API__RESPONSE_CACHE_MB": "0"}):
            uncached = fresh.client.get(
                "/api/entries", params=[*query, ("token", server.project.token)]
            )
            assert kept.content == uncached.content


@pytest.fixture(params=[*DRIVERS, "postgres"])
def any_project(
    request: pytest.FixtureRequest, projects: ProjectFactory, tmp_path: Path
) -> Iterator[Project]:
    if request.param != "postgres":
        yield projects(tmp_path / "project", request.param)
        return
    url = request.getfixturevalue("postgres_url")
    with new_schema(url) as schema:
        made = pg_init(tmp_path / "pg", url, schema)
        yield Project(made.path, made.token, made.access_token)


def test_spending_a_limited_tokens_calls_keeps_the_answers_kept(any_project: Project) -> None:
    # A spend is a token change in the feed (PostgreSQL logs it): the feed's head moves at
    # each call, entries do not, and the kept answer goes on answering.
    for server in _serve(any_project):
        container = server.client.app.state.container
        limited = container.tokens().create({"limit_calls": 100, "apis": ["*"]}).token.token
        query = {**_LIST, "token": limited}
        first = server.client.get("/api/entries", params=query)
        assert first.status_code == 200, first.text
        kept = server.answers.bytes
        for _ in range(4):
            again = server.client.get("/api/entries", params=query)
            assert again.content == first.content
            assert again.headers["x-changes-cursor"] == container.changes().head_cursor()
        assert server.answers.bytes == kept
        assert container.tokens().fetch(limited).calls == 5


def test_a_page_with_a_cursor_names_where_its_walk_begins_now(server: Server) -> None:
    # meta.next holds the feed's head: after a change of another store, the first page
    # is the one a server keeping nothing gives now, not the one kept before.
    paged = {**_LIST, "options[filter][limit]": "2"}
    before = server.get(paged).json()["meta"]["next"]
    server.client.app.state.container.media().delete("demo/flextype.png")
    after = server.get(paged).json()["meta"]["next"]
    assert after != before
    for fresh in _serve(server.project, {"FLEXTYPE_API__RESPONSE_CACHE_MB": "0"}):
        assert fresh.get(paged).json()["meta"]["next"] == after
