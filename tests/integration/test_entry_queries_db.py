"""``entry_queries.select`` against the core's own pipeline, on a real database.

Random collections and queries (where, sort, offset, limit, depth, parent) give what
``evaluate.select`` and the page give, order, total and field order included; each plan
and fallback (rows in doubt merged into a first page, sparse reads, races between
statements, damaged rows, empty pages) is driven on purpose.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql

from flextype_adapters.postgres.database import PostgresDatabase
from flextype_adapters.postgres.entries import PostgresEntryStore
from flextype_adapters.postgres.entry_queries import MIXED_SORTS, select
from flextype_core.errors import EntryNotFound
from flextype_core.model import Selection
from flextype_core.query import evaluate, parse_options
from flextype_core.query.model import (
    Query,
)
from tests.integration.query_cases import (
    EXAMPLES,
    Fields,
    answer,
    collections,
    fill,
    reference,
    same,
    sort_keys,
    where_conditions,
)

# -- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def store(pg_database: PostgresDatabase) -> PostgresEntryStore:
    return PostgresEntryStore(pg_database)


@pytest.fixture(autouse=True)
def no_sort_hints() -> None:
    """Each test starts without the process's memory of sorts that met strings."""
    MIXED_SORTS.clear()


# -- select against the core's pipeline -------------------------------------------------------


@st.composite
def queries(draw: st.DrawFn) -> Query:
    min_depth = draw(st.sampled_from([1, 1, 2]))
    depth = draw(st.sampled_from([None, 1, 2, 3]))
    if depth is not None and depth < min_depth:
        depth = None
    return Query(
        depth=depth,
        min_depth=min_depth,
        where=tuple(draw(st.lists(where_conditions(), max_size=2))),
        sort=tuple(draw(sort_keys)),
        offset=draw(st.sampled_from([0, 0, 1, 2, 5, 2**70])),
        limit=draw(st.sampled_from([None, None, 0, 1, 2, 3, 2**70])),
    )


@EXAMPLES
@given(collections, queries(), st.sampled_from(["", "c", "c/p", "c/q/y", "nope"]))
def test_select_is_the_cores_pipeline(
    pg_database: PostgresDatabase,
    store: PostgresEntryStore,
    entries: dict[str, Fields],
    query: Query,
    parent: str,
) -> None:
    fill(pg_database, store, entries)
    try:
        want = reference(store, parent, query)
    except EntryNotFound:
        with pytest.raises(EntryNotFound):
            answer(pg_database, parent, query)
        return
    same(answer(pg_database, parent, query), want)


# -- each plan, and its fallbacks -----------------------------------------------------------------

MOVIES = {
    f"m/{i:02}": {"title": f"Title {i}", "category": f"c{i % 3}", "year": 2000 + (i * 7) % 11}
    for i in range(30)
}


class Counting:
    """A psycopg connection that counts statements and may act after the n-th one."""

    def __init__(self, conn: psycopg.Connection[Any], after: Callable[[int], None] | None = None):
        self.conn = conn
        self.statements: list[str] = []
        self._after = after

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        cursor = self.conn.execute(query, params, **kwargs)
        self.statements.append(
            query.as_string(self.conn) if isinstance(query, sql.Composable) else query
        )
        if self._after is not None:
            self._after(len(self.statements))
        return cursor


def counted(
    db: PostgresDatabase, parent: str, query: Query, after: Callable[[int], None] | None = None
) -> tuple[Selection, list[str]]:
    def work(tx: Any) -> tuple[Selection, list[str]]:
        conn = Counting(tx.conn, after)
        return select(conn, parent, query), conn.statements  # type: ignore[arg-type]

    return db.read(work)


def options(**filters: Any) -> Query:
    return parse_options({"filter": filters})


EQ_SORT = {
    "where": [{"key": "category", "operator": "eq", "value": "c1"}],
    "sort_by": {"key": "year", "direction": "desc"},
    "limit": "4",
    "offset": "1",
}


def test_an_exact_query_is_one_statement(
    pg_database: PostgresDatabase, store: PostgresEntryStore
) -> None:
    store.create(MOVIES)
    query = options(**EQ_SORT)
    found, statements = counted(pg_database, "m", query)
    assert len(statements) == 1
    same(found, reference(store, "m", query))


def test_an_exact_group_is_pushed_down_in_one_statement(
    pg_database: PostgresDatabase, store: PostgresEntryStore
) -> None:
    store.create(MOVIES)
    either: list[dict[str, Any]] = [{"key": "category", "operator": "eq", "value": "c1"}]
    either.append({"key": "year", "operator": "gte", "value": 2009})
    query = options(
        where=[{"or": either}, {"not": {"key": "title", "operator": "eq", "value": "Title 4"}}],
        sort_by={"key": "year"},
        limit="5",
    )
    found, statements = counted(pg_database, "m", query)
    assert len(statements) == 1
    assert "@>" in statements[0]  # the groups are in the SQL, not left to the core
    same(found, reference(store, "m", query))


