"""Queries pushed down to PostgreSQL give the core's answers, on a real database.

For random entries (every JSON type, nested maps and lists, null, NUL characters,
case and Unicode, floats and integers past 2**53) and random clauses (every operator,
query-string and JSON-typed values, nested and odd dot paths), the compiled SQL finds
every match of the core's clause tests, exactly those when it says it is exact, and
only rows it names as in doubt besides. ``entry_queries.select`` equals the core's own
pipeline (``evaluate.select`` then the page), order, total and field order included.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import msgspec
import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from psycopg import sql

from flextype_adapters.postgres.database import PostgresDatabase
from flextype_adapters.postgres.entries import PostgresEntryStore
from flextype_adapters.postgres.entry_queries import MIXED_SORTS, select
from flextype_adapters.postgres.query_sql import compile_sort, compile_where
from flextype_core import ids
from flextype_core.errors import EntryNotFound
from flextype_core.model import Selection
from flextype_core.query import clauses, evaluate, parse_options
from flextype_core.query.model import (
    OPERATORS,
    Between,
    Clause,
    In,
    Lt,
    NBetween,
    Nin,
    Query,
    SortKey,
    StartsWith,
)

Fields = dict[str, Any]
EXAMPLES = settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])

# -- values: stored ones and clause ones are drawn from the same corpus, so they meet ------

BIG = 2**53
SCALARS: list[Any] = [
    None, True, False, 0, 1, -1, 2, 5, 1.5, -0.5, 0.0, -0.0, 2.0, 1e16, BIG, BIG + 1,
    -BIG - 1, 123456789012345668000, 1.2345678901234567e20, 2.0**60, 2**60, 10**30, 1e300,
    "", "a", "A", "b", "B", "ab", "Ab", "aB", "é", "É", "ß", "ss", "SS", "st", "St", "İ",
    "i", "ǅ", "1", "-1", "1.5", "5", "05", "1e1", "true", "True", "FALSE", "0", "null",
    "a\x00b", "a\ufffdb", "\x00", "2020-01-01", "2020-01-01T00:00:00+02:00", "1577836800",
    "x'; --", "\\d", "Straße", "STRASSE", "c/e000", " a", "a ",
]  # fmt: skip
COMPOUND: list[Any] = [
    [], ["a"], ["A", "b"], [1, "1"], [True], [None], [["a"]], [{"k": "a"}], ["ß"], [1.5, 2],
    [BIG + 1], {}, {"k": "a"}, {"k": ["a"]}, {"0": "a"}, {"-1": "a"}, {"K": 1},
]  # fmt: skip
scalars = st.one_of(
    st.sampled_from(SCALARS),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
)
values = st.one_of(scalars, scalars, st.sampled_from(COMPOUND))


def placed(value: Any) -> list[Fields]:
    """Entries holding ``value`` at every path the clauses read (a, a.k, a.0, b.m.k...)."""
    return [
        {"a": value},
        {"a": {"k": value, "-1": value, " 0": value}, "b": {"m": {"k": value}}},
        {"a": [value, "z"], "A": value, "x\x00": value},
        {"a": ["z", value], "c": {"K": [value]}, "id": value, "slug": value},
    ]


CORPUS = {
    f"c/e{n:03}": fields
    for n, fields in enumerate(f for v in SCALARS + COMPOUND for f in placed(v))
}
"""One entry per value and place: every clause meets every kind of stored value."""

FIELDS = ("a", "a", "a", "b", "c", "A", "x\x00", "id", "slug")
entry_fields = st.dictionaries(st.sampled_from(FIELDS), values, max_size=4)
IDS = ("c/p", "c/q", "c/r", "c/s", "c/t", "c/p/x", "c/p/y", "c/q/y/z", "d/e", "cc")
collections = st.dictionaries(st.sampled_from(IDS), entry_fields, min_size=1, max_size=7)

# -- clauses ----------------------------------------------------------------------------------

KEYS = ("a", "b", "A", "a.k", "a.0", "a.1", "b.m.k", "a.-1", "a. 0", "a.+1", "id", "slug",
        "id.x", "x\x00", "c.K.0")  # fmt: skip
clause_values = st.one_of(
    st.sampled_from([v for v in SCALARS if v is not None]),
    # As a query string gives them: the text of a stored value.
    st.sampled_from(
        [v if isinstance(v, str) else msgspec.json.encode(v).decode() for v in SCALARS]
    ),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
)
PATTERNS = ("a", "^a", "A$", "[0-9]", "é", "^$", ".", "ss", "\\d+")


@st.composite
def where_clauses(draw: st.DrawFn) -> Clause:
    op = draw(st.sampled_from(sorted(OPERATORS)))
    kind = OPERATORS[op]
    key = tuple(draw(st.sampled_from(KEYS)).split("."))
    value: Any
    if kind in (In, Nin):
        value = tuple(draw(st.lists(clause_values, min_size=1, max_size=3)))
    elif kind in (Between, NBetween):
        value = (draw(clause_values), draw(clause_values))
    elif op in ("regexp", "nregexp"):
        value = draw(st.sampled_from(PATTERNS))
    elif op in ("newer", "older"):
        value = draw(st.sampled_from([0.0, 1.0, 1577836800.0, -1.0]))
    else:
        value = draw(clause_values)
    return kind(key=key, value=value)


sort_key = st.builds(
    SortKey,
    key=st.sampled_from(KEYS).map(lambda k: tuple(k.split("."))),
    descending=st.booleans(),
)
sort_keys = st.lists(sort_key, max_size=2)

# -- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def store(pg_database: PostgresDatabase) -> PostgresEntryStore:
    return PostgresEntryStore(pg_database)


@pytest.fixture(autouse=True)
def no_sort_hints() -> None:
    """Each test starts without the process's memory of sorts that met strings."""
    MIXED_SORTS.clear()


def fill(db: PostgresDatabase, store: PostgresEntryStore, entries: dict[str, Fields]) -> None:
    db.run(lambda tx: tx.execute("DELETE FROM entries"))
    store.create(entries)


def exact_items(db: PostgresDatabase, store: PostgresEntryStore) -> dict[str, dict[str, Any]]:
    """The public items of the rows whose ``data`` holds the fields exactly, by id."""
    rows = db.run(lambda tx: tx.execute("SELECT id FROM entries WHERE data_exact").fetchall())
    exact = {row[0] for row in rows}
    return {e.id: e.public for e in store.descendants("", None) if e.id in exact}


def reference(store: PostgresEntryStore, parent: str, query: Query) -> Selection:
    """The core's own answer over every entry of the range (no SQL but the reads)."""
    if parent and not store.exists(parent) and not store.has_descendants(parent):
        raise EntryNotFound(parent)
    items = [
        e.public
        for e in store.descendants(parent, query.depth)
        if ids.child_depth(e.id, parent) >= query.min_depth
    ]
    found = evaluate.select(query, items)
    end = None if query.limit is None else query.offset + query.limit
    return Selection(items=found[query.offset : end], total=len(found))


def answer(db: PostgresDatabase, parent: str, query: Query) -> Selection:
    return db.read(lambda tx: select(tx.conn, parent, query))


def same(got: Selection, want: Selection) -> None:
    assert [list(item.items()) for item in got.items] == [list(item.items()) for item in want.items]
    assert (got.total, got.unreadable) == (want.total, want.unreadable)


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
    db: PostgresDatabase, corpus: dict[str, dict[str, Any]], where: tuple[Clause, ...]
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
        where=tuple(draw(st.lists(where_clauses(), max_size=2))),
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
