"""The same random collection queries give identical answers on every storage driver.

A random small collection is written under a parent of its own into every store of
``DRIVERS`` (the in-memory fake first, the reference); random ``options`` (as a query
string gives them: every leaf a string) then run through ``EntriesService.query`` on
each. The data and meta must be identical, in identical order, whatever a store's round
trip through YAML or JSON (or a database) does to the values. A new driver joins by
adding its store fixture's name to ``tests.integration.stores.ENTRY_STORES``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flextype_core.entries import EntriesService
from flextype_core.errors import BadRequest, EntryNotFound
from flextype_core.ports import EntryStore
from tests.integration.stores import ENTRY_STORES
from tests.unit.fakes import FixedClock, SequenceIdFactory

Fields = dict[str, Any]
Outcome = tuple[str, Any, Any]

# -- collections -------------------------------------------------------------------------

FIELD_NAMES = ("a", "b", "c", "d")
CHILD_NAMES = ("p", "q", "r", "s", "t", "u", "p/x", "q/y/z")
YAML_LOOKALIKES = (
    "yes", "no", "on", "off", "~", "null", "True", "1_000", "0x1F", "0o7", "1e3", ".inf",
    "2020-01-01", "12:30", "=", "", " a", "a ", "#x", "'q'", '"d"', "-", "[1]", "{}",
)  # fmt: skip

small_ints = st.integers(min_value=-3, max_value=3)
ints = st.one_of(small_ints, st.integers())
floats = st.one_of(
    st.sampled_from([0.5, 1.5, -0.5, 2.0, 0.0, -0.0]),
    st.floats(allow_nan=False, allow_infinity=False),
)
texts = st.one_of(
    st.sampled_from(["a", "A", "b", "ab", "é", "É", "ß", "SS", "1", "2", "1.5", "true"]),
    st.sampled_from(YAML_LOOKALIKES),
    st.text(max_size=5),
)
scalars = st.one_of(ints, floats, texts, st.booleans())
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from(["k", "0", "m"]), scalars, max_size=2),
)
entry_fields = st.dictionaries(st.sampled_from(FIELD_NAMES), values, max_size=4)
collections = st.dictionaries(
    st.sampled_from(CHILD_NAMES),
    entry_fields,
    min_size=1,
    max_size=6,
)

# -- options, as a query string gives them ----------------------------------------------

KEYS = ("a", "b", "c", "d", "a.k", "a.0", "b.m", "b.1")
query_texts = st.one_of(
    small_ints.map(str),
    st.sampled_from(["true", "false", "0", "1", "1.5", "-0.5", "a", "A", "é", "ß", "ss", ""]),
    st.text(max_size=2),
)
SCALAR_OPERATORS = (
    "eq", "neq", "lt", "gt", "lte", "gte", "contains", "ncontains", "starts_with", "ends_with",
    "=", "<>", ">=", "like",
)  # fmt: skip
PATTERNS = ("a", "^a", "A$", "[0-9]", "é", "^$", ".", "(a+)+$")


@st.composite
def clauses(draw: st.DrawFn) -> dict[str, Any]:
    key = draw(st.sampled_from(KEYS))
    kind = draw(st.sampled_from(("scalar", "list", "pair", "pattern", "date")))
    if kind == "scalar":
        return {"key": key, "operator": draw(st.sampled_from(SCALAR_OPERATORS)),
                "value": draw(query_texts)}  # fmt: skip
    if kind == "list":
        items = draw(st.lists(query_texts.filter(lambda t: "," not in t), min_size=1, max_size=3))
        value: Any = (
            ",".join(items)
            if draw(st.booleans())
            else {str(i): item for i, item in enumerate(items)}
        )
        return {"key": key, "operator": draw(st.sampled_from(("in", "nin"))), "value": value}
    if kind == "pair":
        low, high = sorted(draw(st.lists(small_ints, min_size=2, max_size=2)))
        return {"key": key, "operator": draw(st.sampled_from(("between", "nbetween"))),
                "value": {"0": str(low), "1": str(high)}}  # fmt: skip
    if kind == "pattern":
        return {"key": key, "operator": draw(st.sampled_from(("regexp", "nregexp"))),
                "value": draw(st.sampled_from(PATTERNS))}  # fmt: skip
    moment = draw(st.sampled_from(("0", "1", "2020-01-01", "1970-01-01T00:00:02Z")))
    return {"key": key, "operator": draw(st.sampled_from(("newer", "older"))), "value": moment}


def _groups(members: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """or/and/not groups as a query string gives them: lists as maps keyed "0", "1"..."""
    several = st.lists(members, min_size=1, max_size=3).map(
        lambda items: {str(i): item for i, item in enumerate(items)}
    )
    return st.one_of(
        several.map(lambda items: {"or": items}),
        several.map(lambda items: {"and": items}),
        members.map(lambda item: {"not": item}),
    )


conditions = st.recursive(clauses(), _groups, max_leaves=6)


@st.composite
def options(draw: st.DrawFn) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    where = draw(st.lists(conditions, max_size=3))
    if where:
        filters["where"] = {str(i): clause for i, clause in enumerate(where)}
    sort_keys = draw(st.lists(st.sampled_from(KEYS), max_size=2))
    if sort_keys:
        filters["sort_by"] = {
            str(i): {"key": key, "direction": draw(st.sampled_from(("asc", "desc", "DESC")))}
            for i, key in enumerate(sort_keys)
        }
    for name in ("offset", "limit"):
        if draw(st.booleans()):
            filters[name] = str(draw(st.integers(min_value=0, max_value=4)))
    if draw(st.integers(0, 4)) == 0:
        filters["return"] = draw(st.sampled_from(("all", "first", "last", "next")))
    if draw(st.integers(0, 4)) == 0:
        filters["group_by"] = draw(st.sampled_from(KEYS))
    if draw(st.integers(0, 4)) == 0:
        filters["only"] = ",".join(draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=2)))
    if draw(st.integers(0, 4)) == 0:
        filters["except"] = {"0": draw(st.sampled_from(KEYS))}
    result: dict[str, Any] = {"collection": "true", "filter": filters}
    if draw(st.booleans()):
        result["find"] = {"depth": draw(st.sampled_from(("1", "2", "all", ">0", "<2")))}
    return result


# -- the stores ------------------------------------------------------------------------------

DRIVERS = ENTRY_STORES
"""The stores compared, by fixture name (``tests/integration/stores.py``); the first is
the reference the others must match."""

_parents = itertools.count()


@pytest.fixture
def stores(request: pytest.FixtureRequest) -> dict[str, EntryStore]:
    """One store of each driver for the whole test: every example writes under a new parent."""
    return {name: request.getfixturevalue(name) for name in DRIVERS}


def outcome(run: Callable[[], Any]) -> Outcome:
    """What a query gave: ``("ok", data, meta)`` or ``("error", kind, message)``."""
    try:
        page = run()
    except (BadRequest, EntryNotFound) as exc:
        return ("error", type(exc).__name__, str(exc))
    return ("ok", page.data, page.meta)


def strict(value: Any) -> Any:
    """A form of ``value`` in which ``1``, ``1.0`` and ``True`` differ, and ``-0.0``."""
    if isinstance(value, dict):
        return ("map", [(key, strict(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [strict(item) for item in value])
    if isinstance(value, float):
        return ("float", value.hex())
    return (type(value).__name__, value)


_SUPPRESSED = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.function_scoped_fixture,  # ``stores``: each example has its own parent
]


@settings(max_examples=40, deadline=None, suppress_health_check=_SUPPRESSED)
@given(collection=collections, queries=st.lists(options(), min_size=1, max_size=4))
def test_random_queries_give_identical_data_in_identical_order_on_every_driver(
    stores: dict[str, EntryStore],
    collection: dict[str, Fields],
    queries: list[dict[str, Any]],
) -> None:
    same_answers(stores, collection, queries)


def same_answers(
    stores: dict[str, EntryStore], collection: dict[str, Fields], queries: list[dict[str, Any]]
) -> None:
    """``collection`` written under a new parent in every store: each query answers alike."""
    parent = f"c{next(_parents)}"
    services = {}
    for name, store in stores.items():
        store.create({f"{parent}/{child}": fields for child, fields in collection.items()})
        services[name] = EntriesService(store, FixedClock(), SequenceIdFactory())
    for query in queries:
        answers = {
            name: outcome(partial(service.query, parent, query))
            for name, service in services.items()
        }
        reference = answers[DRIVERS[0]]
        for name, answer in answers.items():
            assert strict(answer[1]) == strict(reference[1]), (name, query)
            assert answer == reference, (name, query)


@settings(max_examples=40, deadline=None, suppress_health_check=_SUPPRESSED)
@given(collection=collections)
def test_every_driver_stores_the_random_fields_exactly(
    stores: dict[str, EntryStore], collection: dict[str, Fields]
) -> None:
    parent = f"c{next(_parents)}"
    for name, store in stores.items():
        store.create({f"{parent}/{child}": fields for child, fields in collection.items()})
        for child, fields in collection.items():
            stored = store.get(f"{parent}/{child}").fields
            assert strict(stored) == strict(fields), (name, child)


@st.composite
def group_options(draw: st.DrawFn) -> dict[str, Any]:
    """Options whose where holds groups only, nested, with a sort and a page at times."""
    where = draw(st.lists(_groups(conditions), min_size=1, max_size=2))
    filters: dict[str, Any] = {"where": {str(i): item for i, item in enumerate(where)}}
    if draw(st.booleans()):
        filters["sort_by"] = {"key": draw(st.sampled_from(KEYS))}
    if draw(st.booleans()):
        filters["limit"] = str(draw(st.integers(min_value=0, max_value=3)))
    return {"collection": "true", "filter": filters, "find": {"depth": "all"}}


@settings(max_examples=40, deadline=None, suppress_health_check=_SUPPRESSED)
@given(collection=collections, queries=st.lists(group_options(), min_size=1, max_size=4))
def test_random_nested_groups_give_identical_answers_on_every_driver(
    stores: dict[str, EntryStore],
    collection: dict[str, Fields],
    queries: list[dict[str, Any]],
) -> None:
    same_answers(stores, collection, queries)


GENRES: dict[str, Fields] = {
    "action": {"genre": "action"},
    "list": {"genre": ["action"]},
    "drama": {"genre": "drama"},
    "number": {"genre": 1},
    "map": {"genre": {"k": "action"}},
    "null": {"genre": None},
    "missing": {},
}


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        # neq/nin are the complement of eq/in among the entries that have the field: a
        # list is never equal to a string.
        ({"key": "genre", "operator": "neq", "value": "action"},
         ["drama", "list", "map", "number"]),
        ({"key": "genre", "operator": "nin", "value": "action,1"}, ["drama", "list", "map"]),
        ({"key": "genre", "operator": "eq", "value": "action"}, ["action"]),
        # not of a clause holds where the clause does not: missing and null fields too.
        ({"not": {"key": "genre", "operator": "eq", "value": "action"}},
         ["drama", "list", "map", "missing", "null", "number"]),
        ({"not": {"key": "genre", "operator": "neq", "value": "action"}},
         ["action", "missing", "null"]),
        ({"or": {"0": {"key": "genre", "operator": "contains", "value": "action"},
                 "1": {"key": "genre", "operator": "eq", "value": "1"}}},
         ["action", "list", "number"]),
    ],
)  # fmt: skip
def test_neq_on_a_list_and_not_on_a_missing_field_on_every_driver(
    stores: dict[str, EntryStore], where: dict[str, Any], expected: list[str]
) -> None:
    parent = f"c{next(_parents)}"
    options = {"collection": "true", "filter": {"where": {"0": where}}}
    for name, store in stores.items():
        store.create({f"{parent}/{child}": fields for child, fields in GENRES.items()})
        service = EntriesService(store, FixedClock(), SequenceIdFactory())
        found = service.query(parent, options).data
        assert sorted(item["id"].rsplit("/", 1)[1] for item in found) == expected, name