def test_not_of_a_doubtful_clause_lets_sql_narrow_and_the_core_decide(
    pg_database: PostgresDatabase, store: PostgresEntryStore
) -> None:
    store.create({**MOVIES, "m/x": {"title": "Éclair", "year": 1999}})
    where = [
        {"not": {"key": "title", "operator": "gt", "value": "Title 3"}},  # "É" in doubt
        {"key": "category", "operator": "eq", "value": "c2"},
    ]
    query = options(where=where)
    found, statements = counted(pg_database, "m", query)
    whole = "SELECT id, body FROM entries WHERE parent = "
    assert not any(s.startswith(whole) for s in statements)  # never every body of the range
    same(found, reference(store, "m", query))
    assert found.total == len([i for i in range(30) if i % 3 == 2 and f"Title {i}" <= "Title 3"])


def test_a_string_past_ascii_in_a_sort_key_lets_the_core_sort(
    pg_database: PostgresDatabase, store: PostgresEntryStore
) -> None:
    store.create({"m/a": {"t": "st"}, "m/b": {"t": "ß"}, "m/c": {"t": "sa"}, "m/d": {"t": "Sz"}})
    query = options(sort_by={"key": "t"}, limit="2")
    found, statements = counted(pg_database, "m", query)
    assert [item["id"] for item in found.items] == ["m/c", "m/b"]  # "ß" folds to "ss"
    same(found, reference(store, "m", query))
    # Numbers only? No: the generic order, with "ß" apart; then the body of "ß", on the page.
    assert len(statements) == 3
    # Past the first page, the core sorts every candidate (the sparse plan); this sort is
    # known to meet strings now, so the generic order comes first.
    query = options(sort_by={"key": "t"}, offset="1", limit="2")
    found, statements = counted(pg_database, "m", query)
    assert [item["id"] for item in found.items] == ["m/b", "m/a"]
    assert len(statements) == 3


def test_a_row_in_doubt_changed_before_its_body_is_read_is_read_again(
    pg_database: PostgresDatabase, store: PostgresEntryStore
) -> None:
    store.create({"m/a": {"t": "st"}, "m/b": {"t": "ß"}, "m/c": {"t": "sa"}})
    query = options(sort_by={"key": "t"}, limit="2")

    def change(statements: int) -> None:
        if statements == 2:  # "ß" came apart, on the page; it changes before its body is read
            store.update("m/b", lambda fields: {**fields, "t": "ßb"})

    found, statements = counted(pg_database, "m", query, change)
    same(found, reference(store, "m", query))
    assert found.items[1]["t"] == "ßb"
    assert len(statements) == 5  # numbers?, the page, the body (raced), the sparse plan's two


def test_floats_and_integers_past_2_53_compare_by_their_binary_values(
    pg_database: PostgresDatabase, store: PostgresEntryStore
) -> None:
    big_float = 1.2345678901234567e20  # binary value 123456789012345667584
    store.create({"m/a": {"n": big_float}, "m/b": {"n": 123456789012345668000}, "m/c": {"n": 5}})
    for filters in (
        {"where": [{"key": "n", "operator": "lt", "value": 123456789012345668000}]},
        {"where": [{"key": "n", "operator": "neq", "value": "123456789012345668000"}]},
        {"sort_by": {"key": "n", "direction": "desc"}, "limit": "2"},
    ):
        query = options(**filters)
        same(answer(pg_database, "m", query), reference(store, "m", query))
    lower = answer(
        pg_database,
        "m",
        options(where=[{"key": "n", "operator": "lt", "value": 123456789012345668000}]),
    )
    assert [item["id"] for item in lower.items] == ["m/a", "m/c"]


def test_fields_with_a_nul_are_found_through_their_body(
    pg_database: PostgresDatabase, store: PostgresEntryStore
) -> None:
    store.create({"m/a": {"t": "a\x00b"}, "m/b": {"t": "a\ufffdb"}, "m/c": {"t": "ab"}})
    for value in ("a\x00b", "a\ufffdb"):
        query = options(where=[{"key": "t", "operator": "eq", "value": value}])
        found = answer(pg_database, "m", query)
        same(found, reference(store, "m", query))
        assert len(found.items) == 1


