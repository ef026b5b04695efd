"""``or``, ``and`` and ``not`` groups in ``where`` against a reference evaluator of their own.

Random nested groups are drawn in the JSON shape a client sends; the reference reads
that shape directly (its clauses by ``test_query_evaluate``'s reference), while the
engine gets it through ``parse_options``. The laws of logic (De Morgan, double
negation) and the indexes' narrowing are checked on the same draws.
"""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from flextype_core.query import IndexedItems, parse_options, select, select_from
from flextype_core.query.model import MAX_NESTING, OPERATORS
from tests.unit.test_query_evaluate import (
    _ABSENT,
    ITEMS,
    KEYS,
    QUERY_VALUES,
    SCALAR_OPS,
    ref_get,
    ref_test,
)

Item = dict[str, Any]
Shape = dict[str, Any]
"""A condition as JSON gives it: a clause ``{key, operator, value}`` or ``{or|and|not: ...}``."""


@st.composite
def leaf(draw: st.DrawFn) -> Shape:
    op = draw(st.sampled_from([*SCALAR_OPS, "in", "nin", "between", "nbetween"]))
    value: Any
    if op in ("in", "nin"):
        value = draw(st.lists(QUERY_VALUES, min_size=1, max_size=3))
    elif op in ("between", "nbetween"):
        value = [draw(QUERY_VALUES), draw(QUERY_VALUES)]
    else:
        value = draw(QUERY_VALUES)
    return {"key": draw(KEYS), "operator": op, "value": value}


def _group(children: st.SearchStrategy[Shape]) -> st.SearchStrategy[Shape]:
    return st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda items: {"or": items}),
        st.lists(children, min_size=1, max_size=3).map(lambda items: {"and": items}),
        children.map(lambda item: {"not": item}),
    )


conditions = st.recursive(leaf(), _group, max_leaves=8)


def holds(shape: Shape, item: Item) -> bool:
    """The reference: what the condition means, read off its JSON shape."""
    if "or" in shape:
        return any(holds(member, item) for member in shape["or"])
    if "and" in shape:
        return all(holds(member, item) for member in shape["and"])
    if "not" in shape:
        return not holds(shape["not"], item)
    stored = ref_get(item, tuple(shape["key"].split(".")))
    if stored is _ABSENT or stored is None:
        return False
    return ref_test(shape["operator"], stored, shape["value"])


def ids(where: list[Shape], items: list[Item]) -> list[str]:
    """The ids the engine selects for ``where`` (parsed as a client's JSON)."""
    query = parse_options({"filter": {"where": where}})
    return [item["id"] for item in select(query, items)]


@settings(max_examples=400)
@given(ITEMS, st.lists(conditions, min_size=1, max_size=3))
@example(items=[{"id": "e0"}], where=[{"not": {"key": "a", "operator": "neq", "value": "x"}}])
def test_groups_agree_with_the_reference(items: list[Item], where: list[Shape]) -> None:
    expected = [item["id"] for item in items if all(holds(c, item) for c in where)]
    assert ids(where, items) == expected


@given(ITEMS, conditions, conditions)
def test_de_morgan(items: list[Item], a: Shape, b: Shape) -> None:
    assert ids([{"not": {"or": [a, b]}}], items) == ids([{"not": a}, {"not": b}], items)
    assert ids([{"not": {"or": [a, b]}}], items) == ids([{"and": [{"not": a}, {"not": b}]}], items)
    assert ids([{"not": {"and": [a, b]}}], items) == ids([{"or": [{"not": a}, {"not": b}]}], items)


@given(ITEMS, conditions)
def test_double_negation_is_the_condition(items: list[Item], a: Shape) -> None:
    assert ids([{"not": {"not": a}}], items) == ids([a], items)


@given(ITEMS, conditions)
def test_a_condition_and_its_negation_split_the_items(items: list[Item], a: Shape) -> None:
    kept, dropped = set(ids([a], items)), set(ids([{"not": a}], items))
    assert not kept & dropped
    assert kept | dropped == {item["id"] for item in items}


@given(leaf())
def test_not_of_a_clause_on_a_missing_field_matches(clause: Shape) -> None:
    # The clause fails on a missing (or null) field, whatever its operator: neq too.
    items: list[Item] = [{"id": "e0"}, {"id": "e1", clause["key"].split(".")[0]: None}]
    assert ids([clause], items) == []
    assert ids([{"not": clause}], items) == ["e0", "e1"]
    assert ids([{"not": {"not": clause}}], items) == []


def test_every_operator_negated_on_a_missing_field_matches() -> None:
    items: list[Item] = [{"id": "e0", "b": 1}]
    for op in OPERATORS:
        value: Any = {"in": ["x"], "nin": ["x"], "between": [1, 2], "nbetween": [1, 2]}.get(op, "1")
        if op in ("newer", "older"):
            value = 0
        assert ids([{"not": {"key": "a", "operator": op, "value": value}}], items) == ["e0"], op


def test_groups_nested_eight_deep_evaluate() -> None:
    shape: Shape = {"key": "a", "operator": "eq", "value": 1}
    for level in range(MAX_NESTING):
        shape = {"not": shape} if level % 2 else {"or": [shape]}
    items: list[Item] = [{"id": "e0", "a": 1}, {"id": "e1", "a": 2}]
    assert ids([shape], items) == [item["id"] for item in items if holds(shape, item)]


# -- the indexes narrow groups and never drop a match -------------------------------------


@settings(max_examples=400)
@given(st.lists(ITEMS, min_size=1, max_size=3), st.lists(conditions, min_size=1, max_size=3))
def test_indexed_selection_of_groups_equals_a_full_scan(
    groups: list[list[Item]], where: list[Shape]
) -> None:
    items = [{**item, "id": f"e{n}"} for n, item in enumerate(x for g in groups for x in g)]
    query = parse_options({"filter": {"where": where}})
    assert select_from(query, IndexedItems(items)) == select(query, items)


def _eq(key: str, value: Any) -> Shape:
    return {"key": key, "operator": "eq", "value": value}


def _candidates(where: list[Shape], items: list[Item]) -> list[int] | None:
    return IndexedItems(items).candidates(parse_options({"filter": {"where": where}}).where)


def test_or_narrows_to_the_union_and_and_to_the_intersection() -> None:
    items = [{"id": f"m{i}", "year": 1990 + i, "rating": i % 5} for i in range(20)]
    either = {"or": [_eq("year", 1995), _eq("rating", 4)]}
    assert _candidates([either], items) == [4, 5, 9, 14, 19]
    both = {"and": [_eq("rating", 4), {"key": "year", "operator": "gte", "value": 2000}]}
    assert _candidates([both], items) == [14, 19]
    assert _candidates([either, both], items) == [14, 19]


def test_or_with_a_member_that_cannot_narrow_and_not_leave_every_item() -> None:
    items = [{"id": f"m{i}", "year": 1990 + i} for i in range(5)]
    regexp: Shape = {"key": "year", "operator": "regexp", "value": "9"}
    assert _candidates([{"or": [_eq("year", 1991), regexp]}], items) is None
    assert _candidates([{"not": _eq("year", 1991)}], items) is None
    # Beside a clause that narrows, they only leave the narrowing to it.
    assert _candidates([{"not": _eq("year", 1991)}, _eq("year", 1992)], items) == [2]
