"""One contract, every EntryStore: the same operations give the same results, order, errors.

The stores: ``tests.integration.stores.ENTRY_STORES``; ``select`` has a suite of its own
(``test_entry_store_select.py``).
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flextype_adapters.postgres.entries import PostgresEntryStore
from flextype_core import Conflict, Entry, EntryNotFound, StorageError
from flextype_core.ports import EntryStore
from tests.integration.stores import ENTRY_STORES, damage_entry


@pytest.fixture(params=ENTRY_STORES)
def store(request: pytest.FixtureRequest) -> EntryStore:
    entry_store: EntryStore = request.getfixturevalue(request.param)
    return entry_store


def _ids(entries: list[Any]) -> list[str]:
    return [e.id for e in entries]


def _seed(store: EntryStore, *entry_ids: str) -> None:
    store.create({i: {"title": i} for i in entry_ids})


def test_a_created_entry_reads_back_with_its_fields_and_types(store: EntryStore) -> None:
    fields = {
        "title": "Birds of Prey",
        "year": 2020,
        "rating": 6.1,
        "published": True,
        "note": None,
        "genre": ["action", "crime"],
        "author": {"name": "Cathy Yan", "links": [{"url": "https://example.org"}]},
        "unicode": "Café ☕ 日本語",
        "date_like": "2020-02-07",
        "number_like": "2020",
    }
    store.create({"movies/birds-of-prey": fields})
    entry = store.get("movies/birds-of-prey")
    assert entry.id == "movies/birds-of-prey"
    assert entry.fields == fields
    assert [type(v) for v in entry.fields.values()] == [type(v) for v in fields.values()]


def test_field_order_is_kept(store: EntryStore) -> None:
    store.create({"a": {"zeta": 1, "alpha": 2, "mid": 3}})
    assert list(store.get("a").fields) == ["zeta", "alpha", "mid"]


def test_getting_a_missing_entry_is_not_found(store: EntryStore) -> None:
    with pytest.raises(EntryNotFound, match="movies/nope"):
        store.get("movies/nope")


def test_creating_over_an_existing_entry_conflicts_and_writes_nothing(store: EntryStore) -> None:
    _seed(store, "movies/a")
    with pytest.raises(Conflict, match="movies/a"):
        store.create({"movies/b": {"title": "b"}, "movies/a": {"title": "again"}})
    assert not store.exists("movies/b")
    assert store.get("movies/a").fields == {"title": "movies/a"}


def test_a_folder_of_children_is_not_an_entry(store: EntryStore) -> None:
    _seed(store, "movies/2019/parasite")
    assert not store.exists("movies")
    assert not store.exists("movies/2019")
    assert store.exists("movies/2019/parasite")
    assert store.has_descendants("movies")
    assert store.has_descendants("")
    assert not store.has_descendants("movies/2019/parasite")
    with pytest.raises(EntryNotFound):
        store.get("movies/2019")


def test_descendants_are_ordered_by_id_in_code_point_order(store: EntryStore) -> None:
    _seed(store, "m/a", "m/B", "m/a-1", "m/a/x", "m/_z", "m/a0", "m/0", "m/Z")
    assert _ids(store.descendants("m", None)) == sorted(
        ["m/a", "m/B", "m/a-1", "m/a/x", "m/_z", "m/a0", "m/0", "m/Z"]
    )


def test_descendants_respect_depth_and_skip_folders(store: EntryStore) -> None:
    _seed(store, "movies", "movies/a", "movies/b/c", "movies/b/c/d", "other")
    assert _ids(store.descendants("movies", 1)) == ["movies/a"]
    assert _ids(store.descendants("movies", 2)) == ["movies/a", "movies/b/c"]
    assert _ids(store.descendants("movies", None)) == ["movies/a", "movies/b/c", "movies/b/c/d"]
    assert _ids(store.descendants("", 1)) == ["movies", "other"]
    assert _ids(store.descendants("movies/a", None)) == []
    assert _ids(store.descendants("nothing", None)) == []


def test_descendants_never_include_a_sibling_sharing_a_prefix(store: EntryStore) -> None:
    _seed(store, "blog/a", "blog-old/b", "blogs/c")
    assert _ids(store.descendants("blog", None)) == ["blog/a"]


def test_update_applies_the_change_and_returns_the_result(store: EntryStore) -> None:
    store.create({"a": {"title": "old", "year": 1}})
    updated = store.update("a", lambda f: {**f, "title": "new"})
    assert updated.fields == {"title": "new", "year": 1}
    assert store.get("a") == updated


def test_an_update_whose_change_fails_writes_nothing(store: EntryStore) -> None:
    store.create({"a": {"title": "old"}})

    def explode(fields: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        store.update("a", explode)
    assert store.get("a").fields == {"title": "old"}


def test_updating_a_missing_entry_is_not_found(store: EntryStore) -> None:
    with pytest.raises(EntryNotFound):
        store.update("ghost", dict)


def test_concurrent_updates_of_one_entry_lose_nothing(store: EntryStore) -> None:
    store.create({"counter": {"n": 0}})

    def bump() -> None:
        for _ in range(20):
            store.update("counter", lambda f: {**f, "n": f["n"] + 1})

    threads = [threading.Thread(target=bump) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get("counter").fields == {"n": 120}


def test_moving_an_entry_moves_its_children(store: EntryStore) -> None:
    _seed(store, "movies/platform", "movies/platform/cast", "movies/platform/cast/lead", "keep")
    store.move("movies/platform", "archive/2019/the-platform")
    assert _ids(store.descendants("", None)) == [
        "archive/2019/the-platform",
        "archive/2019/the-platform/cast",
        "archive/2019/the-platform/cast/lead",
        "keep",
    ]
    assert store.get("archive/2019/the-platform/cast").fields == {"title": "movies/platform/cast"}
    assert not store.has_descendants("movies")


def test_moving_onto_an_existing_entry_conflicts_and_changes_nothing(store: EntryStore) -> None:
    _seed(store, "a", "a/child", "b")
    with pytest.raises(Conflict, match="'b'"):
        store.move("a", "b")
    assert _ids(store.descendants("", None)) == ["a", "a/child", "b"]


def test_moving_onto_a_folder_with_children_conflicts(store: EntryStore) -> None:
    _seed(store, "a", "b/child")
    with pytest.raises(Conflict):
        store.move("a", "b")
    assert _ids(store.descendants("", None)) == ["a", "b/child"]


def test_moving_a_missing_entry_is_not_found(store: EntryStore) -> None:
    with pytest.raises(EntryNotFound):
        store.move("ghost", "elsewhere")


def test_deleting_an_entry_deletes_its_children_only(store: EntryStore) -> None:
    _seed(store, "blog", "blog/a", "blog/a/b", "blog-2", "blogs")
    store.delete("blog")
    assert _ids(store.descendants("", None)) == ["blog-2", "blogs"]


def test_deleting_a_folder_deletes_what_is_below_it(store: EntryStore) -> None:
    _seed(store, "movies/2019/a", "movies/2019/b", "movies/2020/c")
    store.delete("movies/2019")
    assert _ids(store.descendants("", None)) == ["movies/2020/c"]


def test_deleting_nothing_is_not_found(store: EntryStore) -> None:
    _seed(store, "a")
    with pytest.raises(EntryNotFound):
        store.delete("b")


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_counter = itertools.count()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(fields=st.dictionaries(st.text(min_size=1, max_size=10), _values, max_size=6))
def test_any_json_fields_round_trip_unchanged(store: EntryStore, fields: dict[str, Any]) -> None:
    entry_id = f"prop/e{next(_counter)}"
    store.create({entry_id: fields})
    assert store.get(entry_id).fields == fields
    assert list(store.get(entry_id).fields) == list(fields)


def test_the_version_changes_with_every_write(store: EntryStore) -> None:
    before = store.version()
    store.create({"a": {"n": 1}})
    after_create = store.version()
    assert after_create != before
    store.update("a", lambda f: {**f, "n": 2})
    after_update = store.version()
    assert after_update != after_create
    store.move("a", "b")
    after_move = store.version()
    assert after_move != after_update
    store.delete("b")
    assert store.version() != after_move


def test_a_version_a_store_can_tell_stays_equal_while_nothing_changes(store: EntryStore) -> None:
    _seed(store, "a", "a/b")
    store.descendants("", None)
    if store.version() != store.version():
        return  # this store cannot tell cheaply, and says so with a new value each time
    first = store.version()
    store.get("a")
    store.descendants("a", None)
    assert store.version() == first


def test_exclusive_holds_off_other_writers_and_lets_its_own_calls_through(
    store: EntryStore,
) -> None:
    _seed(store, "a")
    with store.exclusive():
        store.update("a", lambda f: {**f, "n": 1})  # the block's own write: re-entrant
        other = threading.Thread(target=lambda: store.update("a", lambda f: {**f, "n": 2}))
        other.start()
        other.join(0.3)
        assert other.is_alive()  # waiting for the block to end
        assert store.get("a").fields["n"] == 1
    other.join(60)
    assert store.get("a").fields["n"] == 2


def test_a_store_holding_entries_answers_its_health_check(store: EntryStore) -> None:
    _seed(store, "a")
    store.check()


def test_an_entry_read_once_is_answered_from_memory_as_get_reads_it(store: EntryStore) -> None:
    _seed(store, "movies/a")
    assert store.cached("movies/nope") is None
    store.get("movies/a")
    if isinstance(store, PostgresEntryStore):
        # Keeps nothing in memory: another server may change the entry at any time.
        assert store.cached("movies/a") is None
        return
    assert store.cached("movies/a") == store.get("movies/a")
    store.update("movies/a", lambda fields: {**fields, "year": 2024})
    store.get("movies/a")
    assert store.cached("movies/a") == store.get("movies/a")
    store.delete("movies/a")
    assert store.cached("movies/a") is None


# -- copy ----------------------------------------------------------------------------------


def _renewed(fields: dict[str, Any]) -> dict[str, Any]:
    return {**fields, "title": f"copy of {fields['title']}"}


def test_copy_copies_the_subtree_with_renewed_fields_and_returns_the_root(
    store: EntryStore,
) -> None:
    _seed(store, "a", "a/b", "a/b/c", "a-1", "keep")
    copied = store.copy("a", "x/y", _renewed)
    assert copied == Entry(id="x/y", fields={"title": "copy of a"})
    assert store.get("x/y") == copied
    assert [(e.id, e.fields["title"]) for e in store.descendants("x", None)] == [
        ("x/y", "copy of a"),
        ("x/y/b", "copy of a/b"),
        ("x/y/b/c", "copy of a/b/c"),
    ]
    assert _ids(store.descendants("", None)) == [
        "a", "a-1", "a/b", "a/b/c", "keep", "x/y", "x/y/b", "x/y/b/c",
    ]  # fmt: skip
    assert store.get("a/b").fields == {"title": "a/b"}


def test_copy_keeps_every_field_and_its_order_through_renew(store: EntryStore) -> None:
    fields = {"zeta": [1, {"n": None}], "title": "t", "alpha": 2.5}
    store.create({"a": fields, "a/b": fields})
    store.copy("a", "c", lambda f: {**f, "uuid": "new"})
    for entry_id in ("c", "c/b"):
        assert list(store.get(entry_id).fields.items()) == [*fields.items(), ("uuid", "new")]
    assert store.get("a").fields == fields


def test_copy_refuses_a_missing_source_or_a_taken_target_and_writes_nothing(
    store: EntryStore,
) -> None:
    _seed(store, "a", "a/b", "taken", "folder/child")
    before = store.descendants("", None)
    with pytest.raises(EntryNotFound):
        store.copy("ghost", "new", _renewed)
    with pytest.raises(EntryNotFound):
        store.copy("folder", "new", _renewed)  # children only: no entry to copy
    with pytest.raises(Conflict, match="taken"):
        store.copy("a", "taken", _renewed)
    with pytest.raises(Conflict):
        store.copy("a", "folder", _renewed)
    with pytest.raises(Conflict):
        store.copy("a", "a", _renewed)
    assert store.descendants("", None) == before


def test_copy_of_a_subtree_with_an_unreadable_entry_copies_nothing(store: EntryStore) -> None:
    _seed(store, "a", "a/b", "a/c")
    damage_entry(store, "a/c")
    with pytest.raises(StorageError, match="a/c"):
        store.copy("a", "x", _renewed)
    assert not store.exists("x")
    assert not store.has_descendants("x")


def test_a_copy_whose_renew_fails_writes_nothing(store: EntryStore) -> None:
    _seed(store, "a", "a/b")

    def renew(fields: dict[str, Any]) -> dict[str, Any]:
        if fields["title"] == "a/b":
            raise ValueError("no")
        return fields

    with pytest.raises(ValueError, match="no"):
        store.copy("a", "x", renew)
    assert _ids(store.descendants("", None)) == ["a", "a/b"]


def test_the_version_changes_with_a_copy(store: EntryStore) -> None:
    _seed(store, "a")
    before = store.version()
    store.copy("a", "b", dict)
    assert store.version() != before


# -- expect: conditional writes ---------------------------------------------------------


class RefusedError(Exception):
    """What the tests' ``expect`` raises: the write must not happen."""


