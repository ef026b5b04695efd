"""The compiled SQL against the core's clause tests and sort, on a real database.

For random and exhaustive clauses (every operator, query-string and JSON-typed values,
nested and odd dot paths) over a corpus of every kind of stored value, the SQL finds
every match of the core's clause tests, exactly those when it says it is exact, and
besides them only rows it names as in doubt; its order is the core's when no row is in
doubt.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from psycopg import sql

from flextype_adapters.postgres.database import PostgresDatabase
from flextype_adapters.postgres.entries import PostgresEntryStore
from flextype_adapters.postgres.query_sql import compile_sort, compile_where
from flextype_core.query import clauses, evaluate
from flextype_core.query.model import (
    OPERATORS,
    AllOf,
    AnyOf,
    Between,
    Clause,
    Condition,
    Eq,
    Gt,
    In,
    Lt,
    NBetween,
    Nin,
    Not,
    Regexp,
    SortKey,
    StartsWith,
)
from tests.integration.query_cases import (
    BIG,
    CORPUS,
    EXAMPLES,
    SCALARS,
    Fields,
    collections,
    exact_items,
    fill,
    sort_key,
    where_clauses,
    where_conditions,
)

# -- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def store(pg_database: PostgresDatabase) -> PostgresEntryStore:
    return PostgresEntryStore(pg_database)


# -- the compiler against the core's clause tests -------------------------------------------------


@pytest.fixture
def corpus(pg_database: PostgresDatabase, store: PostgresEntryStore) -> dict[str, dict[str, Any]]:
    """CORPUS stored; the public items of its rows whose ``data`` is exact, by id."""
    store.create(CORPUS)
    return exact_items(pg_database, store)


@EXAMPLES
@given(st.lists(where_clauses(), min_size=1, max_size=2))
@example([StartsWith(key=("a", "-1"), value="z")])  # "-1": the last element for PostgreSQL
@example([Lt(key=("a",), value=123456789012345668000)])  # past 2**53
@example([NBetween(key=("a",), value=("0", 2))])
def test_sql_finds_every_match_and_exactly_them_when_exact(
    pg_database: PostgresDatabase, corpus: dict[str, dict[str, Any]], where: list[Clause]
) -> None:
    for part in [*([c] for c in where), where] if len(where) > 1 else [where]:
        check_where(pg_database, corpus, tuple(part))


def check_where(
    db: PostgresDatabase, corpus: dict[str, dict[str, Any]], where: tuple[Condition, ...]
) -> None:
    """SQL finds every match; only them when exact; besides them only rows in doubt."""
    compiled = compile_where(where)
    test = clauses.compile_where(where)
    statement = sql.SQL(
        "SELECT id, coalesce(({}), FALSE), coalesce(({}), TRUE) FROM entries WHERE data_exact"
    ).format(compiled.sql, compiled.doubt if compiled.doubt is not None else sql.SQL("TRUE"))
    params = compiled.params + (compiled.doubt_params if compiled.doubt is not None else [])
    rows = db.run(lambda tx: tx.execute(statement, params).fetchall())
    for entry_id, found, doubt in rows:
        match = test(corpus[entry_id])
        assert found or not match, (where, entry_id)  # never drops a match
        if found and not match:
            assert not compiled.exact, (where, entry_id)
            assert doubt, (where, entry_id)  # a false positive is always in doubt


@EXAMPLES
@given(st.lists(where_conditions(), min_size=1, max_size=2))
@example([Not(item=Regexp(key=("a",), value="^a"))])  # every row of the regexp in doubt
@example([Not(item=Gt(key=("a",), value="b"))])  # strings past ASCII in doubt
@example([Not(item=Eq(key=("a",), value=BIG + 1))])  # a number past 2**53 in doubt
@example([Not(item=AnyOf(items=(Eq(key=("a",), value="a"), Regexp(key=("a",), value="b"))))])
@example([Not(item=AllOf(items=(Not(item=Gt(key=("a",), value="a")), Eq(key=("b",), value=1))))])
@example([Not(item=Not(item=Regexp(key=("a", "k"), value="ss")))])
def test_sql_of_groups_finds_every_match_and_exactly_them_when_exact(
    pg_database: PostgresDatabase, corpus: dict[str, dict[str, Any]], where: list[Condition]
) -> None:
    check_where(pg_database, corpus, tuple(where))
    for condition in where:
        check_where(pg_database, corpus, (Not(item=condition),))


EVERY_VALUE = [
    *(v for v in SCALARS if v is not None),
    *(msgspec.json.encode(v).decode() for v in SCALARS if not isinstance(v, str)),
    math.inf,
    -math.inf,
    math.nan,
]


def test_every_operator_on_every_kind_of_value(
    pg_database: PostgresDatabase, corpus: dict[str, dict[str, Any]]
) -> None:
    """Each operator, each value of the corpus as a clause value (typed and as text)."""
    for op, kind in OPERATORS.items():
        for key in (("a",), ("a", "0"), ("a", "-1"), ("id",), ("b", "m", "k")):
            # Every value on one key; on the other paths, a sample of them.
            for value in EVERY_VALUE if key == ("a",) else EVERY_VALUE[::5]:
                if kind in (In, Nin):
                    clause_value: Any = (value, "a")
                elif kind in (Between, NBetween):
                    clause_value = (value, "St") if isinstance(value, str) else (value, 2**60)
                elif op in ("regexp", "nregexp"):
                    clause_value = "^a|ss|\\d$"
                elif op in ("newer", "older"):
                    clause_value = 1577836800.0 if value == "" else 0.5
                else:
                    clause_value = value
                check_where(pg_database, corpus, (kind(key=key, value=clause_value),))


@EXAMPLES
@given(collections, st.lists(sort_key, min_size=1, max_size=2))
@example({"c/p": {"a": "B"}, "c/q": {"a": "a"}}, [SortKey(key=("a",))])
@example({"c/p": {"a": "ß"}, "c/q": {"a": "st"}}, [SortKey(key=("a",))])
@example({"c/p": {"a": ["x", "z"]}, "c/q": {"a": ["y"]}}, [SortKey(key=("a", "-1"))])
def test_sql_order_is_the_cores_when_no_row_is_in_doubt(
    pg_database: PostgresDatabase,
    store: PostgresEntryStore,
    entries: dict[str, Fields],
    keys: list[SortKey],
) -> None:
    fill(pg_database, store, entries)
    items = exact_items(pg_database, store)
    sort = compile_sort(tuple(keys))
    columns, params = [], []
    for i, (value, value_params) in enumerate(sort.values):
        columns += [
            sql.SQL("{} AS {}").format(value, sql.Identifier(f"s{i}")),
            sql.SQL("{} AS {}").format(sort.rank(i, value), sql.Identifier(f"r{i}")),
        ]
        params += value_params * 2
    values = [sql.Identifier(f"s{i}") for i in range(len(keys))]
    ranks = [sql.Identifier(f"r{i}") for i in range(len(keys))]
    statement = sql.SQL(
        "SELECT id, {doubt}, {texts} FROM (SELECT id, {columns} FROM entries WHERE data_exact)"
        " AS m ORDER BY {order}, id"
    ).format(
        doubt=sort.doubt(values, ranks),
        texts=sql.SQL(", ").join(sql.SQL("{}::text").format(v) for v in values),
        columns=sql.SQL(", ").join(columns),
        order=sort.order_by(values, ranks),
    )
    rows = pg_database.run(lambda tx: tx.execute(statement, params).fetchall())
    in_doubt = any(
        row[1] or sort.doubts_page(msgspec.json.decode(t) for t in row[2:] if t is not None)
        for row in rows
    )
    want = [item["id"] for item in evaluate.sort_items(list(items.values()), tuple(keys))]
    got = [row[0] for row in rows]
    assert sorted(got) == sorted(want)
    if not in_doubt:
        assert got == want
