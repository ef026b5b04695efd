"""The collection indexes only narrow a query: with them or without, the same answer."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flextype_core.query import IndexedItems, Query, select, select_from
from flextype_core.query.model import OPERATORS, Clause, SortKey
from tests.unit.test_query_evaluate import ITEMS, KEYS, clauses

WIDE_ITEMS = st.lists(ITEMS, min_size=1, max_size=4).map(
    lambda groups: [
        {**item, "id": f"e{n}"} for n, item in enumerate(x for group in groups for x in group)
    ]
)


@settings(max_examples=400)
@given(WIDE_ITEMS, st.lists(clauses(), max_size=3))
def test_indexed_selection_equals_a_full_scan(
    items: list[dict[str, Any]], where: list[Clause]
) -> None:
    query = Query(where=tuple(where))
    assert select_from(query, IndexedItems(items)) == select(query, items)


@given(ITEMS, st.lists(clauses(), max_size=3), st.lists(KEYS, max_size=2))
def test_one_index_serves_many_queries_with_the_same_answers(
    items: list[dict[str, Any]], where: list[Clause], sort_keys: list[str]
) -> None:
    indexed = IndexedItems(items)
    sort = tuple(SortKey(key=tuple(k.split("."))) for k in sort_keys)
    for clauses_used in (where, where[:1], list(reversed(where))):
        query = Query(where=tuple(clauses_used), sort=sort)
        assert select_from(query, indexed) == select(query, items)


def test_an_index_narrows_to_the_candidates_of_every_clause() -> None:
    items = [
        {"id": f"m{i}", "year": 1990 + i, "genre": ["drama" if i % 2 else "comedy"]}
        for i in range(20)
    ]
    indexed = IndexedItems(items)
    query_where = (
        _clause("gte", "year", "2000"),
        _clause("contains", "genre", "drama"),
    )
    assert indexed.candidates(query_where) == [11, 13, 15, 17, 19]


def _clause(op: str, key: str, value: Any) -> Clause:
    return OPERATORS[op](key=(key,), value=value)
