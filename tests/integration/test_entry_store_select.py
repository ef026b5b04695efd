"""One contract, every EntryStore: ``select`` answers the collection part of a query alike.

Range (depth, min_depth), where, sort, paging, total, unreadable entries and a missing
parent, on every store of ``tests.integration.stores.ENTRY_STORES``. Clause values are
strings, as a query string gives them; the parity suite (``test_query_drivers.py``)
compares random queries across the stores.
"""

from __future__ import annotations

from typing import Any

import pytest

from flextype_core import EntryNotFound
from flextype_core.model import Selection
from flextype_core.ports import EntryStore
from flextype_core.query import Query, SortKey
from flextype_core.query.model import Contains, Eq, Gte, In, Regexp
from tests.integration.stores import ENTRY_STORES, damage_entry


@pytest.fixture(params=ENTRY_STORES)
def store(request: pytest.FixtureRequest) -> EntryStore:
    entry_store: EntryStore = request.getfixturevalue(request.param)
    return entry_store


def _ids(selection: Selection) -> list[str]:
    return [item["id"] for item in selection.items]


def _seed(store: EntryStore, *entry_ids: str) -> None:
    store.create({i: {"title": i} for i in entry_ids})


MOVIES: dict[str, dict[str, Any]] = {
    "movies": {"title": "Movies"},
    "movies/alien": {"title": "Alien", "year": 1979, "rating": 8.5, "genre": ["horror"]},
    "movies/brazil": {"title": "Brazil", "year": 1985, "rating": 7.9, "genre": ["drama"]},
    "movies/coco": {"title": "Coco", "year": 2017, "rating": 8.4, "genre": ["drama", "family"]},
    "movies/dune": {"title": "Dune", "year": 2021, "rating": 8.0, "genre": ["drama", "sf"]},
    "movies/elf": {"title": "Elf", "year": 2003, "rating": None, "genre": ["comedy"]},
    "movies/frozen": {"title": "Frozen", "year": 2013, "genre": ["family"]},
    "movies/dune/cast": {"title": "Cast", "director": {"name": "Denis Villeneuve"}},
}


@pytest.fixture
def movies(store: EntryStore) -> EntryStore:
    store.create(MOVIES)
    return store


def test_select_gives_the_public_items_of_the_depth_range_in_id_order(store: EntryStore) -> None:
    _seed(store, "m", "m/b", "m/a", "m/b/c", "m/b/c/d", "m-x", "m0", "other")
    assert _ids(store.select("m", Query(depth=1))) == ["m/a", "m/b"]
    assert _ids(store.select("m", Query(depth=2))) == ["m/a", "m/b", "m/b/c"]
    assert _ids(store.select("m", Query(depth=None))) == ["m/a", "m/b", "m/b/c", "m/b/c/d"]
    assert _ids(store.select("m", Query(depth=None, min_depth=2))) == ["m/b/c", "m/b/c/d"]
    assert _ids(store.select("m", Query(depth=2, min_depth=2))) == ["m/b/c"]
    assert _ids(store.select("", Query(depth=1))) == ["m", "m-x", "m0", "other"]
    selection = store.select("m/b", Query())
    assert selection == Selection(
        items=[{"title": "m/b/c", "id": "m/b/c", "slug": "m/b/c"}], total=1
    )


def test_where_keeps_the_entries_passing_every_clause(movies: EntryStore) -> None:
    recent_dramas = Query(
        where=(
            Gte(key=("year",), value="2000"),
            Contains(key=("genre",), value="drama"),
        )
    )
    assert _ids(movies.select("movies", recent_dramas)) == ["movies/coco", "movies/dune"]
    named = Query(depth=None, where=(Eq(key=("director", "name"), value="Denis Villeneuve"),))
    assert _ids(movies.select("movies", named)) == ["movies/dune/cast"]
    either = Query(where=(In(key=("title",), value=("Elf", "Brazil", "Nope")),))
    assert _ids(movies.select("movies", either)) == ["movies/brazil", "movies/elf"]
    pattern = Query(where=(Regexp(key=("title",), value="^[a-c]"),))
    assert _ids(movies.select("movies", pattern)) == [
        "movies/alien",
        "movies/brazil",
        "movies/coco",
    ]
    none = movies.select("movies", Query(where=(Eq(key=("year",), value="1900"),)))
    assert none == Selection(items=[], total=0)