def test_rows_that_cannot_be_decoded_are_unreadable_and_left_out(
    pg_database: PostgresDatabase, store: PostgresEntryStore
) -> None:
    store.create(MOVIES)
    # Off the page and failing the where: found by the index of bodies that hold no object.
    pg_database.run(lambda tx: tx.execute("UPDATE entries SET body = 'not json' WHERE id = 'm/00'"))
    # On the page, and beginning and ending as an object would: found when decoded.
    pg_database.run(lambda tx: tx.execute("UPDATE entries SET body = '{oops}' WHERE id = 'm/04'"))
    query = options(**EQ_SORT)
    found = answer(pg_database, "m", query)
    assert found.unreadable == ("m/00", "m/04")
    survivors = {k: v for k, v in MOVIES.items() if k not in ("m/00", "m/04")}
    items = [{**f, "id": k, "slug": k} for k, f in survivors.items()]
    selected = evaluate.select(query, items)
    assert found.items == selected[1:5]
    assert found.total == len(selected)
    for filters in (
        {**EQ_SORT, "offset": "50"},
        {"where": [{"key": "title", "operator": "regexp", "value": "x"}]},
    ):
        assert answer(pg_database, "m", options(**filters)).unreadable == ("m/00", "m/04")


def test_a_page_changed_between_the_statements_is_read_again(
    pg_database: PostgresDatabase, store: PostgresEntryStore
) -> None:
    store.create(MOVIES)
    query = options(
        where=[{"key": "title", "operator": "regexp", "value": "1$"}], sort_by={"key": "year"}
    )
    before = reference(store, "m", query)
    changed = False

    def change(statements: int) -> None:
        nonlocal changed
        if statements == 1 and not changed:  # after the sparse plan's first statement
            changed = True
            store.update("m/11", lambda fields: {**fields, "title": "Title 11 (changed)"})

    found, statements = counted(pg_database, "m", query, change)
    after = reference(store, "m", query)
    assert before != after
    same(found, after)
    assert len(statements) == 4  # keys, the page (changed: raced), keys again, the page


def test_an_empty_page_still_counts_the_matches(
    pg_database: PostgresDatabase, store: PostgresEntryStore
) -> None:
    store.create(MOVIES)
    for filters in ({**EQ_SORT, "offset": "100"}, {**EQ_SORT, "limit": "0"}):
        query = options(**filters)
        found = answer(pg_database, "m", query)
        assert (found.items, found.total) == ([], 10)


def test_matches_that_appear_after_an_empty_page_are_paged_too(
    pg_database: PostgresDatabase, store: PostgresEntryStore
) -> None:
    store.create(MOVIES)
    query = options(**{**EQ_SORT, "offset": "12"})

    def grow(statements: int) -> None:
        if statements == 1:  # the page came back empty: 10 matches only
            store.create({f"m/new{i}": {"category": "c1", "year": 1990 + i} for i in range(8)})

    found, statements = counted(pg_database, "m", query, grow)
    same(found, reference(store, "m", query))
    assert found.total == 18
    assert len(found.items) == 4
    assert len(statements) == 4  # the page, the count (grown), the sparse plan's two


_T_N = [
    ("b", 1), ("B", 2), ("ß", 3), ("ss", 4), ("st", 5), ("É", 6), ("e", 7), ("Ä", 8),
    ("a", 9), ("z", 10), ("ǅ", 11), ("dz", 12), ("é", 13), ("é", 13),
    ("é", 1.2345678901234567e20), ("é", 123456789012345668000), (1, None), (2.5, "é"),
    (None, 0), (True, 1), (["x"], 2), ({"k": 1}, 3),
]  # fmt: skip
_ROWS: list[Fields] = [
    *({"t": t, "n": n, "k": "x"} for t, n in _T_N),
    {"n": 5, "k": "x"},
    # Past ASCII but folding among ASCII letters: SQL would put them apart.
    *({"t": t, "k": "y"} for t in ("z", "ß", "ﬀ", "a", "K")),
    # Numbers and missing keys only: jsonb's own order serves.
    *({"n": n, "k": "z"} for n in (3, 1.5, -2, 3.0, 2**60, 1.2345678901234567e20)),
    {"k": "z"},
    {"k": "z", "t": "a"},
]
DOUBTFUL = {f"s/{n:02}": fields for n, fields in reversed(list(enumerate(_ROWS)))}
"""Inserted in reverse id order: rows in doubt come back in table order, not id order."""


def test_every_page_of_a_sort_with_keys_in_doubt(
    pg_database: PostgresDatabase, store: PostgresEntryStore
) -> None:
    """First pages merge the rows in doubt; later ones go to the core; all are its answer."""
    store.create(DOUBTFUL)
    for group, sort_by in itertools.product("xyz", (["t"], ["n"], ["t", "n"], ["n", "t"])):
        for direction, offset in itertools.product(("asc", "desc"), range(4)):
            for limit in (1, 2, 3, 8, None):
                filters: dict[str, Any] = {
                    "where": [{"key": "k", "operator": "eq", "value": group}],
                    "sort_by": [{"key": k, "direction": direction} for k in sort_by],
                    "offset": str(offset),
                }
                if limit is not None:
                    filters["limit"] = str(limit)
                query = options(**filters)
                MIXED_SORTS.clear()  # each query tries jsonb's own order first
                same(answer(pg_database, "s", query), reference(store, "s", query))
