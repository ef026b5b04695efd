"""EntriesService over in-memory fakes: the rules of api.md section 4 and decisions.md."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from flextype_core import ids
from flextype_core.entries import EntriesService
from flextype_core.errors import (
    BadRequest,
    Conflict,
    EntryNotFound,
    FlextypeError,
    InvalidId,
    NotFound,
    PayloadTooLarge,
    StorageError,
    ValidationFailed,
)
from tests.unit.fakes import FakeEntryStore, FixedClock, SequenceIdFactory

T0 = 1_700_000_000
UUID_1 = "00000000-0000-4000-8000-000000000001"


class World:
    """A service with its fakes, so tests can move the clock and look into the store."""

    def __init__(self) -> None:
        self.store = FakeEntryStore()
        self.clock = FixedClock(T0)
        self.ids = SequenceIdFactory()
        self.service = EntriesService(self.store, self.clock, self.ids)


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def service(world: World) -> EntriesService:
    return world.service


def stored_ids(world: World) -> list[str]:
    return [entry.id for entry in world.store.descendants(ids.ROOT, None)]


# -- create --------------------------------------------------------------------------


def test_creating_an_entry_sets_its_managed_fields_and_defaults(service: EntriesService) -> None:
    created = service.create("movies/platform", {"title": "The Platform"})

    assert created == {
        "title": "The Platform",
        "published_at": T0,
        "published_by": "",
        "created_by": "",
        "routable": True,
        "visibility": "visible",
        "uuid": UUID_1,
        "created_at": T0,
        "modified_at": T0,
        "id": "movies/platform",
        "slug": "movies/platform",
    }
    assert service.fetch("movies/platform") == created


def test_creating_an_entry_keeps_the_defaults_it_was_given(service: EntriesService) -> None:
    data = {
        "published_at": 1_500_000_000,
        "published_by": "ann",
        "created_by": "bob",
        "routable": False,
        "visibility": "draft",
    }
    created = service.create("post", data)
    assert {k: created[k] for k in data} == data


def test_an_entry_is_stored_without_its_id_and_slug(world: World) -> None:
    world.service.create("movies/platform", {"title": "x"})
    stored = world.store.get("movies/platform").fields
    assert "id" not in stored
    assert "slug" not in stored
    assert stored["uuid"] == UUID_1


def test_every_created_entry_gets_a_new_uuid(service: EntriesService) -> None:
    first = service.create("a", {})
    second = service.create("b", {})
    assert first["uuid"] != second["uuid"]


def test_creating_an_entry_that_exists_is_a_conflict_and_changes_nothing(world: World) -> None:
    world.service.create("movies", {"title": "first"})
    world.clock.advance(10)
    with pytest.raises(Conflict):
        world.service.create("movies", {"title": "second"})
    assert world.service.fetch("movies")["title"] == "first"
    assert world.service.fetch("movies")["modified_at"] == T0


def test_creating_an_entry_under_a_folder_that_is_not_an_entry_is_allowed(
    service: EntriesService,
) -> None:
    service.create("movies/2019/the-platform", {})
    with pytest.raises(EntryNotFound):
        service.fetch("movies/2019")
    assert service.fetch("movies/2019/the-platform")["id"] == "movies/2019/the-platform"


def test_creating_an_entry_where_a_folder_of_entries_lies_is_allowed(
    service: EntriesService,
) -> None:
    service.create("movies/2019", {})
    service.create("movies", {"title": "Movies"})
    assert service.fetch("movies")["title"] == "Movies"


@pytest.mark.parametrize("managed", ["id", "slug", "uuid", "created_at", "modified_at"])
def test_writing_a_managed_field_on_create_fails_validation_naming_it(
    world: World, managed: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        world.service.create("x", {"title": "t", managed: "forged"})
    assert caught.value.details == [f"data.{managed}"]
    assert caught.value.code == "ValidationFailed"
    assert stored_ids(world) == []


def test_writing_several_managed_fields_lists_each_of_them(service: EntriesService) -> None:
    with pytest.raises(ValidationFailed) as caught:
        service.create("x", {"uuid": "u", "id": "i", "title": "t"})
    assert caught.value.details == ["data.id", "data.uuid"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("published_at", "2020-01-01"),
        ("published_at", True),
        ("published_at", 1.5),
        ("published_at", None),
        ("published_by", 7),
        ("created_by", ["x"]),
        ("routable", "true"),
        ("routable", 1),
        ("visibility", "secret"),
        ("visibility", True),
    ],
)
def test_a_known_field_of_the_wrong_type_fails_validation_naming_it(
    world: World, field: str, value: object
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        world.service.create("x", {field: value})
    assert caught.value.details == [f"data.{field}"]
    assert stored_ids(world) == []


@pytest.mark.parametrize("data", [None, [], "title", 3, [("title", "x")]])
def test_data_that_is_not_an_object_fails_validation(service: EntriesService, data: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        service.create("x", data)
    assert caught.value.details == ["data"]


def test_an_empty_field_name_fails_validation(service: EntriesService) -> None:
    with pytest.raises(ValidationFailed) as caught:
        service.create("x", {"": 1})
    assert caught.value.details == ["data."]


def test_other_fields_are_free_form(service: EntriesService) -> None:
    data: dict[str, Any] = {"tags": ["a", 1], "author": {"name": "x", "age": None}, "n": 1.5}
    created = service.create("x", data)
    assert {k: created[k] for k in data} == data


@pytest.mark.parametrize("bad_id", ["..", "/x", "x/", "a//b", "a\\b", "a\x00b", 5, None])
def test_creating_at_an_invalid_id_is_a_bad_request(world: World, bad_id: object) -> None:
    with pytest.raises(InvalidId):
        world.service.create(bad_id, {})
    assert stored_ids(world) == []


# -- fetch ---------------------------------------------------------------------------


def test_fetching_a_missing_entry_is_not_found(service: EntriesService) -> None:
    with pytest.raises(EntryNotFound) as caught:
        service.fetch("movies/nope")
    assert caught.value.message == "Entry 'movies/nope' was not found."
    assert caught.value.code == "NotFound"


def test_the_public_form_has_the_id_and_slug_even_if_the_store_holds_other_values(
    world: World,
) -> None:
    world.store.create({"a": {"id": "forged", "slug": "forged", "title": "t"}})
    assert world.service.fetch("a") == {"id": "a", "slug": "a", "title": "t"}


def test_a_fetched_entry_is_a_copy_the_caller_may_change(service: EntriesService) -> None:
    service.create("a", {"tags": ["x"]})
    fetched = service.fetch("a")
    fetched["tags"].append("y")
    assert service.fetch("a")["tags"] == ["x"]


# -- the entry size limit --------------------------------------------------------------


def _limited(limit: int) -> tuple[EntriesService, FakeEntryStore]:
    store = FakeEntryStore()
    return EntriesService(store, FixedClock(T0), SequenceIdFactory(), max_entry_size=limit), store


def test_an_entry_whose_fields_encode_past_the_limit_is_refused_naming_it() -> None:
    service, store = _limited(1000)
    with pytest.raises(PayloadTooLarge) as raised:
        service.create("big", {"text": "x" * 1000})
    assert "1000 bytes" in raised.value.message
    assert not store.exists("big")


def test_an_update_is_refused_when_the_merged_fields_pass_the_limit() -> None:
    service, store = _limited(1000)
    service.create("a", {"one": "x" * 300})  # and about 200 bytes of managed fields
    service.update("a", {"two": "x" * 300})
    before = store.get("a")
    with pytest.raises(PayloadTooLarge):
        service.update("a", {"three": "x" * 400})
    assert store.get("a") == before


def test_a_limit_of_zero_means_no_limit() -> None:
    service, store = _limited(0)
    service.create("big", {"text": "x" * 100_000})
    assert store.exists("big")


# -- update --------------------------------------------------------------------------


def test_updating_an_entry_merges_top_level_fields_and_sets_modified_at(world: World) -> None:
    world.service.create("a", {"title": "old", "author": {"name": "x", "age": 3}, "keep": 1})
    world.clock.advance(60)

    updated = world.service.update("a", {"title": "new", "author": {"name": "y"}})

    assert updated["title"] == "new"
    assert updated["author"] == {"name": "y"}
    assert updated["keep"] == 1
    assert updated["modified_at"] == T0 + 60
    assert updated["created_at"] == T0
    assert updated["uuid"] == UUID_1
    assert updated["id"] == "a"
    assert world.service.fetch("a") == updated


def test_updating_with_no_data_only_touches_modified_at(world: World) -> None:
    before = world.service.create("a", {"title": "t"})
    world.clock.advance(5)
    after = world.service.update("a", {})
    assert after == {**before, "modified_at": T0 + 5}


def test_updating_a_missing_entry_is_not_found(world: World) -> None:
    with pytest.raises(EntryNotFound):
        world.service.update("a", {"title": "t"})
    assert stored_ids(world) == []


def test_updating_a_managed_field_fails_validation_and_changes_nothing(world: World) -> None:
    before = world.service.create("a", {"title": "t"})
    world.clock.advance(5)
    with pytest.raises(ValidationFailed) as caught:
        world.service.update("a", {"title": "new", "created_at": 1})
    assert caught.value.details == ["data.created_at"]
    assert world.service.fetch("a") == before


def test_updating_a_known_field_with_a_wrong_type_fails_validation(world: World) -> None:
    before = world.service.create("a", {})
    with pytest.raises(ValidationFailed) as caught:
        world.service.update("a", {"visibility": "public", "routable": "no"})
    assert sorted(caught.value.details) == ["data.routable", "data.visibility"]
    assert world.service.fetch("a") == before


# -- move ----------------------------------------------------------------------------


def test_moving_an_entry_moves_its_children(world: World) -> None:
    world.service.create("movies", {"title": "M"})
    world.service.create("movies/2019/platform", {"title": "P"})
    world.service.create("movies/x", {"title": "X"})
    world.service.create("movies-old", {"title": "sibling"})
    before = world.service.fetch("movies/2019/platform")
    world.clock.advance(100)

    moved = world.service.move("movies", "archive/films")

    assert moved["id"] == "archive/films"
    assert moved["slug"] == "archive/films"
    assert moved["title"] == "M"
    assert stored_ids(world) == [
        "archive/films",
        "archive/films/2019/platform",
        "archive/films/x",
        "movies-old",
    ]
    after = world.service.fetch("archive/films/2019/platform")
    assert after == {**before, "id": "archive/films/2019/platform", "slug": after["id"]}


def test_moving_an_entry_keeps_every_field(world: World) -> None:
    created = world.service.create("a", {"title": "t"})
    world.clock.advance(100)
    moved = world.service.move("a", "b")
    assert moved == {**created, "id": "b", "slug": "b"}


def test_moving_an_entry_into_its_own_subtree_is_a_bad_request(world: World) -> None:
    world.service.create("a", {})
    world.service.create("a/b", {})
    with pytest.raises(BadRequest) as caught:
        world.service.move("a", "a/b/c")
    assert not isinstance(caught.value, Conflict)
    assert caught.value.code == "BadRequest"
    assert stored_ids(world) == ["a", "a/b"]


def test_moving_an_entry_onto_its_own_id_is_a_conflict(world: World) -> None:
    world.service.create("a", {})
    with pytest.raises(Conflict):
        world.service.move("a", "a")
    assert stored_ids(world) == ["a"]


def test_moving_an_entry_onto_an_occupied_id_is_a_conflict(world: World) -> None:
    world.service.create("a", {"title": "A"})
    world.service.create("b", {"title": "B"})
    with pytest.raises(Conflict):
        world.service.move("a", "b")
    assert world.service.fetch("a")["title"] == "A"
    assert world.service.fetch("b")["title"] == "B"


def test_moving_an_entry_onto_a_folder_of_entries_is_a_conflict(world: World) -> None:
    world.service.create("a", {})
    world.service.create("movies/2019/x", {})
    with pytest.raises(Conflict):
        world.service.move("a", "movies/2019")
    assert stored_ids(world) == ["a", "movies/2019/x"]


def test_moving_an_entry_onto_its_own_parent_is_a_conflict(world: World) -> None:
    world.service.create("a/b", {})
    with pytest.raises(Conflict):
        world.service.move("a/b", "a")


def test_moving_a_missing_entry_is_not_found(world: World) -> None:
    world.service.create("folder/child", {})
    with pytest.raises(EntryNotFound):
        world.service.move("folder", "elsewhere")
    assert stored_ids(world) == ["folder/child"]


def test_moving_to_an_invalid_id_is_a_bad_request(world: World) -> None:
    world.service.create("a", {})
    with pytest.raises(InvalidId):
        world.service.move("a", "../b")
    assert stored_ids(world) == ["a"]


# -- copy ----------------------------------------------------------------------------


def test_copying_an_entry_copies_its_children_with_new_uuids(world: World) -> None:
    world.service.create("a", {"title": "A"})
    world.service.create("a/b", {"title": "B"})
    world.service.create("a/b/c", {"title": "C"})
    originals = {i: world.service.fetch(i) for i in ["a", "a/b", "a/b/c"]}
    world.clock.advance(100)

    copied = world.service.copy("a", "z")

    assert copied["id"] == "z"
    assert copied["slug"] == "z"
    assert stored_ids(world) == ["a", "a/b", "a/b/c", "z", "z/b", "z/b/c"]
    for old_id, original in originals.items():
        new_id = ids.rebase(old_id, "a", "z")
        copy = world.service.fetch(new_id)
        assert copy["uuid"] != original["uuid"]
        assert copy["modified_at"] == T0 + 100
        assert copy["created_at"] == original["created_at"]
        assert copy["published_at"] == original["published_at"]
        assert copy["title"] == original["title"]
        assert world.service.fetch(old_id) == original
    uuids = [world.service.fetch(i)["uuid"] for i in stored_ids(world)]
    assert len(set(uuids)) == len(uuids)


def test_copying_returns_the_copy_as_stored(world: World) -> None:
    world.service.create("a", {"title": "A"})
    copied = world.service.copy("a", "b")
    assert world.service.fetch("b") == copied


def test_copying_into_its_own_subtree_is_a_bad_request(world: World) -> None:
    world.service.create("a", {})
    with pytest.raises(BadRequest):
        world.service.copy("a", "a/copy")
    assert stored_ids(world) == ["a"]


def test_copying_onto_an_occupied_id_is_a_conflict(world: World) -> None:
    world.service.create("a", {})
    world.service.create("b/c", {})
    with pytest.raises(Conflict):
        world.service.copy("a", "b")
    assert stored_ids(world) == ["a", "b/c"]


def test_copying_a_missing_entry_is_not_found(service: EntriesService) -> None:
    with pytest.raises(EntryNotFound):
        service.copy("a", "b")


# -- delete --------------------------------------------------------------------------


def test_deleting_an_entry_deletes_its_children_and_nothing_else(world: World) -> None:
    for entry_id in ["a", "a/b", "a/b/c", "ab", "b"]:
        world.service.create(entry_id, {})
    world.service.delete("a")
    assert stored_ids(world) == ["ab", "b"]


def test_deleting_a_folder_that_is_not_an_entry_deletes_what_is_below_it(world: World) -> None:
    world.service.create("movies/2019/x", {})
    world.service.create("movies/2019/y", {})
    world.service.create("movies/2020", {})
    world.service.delete("movies/2019")
    assert stored_ids(world) == ["movies/2020"]


def test_deleting_a_missing_entry_is_not_found(world: World) -> None:
    world.service.create("a", {})
    with pytest.raises(EntryNotFound):
        world.service.delete("b")
    with pytest.raises(NotFound):
        world.service.delete("a/b")
    assert stored_ids(world) == ["a"]


def test_deleting_an_invalid_id_is_a_bad_request(world: World) -> None:
    world.service.create("a", {})
    with pytest.raises(InvalidId):
        world.service.delete("a/..")
    assert stored_ids(world) == ["a"]


# -- collection ----------------------------------------------------------------------


@pytest.fixture
def movies(world: World) -> World:
    for entry_id in ["movies/b", "movies", "movies/a/x", "movies/a", "movies/a/x/y", "books"]:
        world.service.create(entry_id, {"title": entry_id})
    return world


def test_a_collection_lists_the_direct_children_by_id(movies: World) -> None:
    found = movies.service.collection("movies")
    assert [e["id"] for e in found] == ["movies/a", "movies/b"]
    assert all(e["slug"] == e["id"] for e in found)
    assert found[0]["title"] == "movies/a"


def test_a_collection_of_every_depth_lists_all_descendants_by_id(movies: World) -> None:
    found = movies.service.collection("movies", None)
    assert [e["id"] for e in found] == ["movies/a", "movies/a/x", "movies/a/x/y", "movies/b"]


def test_a_collection_two_levels_deep_stops_there(movies: World) -> None:
    found = movies.service.collection("movies", 2)
    assert [e["id"] for e in found] == ["movies/a", "movies/a/x", "movies/b"]


@pytest.mark.parametrize("root", ["", "/"])
def test_a_collection_of_the_root_lists_the_top_level_entries(movies: World, root: str) -> None:
    assert [e["id"] for e in movies.service.collection(root)] == ["books", "movies"]


def test_a_collection_is_ordered_by_code_point(world: World) -> None:
    for entry_id in ["b", "B", "a", "_", "-", "0", "a-b", "a_b"]:
        world.service.create(entry_id, {})
    found = [e["id"] for e in world.service.collection("")]
    assert found == sorted(found)
    assert found == ["-", "0", "B", "_", "a", "a-b", "a_b", "b"]


def test_a_collection_of_an_entry_without_children_is_empty(movies: World) -> None:
    assert movies.service.collection("books") == []


def test_a_collection_of_an_empty_root_is_empty(service: EntriesService) -> None:
    assert service.collection("") == []


def test_a_collection_of_a_folder_that_is_not_an_entry_lists_its_children(world: World) -> None:
    world.service.create("movies/2019/x", {})
    assert [e["id"] for e in world.service.collection("movies/2019")] == ["movies/2019/x"]


def test_a_collection_of_a_folder_whose_entries_lie_deeper_is_empty_not_missing(
    world: World,
) -> None:
    world.service.create("movies/2019/x", {})
    assert world.service.collection("movies") == []


def test_a_collection_of_nothing_is_not_found(movies: World) -> None:
    with pytest.raises(EntryNotFound):
        movies.service.collection("nope")


@pytest.mark.parametrize("depth", [0, -1])
def test_a_collection_depth_below_one_is_a_bad_request(movies: World, depth: int) -> None:
    with pytest.raises(BadRequest):
        movies.service.collection("movies", depth)


def test_a_collection_of_an_invalid_parent_is_a_bad_request(movies: World) -> None:
    with pytest.raises(InvalidId):
        movies.service.collection("../movies")


def test_a_query_names_the_unreadable_entries_in_its_range_and_levels(movies: World) -> None:
    movies.store.damage("movies/a/x")
    page = movies.service.query("movies", {"find": {"depth": "all"}})
    assert [e["id"] for e in page.data] == ["movies/a", "movies/a/x/y", "movies/b"]
    assert page.meta is not None and page.meta.unreadable == ("movies/a/x",)
    assert page.meta.total == 3
    for options in ({}, {"find": {"depth": ">2"}}):
        page = movies.service.query("movies", options)
        assert page.meta is not None and page.meta.unreadable == (), options
    deep = movies.service.query("movies", {"find": {"depth": ">1"}})
    assert deep.meta is not None and deep.meta.unreadable == ("movies/a/x",)


def test_an_entry_damaged_after_a_query_is_named_by_the_next_one(movies: World) -> None:
    first = movies.service.query("movies", {})
    assert first.meta is not None and first.meta.unreadable == ()
    movies.store.damage("movies/b")
    page = movies.service.query("movies", {})
    assert [e["id"] for e in page.data] == ["movies/a"]
    assert page.meta is not None and page.meta.unreadable == ("movies/b",)


def test_a_subtree_with_an_unreadable_entry_is_not_copied_without_it(movies: World) -> None:
    movies.store.damage("movies/a/x")
    with pytest.raises(StorageError, match="'movies/a/x'"):
        movies.service.copy("movies", "films")
    assert not movies.store.exists("films")
    assert not movies.store.has_descendants("films")


def test_a_parent_whose_only_children_are_unreadable_is_an_empty_collection(
    world: World,
) -> None:
    world.service.create("drafts/one", {})
    world.store.damage("drafts/one")
    page = world.service.query("drafts", {})
    assert page.data == []
    assert page.meta is not None and page.meta.unreadable == ("drafts/one",)


# -- stateful: the service against a plain dict model ----------------------------------

Fields = dict[str, Any]

SEGMENT = st.sampled_from(["a", "b"])
ENTRY_IDS = st.lists(SEGMENT, min_size=1, max_size=3).map("/".join)
FREE_VALUES = st.one_of(st.integers(-3, 3), st.text("xy", max_size=2), st.none())
USER_DATA = st.dictionaries(st.sampled_from(["title", "n", "visibility"]), FREE_VALUES).map(
    lambda d: {**d, "visibility": "hidden"} if "visibility" in d else d
)
BAD_DATA = st.sampled_from([{"uuid": "x"}, {"routable": "yes"}, {"published_at": True}, []])


def _within(entry_id: str, ancestor: str) -> bool:
    return entry_id == ancestor or entry_id.startswith(ancestor + "/")


class EntriesMachine(RuleBasedStateMachine):
    """Drive the service with random writes; after each step it must match the model."""

    def __init__(self) -> None:
        super().__init__()
        self.world = World()
        self.model: dict[str, Fields] = {}

    @property
    def now(self) -> int:
        return self.world.clock.now()

    def _occupied(self, target: str) -> bool:
        return any(_within(i, target) for i in self.model)

    def _check_move_or_copy(self, source: str, target: str) -> type[FlextypeError] | None:
        if target != source and _within(target, source):
            return BadRequest
        if source not in self.model:
            return EntryNotFound
        if self._occupied(target):
            return Conflict
        return None

    @rule(seconds=st.integers(0, 3))
    def tick(self, seconds: int) -> None:
        self.world.clock.advance(seconds)

    @rule(entry_id=ENTRY_IDS, data=USER_DATA)
    def create(self, entry_id: str, data: Fields) -> None:
        if entry_id in self.model:
            with pytest.raises(Conflict):
                self.world.service.create(entry_id, data)
            return
        created = self.world.service.create(entry_id, data)
        fields = {
            "published_at": self.now,
            "published_by": "",
            "created_by": "",
            "routable": True,
            "visibility": "visible",
            **data,
            "uuid": created["uuid"],
            "created_at": self.now,
            "modified_at": self.now,
        }
        self.model[entry_id] = fields
        assert created == {**fields, "id": entry_id, "slug": entry_id}

    @rule(entry_id=ENTRY_IDS, data=BAD_DATA)
    def write_invalid_data(self, entry_id: str, data: object) -> None:
        with pytest.raises(ValidationFailed):
            self.world.service.create(entry_id, data)
        if entry_id in self.model:
            with pytest.raises(ValidationFailed):
                self.world.service.update(entry_id, data)

    @rule(entry_id=ENTRY_IDS, data=USER_DATA)
    def update(self, entry_id: str, data: Fields) -> None:
        if entry_id not in self.model:
            with pytest.raises(EntryNotFound):
                self.world.service.update(entry_id, data)
            return
        updated = self.world.service.update(entry_id, data)
        self.model[entry_id] = {**self.model[entry_id], **data, "modified_at": self.now}
        assert updated == {**self.model[entry_id], "id": entry_id, "slug": entry_id}

    def _move(self, source: str, target: str) -> None:
        error = self._check_move_or_copy(source, target)
        if error is not None:
            with pytest.raises(error):
                self.world.service.move(source, target)
            return
        moved = self.world.service.move(source, target)
        for old in [i for i in self.model if _within(i, source)]:
            self.model[target + old[len(source) :]] = self.model.pop(old)
        assert moved == {**self.model[target], "id": target, "slug": target}

    def _copy(self, source: str, target: str) -> None:
        error = self._check_move_or_copy(source, target)
        if error is not None:
            with pytest.raises(error):
                self.world.service.copy(source, target)
            return
        old_uuids = {f["uuid"] for f in self.model.values()}
        copied = self.world.service.copy(source, target)
        for old in [i for i in self.model if _within(i, source)]:
            copy_id = target + old[len(source) :]
            fresh_uuid = self.world.store.get(copy_id).fields["uuid"]
            assert fresh_uuid not in old_uuids
            self.model[copy_id] = {**self.model[old], "uuid": fresh_uuid, "modified_at": self.now}
        assert copied == {**self.model[target], "id": target, "slug": target}

    @rule(source=ENTRY_IDS, new_id=ENTRY_IDS)
    def move(self, source: str, new_id: str) -> None:
        self._move(source, new_id)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), new_id=ENTRY_IDS)
    def move_an_existing_entry(self, data: st.DataObject, new_id: str) -> None:
        self._move(data.draw(st.sampled_from(sorted(self.model))), new_id)

    @rule(source=ENTRY_IDS, new_id=ENTRY_IDS)
    def copy(self, source: str, new_id: str) -> None:
        self._copy(source, new_id)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), new_id=ENTRY_IDS)
    def copy_an_existing_entry(self, data: st.DataObject, new_id: str) -> None:
        self._copy(data.draw(st.sampled_from(sorted(self.model))), new_id)

    @rule(entry_id=ENTRY_IDS)
    def delete(self, entry_id: str) -> None:
        doomed = [i for i in self.model if _within(i, entry_id)]
        if not doomed:
            with pytest.raises(EntryNotFound):
                self.world.service.delete(entry_id)
            return
        self.world.service.delete(entry_id)
        for i in doomed:
            del self.model[i]

    @invariant()
    def the_service_shows_the_model(self) -> None:
        everything = self.world.service.collection("", None)
        assert everything == [{**self.model[i], "id": i, "slug": i} for i in sorted(self.model)]

    @invariant()
    def every_entry_has_its_own_uuid(self) -> None:
        uuids = [f["uuid"] for f in self.model.values()]
        assert len(set(uuids)) == len(uuids)

    @invariant()
    def each_collection_lists_the_direct_children(self) -> None:
        parents = {ids.parent_of(i) for i in self.model}
        for parent in parents:
            children = [i for i in sorted(self.model) if ids.parent_of(i) == parent]
            found = [e["id"] for e in self.world.service.collection(parent)]
            assert found == children


EntriesMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, database=None, deadline=None
)
TestEntriesServiceAgainstADictModel = EntriesMachine.TestCase