def _refuse(current: object) -> None:
    raise RefusedError(current)


def test_what_expect_raises_aborts_a_move_copy_or_delete_with_nothing_written(
    store: EntryStore,
) -> None:
    _seed(store, "a", "a/b", "c")
    before = store.descendants("", None)
    with pytest.raises(RefusedError):
        store.move("a", "x", expect=_refuse)
    with pytest.raises(RefusedError):
        store.copy("a", "x", _renewed, expect=_refuse)
    with pytest.raises(RefusedError):
        store.delete("a", expect=_refuse)
    with pytest.raises(RefusedError):
        store.delete("", expect=_refuse)
    assert store.descendants("", None) == before
    assert not store.has_descendants("x")


def test_expect_sees_the_entry_as_it_is_now(store: EntryStore) -> None:
    _seed(store, "a", "a/b")
    store.update("a", lambda f: {**f, "n": 1})
    seen: list[Entry | None] = []
    store.copy("a", "x", dict, expect=seen.append)
    store.move("a", "y", expect=seen.append)
    store.update("y", lambda f: {**f, "n": 2})
    store.delete("y", expect=seen.append)
    assert seen == [
        Entry(id="a", fields={"title": "a", "n": 1}),
        Entry(id="a", fields={"title": "a", "n": 1}),
        Entry(id="y", fields={"title": "a", "n": 2}),
    ]
    assert _ids(store.descendants("", None)) == ["x", "x/b"]