def test_sort_orders_by_each_key_missing_and_null_last_ties_in_id_order(
    movies: EntryStore,
) -> None:
    by_rating = Query(sort=(SortKey(key=("rating",), descending=True),))
    assert _ids(movies.select("movies", by_rating)) == [
        "movies/alien",
        "movies/coco",
        "movies/dune",
        "movies/brazil",
        "movies/elf",  # null
        "movies/frozen",  # missing
    ]
    by_first_genre_then_year = Query(
        sort=(SortKey(key=("genre", "0")), SortKey(key=("year",), descending=True))
    )
    assert _ids(movies.select("movies", by_first_genre_then_year)) == [
        "movies/elf",  # comedy
        "movies/dune",  # drama, 2021
        "movies/coco",  # drama, 2017
        "movies/brazil",  # drama, 1985
        "movies/frozen",  # family
        "movies/alien",  # horror
    ]


def test_the_page_is_cut_after_sorting_and_total_counts_every_match(movies: EntryStore) -> None:
    query = Query(
        where=(Gte(key=("year",), value="1980"),),
        sort=(SortKey(key=("year",)),),
        offset=1,
        limit=2,
    )
    selection = movies.select("movies", query)
    assert _ids(selection) == ["movies/elf", "movies/frozen"]
    assert selection.total == 5
    assert selection.items[0] == {**MOVIES["movies/elf"], "id": "movies/elf", "slug": "movies/elf"}
    past_the_end = movies.select("movies", Query(offset=10))
    assert past_the_end == Selection(items=[], total=6)
    assert movies.select("movies", Query(limit=0)) == Selection(items=[], total=6)


def test_unreadable_entries_in_range_are_named_and_left_out(movies: EntryStore) -> None:
    damage_entry(movies, "movies/coco")
    damage_entry(movies, "movies/dune/cast")
    selection = movies.select("movies", Query(where=(Contains(key=("genre",), value="drama"),)))
    assert _ids(selection) == ["movies/brazil", "movies/dune"]
    assert selection.total == 2
    assert selection.unreadable == ("movies/coco",)
    everything = movies.select("movies", Query(depth=None))
    assert everything.unreadable == ("movies/coco", "movies/dune/cast")
    assert everything.total == 5
    assert movies.select("movies/dune", Query()).unreadable == ("movies/dune/cast",)


def test_a_parent_with_only_unreadable_children_is_an_empty_collection(store: EntryStore) -> None:
    _seed(store, "folder/broken")
    damage_entry(store, "folder/broken")
    assert store.select("folder", Query()) == Selection(
        items=[], total=0, unreadable=("folder/broken",)
    )


def test_a_missing_parent_is_not_found_and_an_entry_without_children_is_empty(
    store: EntryStore,
) -> None:
    assert store.select("", Query()) == Selection(items=[], total=0)
    _seed(store, "leaf", "folder/child")
    with pytest.raises(EntryNotFound, match="nothing"):
        store.select("nothing", Query())
    with pytest.raises(EntryNotFound):
        store.select("lea", Query())  # a prefix of an id is no parent
    assert store.select("leaf", Query()) == Selection(items=[], total=0)
    assert _ids(store.select("folder", Query())) == ["folder/child"]
    assert store.select("folder", Query(depth=None, min_depth=2)) == Selection(items=[], total=0)


def test_select_sees_every_write(store: EntryStore) -> None:
    dramas = Query(where=(Eq(key=("genre",), value="drama"),))
    store.create({"m/a": {"genre": "drama"}, "m/b": {"genre": "horror"}})
    assert _ids(store.select("m", dramas)) == ["m/a"]
    store.update("m/b", lambda fields: {**fields, "genre": "drama"})
    assert _ids(store.select("m", dramas)) == ["m/a", "m/b"]
    store.create({"m/c": {"genre": "drama"}})
    assert _ids(store.select("m", dramas)) == ["m/a", "m/b", "m/c"]
    store.move("m/a", "m/d")
    assert _ids(store.select("m", dramas)) == ["m/b", "m/c", "m/d"]
    store.copy("m/b", "m/e", dict)
    assert _ids(store.select("m", dramas)) == ["m/b", "m/c", "m/d", "m/e"]
    store.delete("m/c")
    assert _ids(store.select("m", dramas)) == ["m/b", "m/d", "m/e"]
    store.delete("m")
    with pytest.raises(EntryNotFound):
        store.select("m", dramas)
