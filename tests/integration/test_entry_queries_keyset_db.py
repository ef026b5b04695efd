"""``entry_queries.select`` after a keyset (a cursor) against the core, on a real database.

Random collections, queries and keysets (values of every kind, strings past ASCII and
numbers past 2**53 included) give the core's page after the keyset and the same
``more``; a keyset page of a sort that SQL orders exactly is one statement.
"""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from flextype_adapters.postgres.database import PostgresDatabase
from flextype_adapters.postgres.entries import PostgresEntryStore
from flextype_adapters.postgres.entry_queries import MIXED_SORTS
from flextype_core.model import Selection
from flextype_core.query import evaluate
from flextype_core.query.keyset import keyset_of, ordered_after
from flextype_core.query.model import Keyset, Query
from tests.integration.query_cases import (
    EXAMPLES,
    IDS,
    Fields,
    answer,
    collections,
    fill,
    reference,
    same,
    sort_keys,
    values,
    where_clauses,
)
from tests.integration.test_entry_queries_db import MOVIES, counted, options


def _reference_after(store: PostgresEntryStore, parent: str, query: Query) -> Selection:
    whole = reference(store, parent, msgspec.structs.replace(query, limit=None))
    rest = ordered_after(whole.items, query)
    page = rest if query.limit is None else rest[: query.limit]
    return Selection(items=page, total=whole.total, more=len(page) < len(rest))


@st.composite
def keyed_queries(draw: st.DrawFn) -> tuple[Query, int | None]:
    """A query with a keyset: arbitrary values, or (index) the keyset of a stored item."""
    sort = tuple(draw(sort_keys))
    keyset = Keyset(
        values=tuple(draw(values) for _ in sort),
        id=draw(st.sampled_from([*IDS, "", "c/q0", "c/é"])),
    )
    query = Query(
        depth=draw(st.sampled_from([1, 2, None])),
        where=tuple(draw(st.lists(where_clauses(), max_size=1))),
        sort=sort,
        limit=draw(st.sampled_from([None, 0, 1, 2, 3])),
        keyset=keyset,
    )
    return query, draw(st.none() | st.integers(0, 10))


@EXAMPLES
@given(collections, keyed_queries(), st.sampled_from(["", "c", "c/p"]))
def test_a_keyset_page_is_the_cores(
    pg_database: PostgresDatabase,
    pg_store: PostgresEntryStore,
    entries: dict[str, Fields],
    keyed: tuple[Query, int | None],
    parent: str,
) -> None:
    MIXED_SORTS.clear()
    store = pg_store
    fill(pg_database, store, entries)
    query, index = keyed
    if not store.exists(parent) and not store.has_descendants(parent) and parent:
        return
    if index is not None:  # a cursor as a page gives it: the keyset of an item in order
        whole = reference(store, parent, msgspec.structs.replace(query, keyset=None, limit=None))
        if whole.items:
            item = whole.items[index % len(whole.items)]
            query = msgspec.structs.replace(query, keyset=keyset_of(item, query))
    want = _reference_after(store, parent, query)
    got = answer(pg_database, parent, query)
    same(got, want)
    assert got.more == want.more


def _walk(db: PostgresDatabase, query: Query) -> tuple[list[str], list[int]]:
    """Every page of ``query`` after the other: the ids, and each page's statements."""
    seen: list[str] = []
    statements: list[int] = []
    while True:
        found, ran = counted(db, "m", query)
        statements.append(len(ran))
        seen += [item["id"] for item in found.items]
        more = found.more
        if more is None:  # a first page: the total tells
            more = len(found.items) < found.total
        if not more:
            return seen, statements
        keyset = keyset_of(found.items[-1], query)
        query = msgspec.structs.replace(query, keyset=keyset)


def test_keyset_pages_of_an_exact_sort_are_one_statement_each(
    pg_database: PostgresDatabase, pg_store: PostgresEntryStore
) -> None:
    store = pg_store
    store.create({**MOVIES, "m/zz": {"title": "No year", "category": "c1"}})
    for filters in (
        {"sort_by": {"key": "year", "direction": "desc"}},  # numbers: jsonb's order
        {"sort_by": [{"key": "category"}, {"key": "year"}]},  # strings: the generic order
        {"where": [{"key": "category", "operator": "eq", "value": "c1"}]},  # by id
    ):
        first = options(**filters, limit="4")
        whole = evaluate.select(
            options(**filters), [e.public for e in pg_store.descendants("m", 1)]
        )
        seen, statements = _walk(pg_database, first)
        assert seen == [item["id"] for item in whole], filters
        assert statements[1:] and all(n == 1 for n in statements[1:]), (filters, statements)


def test_a_keyset_past_ascii_is_answered_by_the_core(
    pg_database: PostgresDatabase, pg_store: PostgresEntryStore
) -> None:
    store = pg_store
    store.create({"m/a": {"t": "st"}, "m/b": {"t": "ß"}, "m/c": {"t": "sa"}, "m/d": {"t": "Sz"}})
    query = options(sort_by={"key": "t"}, limit="1")
    seen, _ = _walk(pg_database, query)
    assert seen == ["m/c", "m/b", "m/a", "m/d"]  # "ß" folds to "ss"


def test_keyset_rows_in_doubt_merge_into_the_page(
    pg_database: PostgresDatabase, pg_store: PostgresEntryStore
) -> None:
    fields: dict[str, Any] = {"m/a": {"t": "a"}, "m/b": {"t": "ß"}, "m/c": {"t": "b"}}
    fields |= {"m/d": {"t": "z"}, "m/e": {"t": "É"}, "m/f": {"t": "st"}}
    pg_store.create(fields)
    query = options(sort_by={"key": "t"}, limit="2")
    want = evaluate.select(query, [e.public for e in pg_store.descendants("m", 1)])
    seen, _ = _walk(pg_database, query)
    assert seen == [item["id"] for item in want]
