"""The cursor order: an item's keyset, and which items come after it."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from flextype_core.query.evaluate import sort_items
from flextype_core.query.keyset import follows, keyset_of, ordered_after
from flextype_core.query.model import Query, SortKey
from flextype_core.query.parse import parse_options
from flextype_core.query.search_syntax import parse_search

values = st.one_of(
    st.none(),
    st.integers(-3, 3),
    st.sampled_from(["a", "A", "b", "é", ""]),
    st.booleans(),
    st.lists(st.integers(), max_size=1),
)


def _items(draw: Any) -> list[dict[str, Any]]:
    ids = st.text("abc", min_size=1, max_size=3)
    found: dict[str, Any] = draw(st.dictionaries(ids, values, max_size=12))
    return [{"id": i} if v is None else {"id": i, "k": v} for i, v in sorted(found.items())]


@given(st.data(), st.booleans(), st.booleans())
def test_the_items_after_an_items_keyset_are_those_after_it_in_the_order(
    data: st.DataObject, descending: bool, by_key: bool
) -> None:
    query = Query(sort=(SortKey(key=("k",), descending=descending),) if by_key else ())
    items: list[dict[str, Any]] = _items(data.draw)
    ordered = sort_items(items, query.sort)
    for position, item in enumerate(ordered):
        keyset = keyset_of(item, query)
        assert [follows(other, keyset, query) for other in ordered] == [
            index > position for index in range(len(ordered))
        ]
        after = Query(sort=query.sort, keyset=keyset)
        assert ordered_after(ordered, after) == ordered[position + 1 :]


def test_a_removed_item_still_marks_its_place() -> None:
    query = parse_options({"filter": {"sort_by": {"key": "n", "direction": "desc"}}})
    items: list[dict[str, Any]] = [{"id": "a", "n": 3}, {"id": "b", "n": 2}, {"id": "c"}]
    items.append({"id": "d", "n": 1})
    ordered = sort_items(items, query.sort)
    keyset = keyset_of({"id": "bb", "n": 2}, query)  # gone now; it stood after b
    rest = ordered_after(ordered, Query(sort=query.sort, keyset=keyset))
    assert [i["id"] for i in rest] == ["d", "c"]


def test_relevance_order_breaks_ties_by_id() -> None:
    search = parse_options({"search": {"q": "x"}}).search
    assert search is not None and search.expr == parse_search("x")
    query = Query(search=search)
    scores = {"a": 1.0, "b": 2.0, "c": 1.0}
    ordered = [{"id": "b"}, {"id": "a"}, {"id": "c"}]
    keyset = keyset_of({"id": "a"}, query, 1.0)
    after = Query(search=search, keyset=keyset)
    assert ordered_after(ordered, after, scores) == [{"id": "c"}]