def test_delete_gives_expect_none_when_only_descendants_exist(store: EntryStore) -> None:
    _seed(store, "folder/a", "folder/b/c")
    seen: list[Entry | None] = []
    store.delete("folder", expect=seen.append)
    assert seen == [None]
    assert not store.has_descendants("folder")


def test_not_found_and_conflicts_come_before_expect(store: EntryStore) -> None:
    # RFC 9110 13.2.1: the error a request gets without its preconditions wins over them.
    _seed(store, "a", "b")
    with pytest.raises(EntryNotFound):
        store.move("ghost", "x", expect=_refuse)
    with pytest.raises(EntryNotFound):
        store.copy("ghost", "x", dict, expect=_refuse)
    with pytest.raises(EntryNotFound):
        store.delete("ghost", expect=_refuse)
    with pytest.raises(Conflict):
        store.move("a", "b", expect=_refuse)
    with pytest.raises(Conflict):
        store.copy("a", "b", dict, expect=_refuse)


def test_expect_of_an_unreadable_entry_is_a_storage_error(store: EntryStore) -> None:
    _seed(store, "a")
    damage_entry(store, "a")
    seen: list[Entry | None] = []
    with pytest.raises(StorageError):
        store.move("a", "b", expect=seen.append)
    with pytest.raises(StorageError):
        store.delete("a", expect=seen.append)
    assert seen == []
    assert store.exists("a")


@pytest.mark.parametrize("verb", ["move", "copy", "delete"])
def test_expect_runs_in_the_same_step_as_the_write(store: EntryStore, verb: str) -> None:
    # A child created while expect runs must wait for the write: it is neither moved,
    # copied nor deleted with the subtree, and lands after it.
    _seed(store, "a", "a/b")
    other: list[threading.Thread] = []

    def expect(current: Entry | None) -> None:
        late = threading.Thread(target=lambda: store.create({"a/late": {"title": "late"}}))
        late.start()
        other.append(late)
        late.join(0.3)
        assert late.is_alive()  # held off by the write's lock

    if verb == "move":
        store.move("a", "x", expect=expect)
    elif verb == "copy":
        store.copy("a", "x", dict, expect=expect)
    else:
        store.delete("a", expect=expect)
    other[0].join(60)
    assert store.exists("a/late")
    assert not store.exists("x/late")
    expected = {
        "move": ["a/late", "x", "x/b"],
        "copy": ["a", "a/b", "a/late", "x", "x/b"],
        "delete": ["a/late"],
    }
    assert _ids(store.descendants("", None)) == expected[verb]
