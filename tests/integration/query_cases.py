"""Entries, clauses and sorts for the PostgreSQL query tests, and the core's answers.

Stored values and clause values are drawn from one corpus (every JSON type, nested maps
and lists, null, NUL characters, case and Unicode, floats and integers past 2**53), so
that they meet.
"""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from flextype_adapters.postgres.database import PostgresDatabase
from flextype_adapters.postgres.entries import PostgresEntryStore
from flextype_adapters.postgres.entry_queries import select
from flextype_core import ids
from flextype_core.errors import EntryNotFound
from flextype_core.model import Selection
from flextype_core.query import evaluate
from flextype_core.query.model import (
    OPERATORS,
    AllOf,
    AnyOf,
    Between,
    Clause,
    Condition,
    In,
    NBetween,
    Nin,
    Not,
    Query,
    SortKey,
)

__all__ = [
    "BIG",
    "COMPOUND",
    "CORPUS",
    "EXAMPLES",
    "KEYS",
    "SCALARS",
    "Fields",
    "answer",
    "collections",
    "exact_items",
    "fill",
    "reference",
    "same",
    "sort_key",
    "sort_keys",
    "where_clauses",
    "where_conditions",
]

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


def _groups(members: st.SearchStrategy[Condition]) -> st.SearchStrategy[Condition]:
    several = st.lists(members, min_size=1, max_size=3).map(tuple)
    return st.one_of(
        several.map(lambda items: AnyOf(items=items)),
        several.map(lambda items: AllOf(items=items)),
        members.map(lambda item: Not(item=item)),
    )


def where_conditions() -> st.SearchStrategy[Condition]:
    """A clause, or or/and/not groups of them, nested a few levels."""
    return st.recursive(where_clauses(), _groups, max_leaves=6)


sort_key = st.builds(
    SortKey,
    key=st.sampled_from(KEYS).map(lambda k: tuple(k.split("."))),
    descending=st.booleans(),
)
sort_keys = st.lists(sort_key, max_size=2)


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
