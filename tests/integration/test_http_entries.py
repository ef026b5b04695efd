"""The Entries API over HTTP (api.md sections 1, 2 and 4), on both storage drivers.

The seed's examples are replayed as written: create ``movies/platform``, update its
content, move it twice, copy it, delete the copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.http_client import (
    DRIVERS,
    PREFIXES,
    ApiClient,
    assert_error,
    data_of,
    files_of,
    is_uuid4,
    new_project,
    serve,
)

SEED_TOKEN = {"token": "f3acf199a9ac120d3bfd604e1e382456"}
CREATE_CONTENT = (
    "The Platform (Spanish: El hoyo, transl. The Hole) is a Spanish science fiction "
    "horror-thriller film, directed by Galder Gaztelu-Urrutia and released in 2019."
)
UPDATE_CONTENT = (
    "A vertical prison with one cell per level. Two people per cell. One only food "
    "platform and two minutes per day to feed from up to down. An endless nightmare "
    "trapped in The Hole."
)
SEED_KEYS = {
    "title",
    "uuid",
    "published_at",
    "created_at",
    "published_by",
    "created_by",
    "routable",
    "visibility",
    "content",
    "modified_at",
    "slug",
}
DEMO_MOVIES = [
    "movies/birds-of-prey",
    "movies/dune",
    "movies/everything-everywhere-all-at-once",
    "movies/parasite",
    "movies/spirited-away",
]
QUIET_COUNTS = {
    "FLEXTYPE_TOKENS__FLUSH_EVERY": "1000000",
    "FLEXTYPE_TOKENS__FLUSH_INTERVAL": "1000000",
}


def assert_entry_shape(entry: dict[str, Any], entry_id: str) -> None:
    assert entry["id"] == entry_id
    assert entry["slug"] == entry_id
    assert is_uuid4(entry["uuid"])
    for field in ("created_at", "modified_at", "published_at"):
        assert type(entry[field]) is int, field
    assert entry["modified_at"] >= entry["created_at"]


# -- the seed, step by step ---------------------------------------------------------------


def test_the_seed_examples_create_update_move_copy_and_delete_the_platform(api: ApiClient) -> None:
    created = data_of(
        api.send(
            "POST",
            "entries",
            {"id": "movies/platform", "data": {"title": "Platform", "content": CREATE_CONTENT}},
        )
    )
    assert set(created) == SEED_KEYS | {"id"}
    assert_entry_shape(created, "movies/platform")
    assert created["title"] == "Platform"
    assert created["content"] == CREATE_CONTENT
    assert created["published_by"] == ""
    assert created["created_by"] == ""
    assert created["routable"] is True
    assert created["visibility"] == "visible"
    assert data_of(api.fetch("movies/platform")) == created

    updated = data_of(
        api.send("PATCH", "entries", {"id": "movies/platform", "data": {"content": UPDATE_CONTENT}})
    )
    assert updated == {**created, "content": UPDATE_CONTENT, "modified_at": updated["modified_at"]}
    assert updated["modified_at"] >= created["modified_at"]
    assert data_of(api.fetch("movies/platform")) == updated

    # Moving onto an existing entry is refused and changes nothing.
    assert_error(
        api.send("PUT", "entries", {"id": "movies/platform", "new_id": "movies/dune"}),
        409,
        "Conflict",
    )

    moved = data_of(
        api.send("PUT", "entries", {"id": "movies/platform", "new_id": "movies/the-platform"})
    )
    assert moved == {**updated, "id": "movies/the-platform", "slug": "movies/the-platform"}
    assert_error(api.fetch("movies/platform"), 404, "NotFound")

    moved_again = data_of(
        api.send(
            "PUT", "entries", {"id": "movies/the-platform", "new_id": "movies/2019/the-platform"}
        )
    )
    assert moved_again == {**moved, "id": "movies/2019/the-platform", "slug": moved_again["slug"]}
    assert moved_again["slug"] == "movies/2019/the-platform"
    assert_error(api.fetch("movies/the-platform"), 404, "NotFound")
    assert_error(api.fetch("movies/2019"), 404, "NotFound")  # a folder, not an entry

    copied = data_of(
        api.send(
            "PUT",
            "entries/copy",
            {"id": "movies/2019/the-platform", "new_id": "movies/horror/the-platform"},
        )
    )
    assert_entry_shape(copied, "movies/horror/the-platform")
    assert copied["uuid"] != moved_again["uuid"]
    assert copied["content"] == UPDATE_CONTENT
    assert copied["title"] == "Platform"
    assert data_of(api.fetch("movies/2019/the-platform")) == moved_again

    deleted = api.send("DELETE", "entries", {"id": "movies/horror/the-platform"})
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_error(api.fetch("movies/horror/the-platform"), 404, "NotFound")
    assert_error(
        api.send("DELETE", "entries", {"id": "movies/horror/the-platform"}), 404, "NotFound"
    )


def test_the_seed_fetch_examples_answer_an_entry_and_a_collection(api: ApiClient) -> None:
    movies = data_of(api.fetch("movies"))
    assert_entry_shape(movies, "movies")
    assert movies["title"] == "Movies"
    collection = data_of(api.fetch("movies", collection="true"))
    assert isinstance(collection, list)
    assert [item["id"] for item in collection] == DEMO_MOVIES


def test_children_move_and_copy_with_their_parent(api: ApiClient) -> None:
    child = data_of(api.fetch("blog/hello-world"))
    data_of(api.send("PUT", "entries", {"id": "blog", "new_id": "journal"}))
    assert_error(api.fetch("blog/hello-world"), 404, "NotFound")
    assert_error(api.fetch("blog"), 404, "NotFound")
    moved_child = data_of(api.fetch("journal/hello-world"))
    assert moved_child == {**child, "id": "journal/hello-world", "slug": "journal/hello-world"}

    copy = data_of(api.send("PUT", "entries/copy", {"id": "journal", "new_id": "archive/journal"}))
    assert copy["slug"] == "archive/journal"
    copied_child = data_of(api.fetch("archive/journal/hello-world"))
    assert copied_child["uuid"] != moved_child["uuid"]
    assert copied_child["author"] == child["author"]
    assert data_of(api.fetch("journal/hello-world")) == moved_child

    assert api.send("DELETE", "entries", {"id": "journal"}).status_code == 204
    assert_error(api.fetch("journal/hello-world"), 404, "NotFound")


def test_moving_an_entry_into_its_own_subtree_is_a_bad_request(api: ApiClient) -> None:
    for verb in ("entries", "entries/copy"):
        response = api.send("PUT", verb, {"id": "movies", "new_id": "movies/old/movies"})
        assert_error(response, 400, "BadRequest")
    assert [item["id"] for item in api.collection("movies")] == DEMO_MOVIES


# -- collections ---------------------------------------------------------------------------


def test_a_collection_is_a_list_ordered_by_id_with_each_item_s_id(api: ApiClient) -> None:
    for title in ("zulu", "alpha", "Mike"):
        data_of(api.send("POST", "entries", {"id": f"movies/{title}", "data": {"title": title}}))
    items = api.collection("movies")
    ids = [item["id"] for item in items]
    assert ids == sorted([*DEMO_MOVIES, "movies/zulu", "movies/alpha", "movies/Mike"])
    for item in items:
        assert_entry_shape(item, item["id"])


@pytest.mark.parametrize("flag", ["1", "true", "on", "yes", "TRUE"])
def test_every_truthy_collection_flag_asks_for_a_collection(api: ApiClient, flag: str) -> None:
    assert isinstance(data_of(api.fetch("movies", collection=flag)), list)


@pytest.mark.parametrize("flag", ["0", "false", "off", ""])
def test_a_falsy_collection_flag_answers_the_entry_itself(api: ApiClient, flag: str) -> None:
    assert data_of(api.fetch("movies", collection=flag))["id"] == "movies"


def test_find_depth_all_collects_every_descendant_but_no_bare_folder(api: ApiClient) -> None:
    data_of(api.send("POST", "entries", {"id": "movies/2019/deep/cut", "data": {"title": "x"}}))
    data_of(api.send("POST", "entries", {"id": "movies/2019/parasite", "data": {"title": "y"}}))
    direct = [item["id"] for item in api.collection("movies")]
    assert direct == DEMO_MOVIES
    every = [item["id"] for item in api.collection("movies", depth="all")]
    assert every == sorted([*DEMO_MOVIES, "movies/2019/deep/cut", "movies/2019/parasite"])
    two = [item["id"] for item in api.collection("movies", depth="2")]
    assert two == sorted([*DEMO_MOVIES, "movies/2019/parasite"])
    below_folder = [item["id"] for item in api.collection("movies/2019")]
    assert below_folder == ["movies/2019/parasite"]


def test_the_root_collection_lists_the_top_level_entries(api: ApiClient) -> None:
    for root in ("", "/"):
        assert [item["id"] for item in api.collection(root)] == ["blog", "home", "movies"]


def test_the_empty_collection_of_an_existing_entry_is_an_empty_list(api: ApiClient) -> None:
    response = api.fetch("home", collection="true")
    assert response.status_code == 200
    assert response.json() == {"data": [], "meta": {"total": 0, "offset": 0, "limit": None}}


def test_the_collection_of_an_id_that_names_nothing_is_not_found(api: ApiClient) -> None:
    assert_error(api.fetch("nothing-here", collection="true"), 404, "NotFound")


@pytest.mark.parametrize("depth", ["0", "-1", "deep", "1.5"])
def test_a_bad_find_depth_is_a_bad_request(api: ApiClient, depth: str) -> None:
    params = {"id": "movies", "options[collection]": "true", "options[find][depth]": depth}
    assert_error(api.get("entries", params), 400, "BadRequest")


# -- prefixes, trailing slashes, bodies ------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("slash", ["", "/"], ids=["bare", "trailing-slash"])
def test_every_prefix_and_a_trailing_slash_behave_identically(
    api: ApiClient, prefix: str, slash: str
) -> None:
    reference = data_of(api.fetch("movies"))
    reference_list = api.collection("movies")
    there = api.at(prefix)

    assert data_of(there.get("entries" + slash, {"id": "movies"})) == reference
    listed = there.get("entries" + slash, {"id": "movies", "options[collection]": "true"})
    assert data_of(listed) == reference_list
    assert_error(there.get("entries" + slash, {"id": "movies/nope"}), 404, "NotFound")

    created = data_of(there.send("POST", "entries" + slash, {"id": "p", "data": {"title": "P"}}))
    assert_entry_shape(created, "p")
    patched = data_of(there.send("PATCH", "entries" + slash, {"id": "p", "data": {"n": 1}}))
    assert patched["n"] == 1
    moved = data_of(there.send("PUT", "entries" + slash, {"id": "p", "new_id": "q"}))
    assert moved["slug"] == "q"
    copied = data_of(there.send("PUT", "entries/copy" + slash, {"id": "q", "new_id": "r"}))
    assert copied["slug"] == "r"
    assert there.send("DELETE", "entries" + slash, {"id": "q"}).status_code == 204
    assert there.send("DELETE", "entries" + slash, {"id": "r"}).status_code == 204
    assert_error(there.send("DELETE", "entries" + slash, {"id": "r"}), 404, "NotFound")


def test_form_bodies_with_bracket_keys_write_strings(api: ApiClient) -> None:
    form = {
        "id": "movies/form",
        "data[title]": "X",
        "data[year]": "2020",
        "data[genre][]": "drama",
        "data[cast][0][name]": "Ivan",
    }
    created = data_of(api.send_form("POST", "entries", form))
    assert_entry_shape(created, "movies/form")
    assert created["title"] == "X"
    assert created["year"] == "2020"
    assert created["genre"] == ["drama"]
    assert created["cast"] == [{"name": "Ivan"}]

    patched = data_of(api.send_form("PATCH", "entries", {"id": "movies/form", "data[title]": "Y"}))
    assert patched["title"] == "Y"
    assert patched["year"] == "2020"
    moved = data_of(api.send_form("PUT", "entries", {"id": "movies/form", "new_id": "movies/f"}))
    assert moved["slug"] == "movies/f"
    copied = data_of(api.send_form("PUT", "entries/copy", {"id": "movies/f", "new_id": "movies/g"}))
    assert copied["uuid"] != moved["uuid"]
    assert api.send_form("DELETE", "entries", {"id": "movies/f"}).status_code == 204
    assert_error(api.fetch("movies/f"), 404, "NotFound")


def test_json_bodies_keep_their_types(api: ApiClient) -> None:
    data = {"year": 2020, "rating": 6.5, "tags": ["a", 1, True], "meta": {"x": None}}
    created = data_of(api.send("POST", "entries", {"id": "typed", "data": data}))
    assert {k: created[k] for k in data} == data
    assert {k: data_of(api.fetch("typed"))[k] for k in data} == data


def test_the_entries_api_never_lists_tokens(api: ApiClient) -> None:
    everything = api.collection("", depth="all")
    assert all(api.token not in str(item) for item in everything)
    assert all(not item["id"].startswith("tokens") for item in everything)


# -- rejected writes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_id",
    [
        "../etc",
        "movies/../x",
        "a//b",
        "/movies",
        "movies/",
        "a\\b",
        "a\x00b",
        ".",
        "x" * 256,
        "a b",
    ],
)
def test_an_invalid_id_is_a_bad_request_and_never_a_path(api: ApiClient, bad_id: str) -> None:
    assert_error(api.fetch(bad_id), 400, "BadRequest")
    response = api.send("POST", "entries", {"id": bad_id, "data": {"title": "x"}})
    assert_error(response, 400, "BadRequest")


@pytest.mark.parametrize("field", ["id", "slug", "uuid", "created_at", "modified_at"])
def test_writing_a_managed_field_is_a_validation_failure_naming_it(
    api: ApiClient, field: str
) -> None:
    response = api.send("POST", "entries", {"id": "new", "data": {"title": "x", field: "v"}})
    assert assert_error(response, 422, "ValidationFailed")["details"] == [f"data.{field}"]
    response = api.send("PATCH", "entries", {"id": "movies", "data": {field: "v"}})
    assert assert_error(response, 422, "ValidationFailed")["details"] == [f"data.{field}"]


@pytest.mark.parametrize("driver", DRIVERS)
def test_an_entry_over_the_size_limit_is_413_naming_the_limit_and_nothing_is_written(
    tmp_path: Path, driver: str
) -> None:
    project = new_project(tmp_path / driver, driver)
    with serve(project, {**QUIET_COUNTS, "FLEXTYPE_API__MAX_ENTRY_SIZE": "3000"}) as api:
        data_of(api.fetch("movies"))  # the app has opened its storage
        data_of(api.send("PATCH", "entries", {"id": "movies/dune", "data": {"a": "x" * 1000}}))
        before = files_of(project.path)
        rejected = [
            api.send("POST", "entries", {"id": "big", "data": {"text": "x" * 3000}}),
            # Each part is small: the entry they would make together is not.
            api.send("PATCH", "entries", {"id": "movies/dune", "data": {"b": "x" * 2000}}),
        ]
        for response in rejected:
            body = assert_error(response, 413, "PayloadTooLarge")
            assert "at most 3000 bytes" in body["message"]
        assert files_of(project.path) == before
        assert_error(api.fetch("big"), 404, "NotFound")
        assert "b" not in data_of(api.fetch("movies/dune"))


def test_nothing_changes_on_disk_after_a_rejected_write(tmp_path: Path) -> None:
    for driver in DRIVERS:
        project = new_project(tmp_path / driver, driver)
        with serve(project, QUIET_COUNTS) as api:
            data_of(api.fetch("movies"))  # the app has opened its storage
            before = files_of(project.path)
            wrong = api.as_token(api.token, "0" * 32)
            rejected = [
                (api.send("POST", "entries", {"id": "../x", "data": {}}), 400),
                (api.send("POST", "entries", {"data": {"title": "no id"}}), 400),
                (api.send("PUT", "entries", {"id": "movies", "new_id": "movies/in"}), 400),
                (api.send("PUT", "entries/copy", {"id": "movies", "new_id": "movies/in"}), 400),
                (wrong.send("POST", "entries", {"id": "w", "data": {"title": "w"}}), 401),
                (wrong.send("DELETE", "entries", {"id": "movies"}), 401),
                (api.send("POST", "entries", {"id": "w", "data": {}}, auth=False), 401),
                (api.send("DELETE", "entries", {"id": "nope"}), 404),
                (api.send("PATCH", "entries", {"id": "nope", "data": {"a": 1}}), 404),
                (api.send("PUT", "entries", {"id": "nope", "new_id": "nope2"}), 404),
                (api.send("POST", "entries", {"id": "movies", "data": {"t": 1}}), 409),
                (api.send("PUT", "entries", {"id": "home", "new_id": "movies/dune"}), 409),
                (api.send("PUT", "entries/copy", {"id": "home", "new_id": "blog"}), 409),
                (api.send("PUT", "entries", {"id": "home", "new_id": "movies"}), 409),
                (api.send("POST", "entries", {"id": "w", "data": {"uuid": "x"}}), 422),
                (api.send("POST", "entries", {"id": "w", "data": {"routable": "yes"}}), 422),
                (api.send("PATCH", "entries", {"id": "movies", "data": {"visibility": "x"}}), 422),
                (api.send("PATCH", "entries", {"id": "movies", "data": ["x"]}), 422),
            ]
            for response, status in rejected:
                assert response.status_code == status, (response.request.content, response.text)
            assert files_of(project.path) == before
