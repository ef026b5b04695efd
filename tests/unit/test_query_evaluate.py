"""The query pipeline: operator examples, and properties against a plain reference."""

from __future__ import annotations

import functools
import json
import operator
import random
import re
import warnings
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from flextype_core.query import parse_options, run, select, shape
from flextype_core.query.model import OPERATORS, Clause, Query, SortKey
from flextype_core.query.regex import compile_pattern

MOVIES: list[dict[str, Any]] = [
    {"id": "m/a", "title": "Birds of Prey", "year": 2020, "rating": 6.1, "tags": ["action"],
     "director": {"name": "Cathy Yan"}, "seen": True, "released": "2020-02-07"},
    {"id": "m/b", "title": "the platform", "year": 2019, "rating": 7.0,
     "tags": ["horror", "drama"], "director": {"name": "Galder"}, "seen": False,
     "released": 1573776000},
    {"id": "m/c", "title": "Amélie", "year": "2001", "rating": None, "tags": [],
     "seen": "yes", "released": "not a date"},
    {"id": "m/d", "title": "Zodiac", "tags": ["drama", 2007]},
]  # fmt: skip


def ids(options: dict[str, Any], items: list[dict[str, Any]] = MOVIES) -> list[str]:
    return [item["id"] for item in run(parse_options(options), items)]


def where(key: str, operator: str, value: Any) -> dict[str, Any]:
    return {"filter": {"where": [{"key": key, "operator": operator, "value": value}]}}


def test_eq_reads_a_query_string_by_the_stored_type() -> None:
    assert ids(where("year", "eq", "2020")) == ["m/a"]
    assert ids(where("year", "=", "2001")) == ["m/c"]  # a stored string
    assert ids(where("year", "eq", 2001)) == ["m/c"]  # JSON 2001 meets it by its text
    assert ids(where("rating", "eq", "7")) == ["m/b"]
    assert ids(where("seen", "eq", "TRUE")) == ["m/a"]
    assert ids(where("seen", "eq", "0")) == ["m/b"]
    assert ids(where("seen", "eq", "yes")) == ["m/c"]
    assert ids(where("director.name", "eq", "Galder")) == ["m/b"]
    assert ids(where("tags.0", "eq", "drama")) == ["m/d"]
    assert ids(where("year", "eq", "twenty")) == []


def test_missing_or_null_fields_match_no_clause_not_even_neq() -> None:
    assert ids(where("rating", "neq", "1")) == ["m/a", "m/b"]
    assert ids(where("year", "nin", "1,2")) == ["m/a", "m/b", "m/c"]
    assert ids(where("nothing", "!=", "x")) == []


def test_neq_and_nin_match_every_present_field_that_eq_and_in_do_not() -> None:
    # A list is never equal to a string, nor a number to a word: Flextype's answers.
    assert ids(where("tags", "eq", "action")) == []
    assert ids(where("tags", "neq", "action")) == ["m/a", "m/b", "m/c", "m/d"]
    assert ids(where("tags", "nin", ["action", "drama"])) == ["m/a", "m/b", "m/c", "m/d"]
    assert ids(where("director", "neq", "Galder")) == ["m/a", "m/b"]
    assert ids(where("year", "<>", "twenty")) == ["m/a", "m/b", "m/c"]
    assert ids(where("seen", "neq", "yes")) == ["m/a", "m/b"]
    assert ids(where("seen", "nin", ["true", "yes"])) == ["m/b"]


def test_order_operators_compare_numbers_and_strings_and_skip_other_types() -> None:
    assert ids(where("year", "lt", "2020")) == ["m/b", "m/c"]
    assert ids(where("year", ">", "2019")) == ["m/a"]
    assert ids(where("rating", "<=", "7.0")) == ["m/a", "m/b"]
    assert ids(where("rating", "gte", 7)) == ["m/b"]
    assert ids(where("title", "lt", "C")) == ["m/a", "m/c"]  # case-folded
    assert ids(where("seen", "gt", "0")) == ["m/c"]  # only the string "yes" orders
    assert ids(where("tags", "gt", "a")) == []


def test_in_between_and_their_negations() -> None:
    assert ids(where("year", "in", "2019,2001")) == ["m/b", "m/c"]
    assert ids(where("year", "nin", ["2019", "x"])) == ["m/a", "m/c"]
    assert ids(where("year", "between", "2019,2020")) == ["m/a", "m/b"]
    assert ids(where("year", "nbetween", [2019, 2020])) == ["m/c"]
    assert ids(where("rating", "between", "7,6")) == []


def test_contains_is_a_substring_on_strings_and_membership_on_lists() -> None:
    assert ids(where("title", "contains", "Prey")) == ["m/a"]
    assert ids(where("title", "like", "prey")) == []
    assert ids(where("tags", "contains", "drama")) == ["m/b", "m/d"]
    assert ids(where("tags", "contains", "2007")) == ["m/d"]
    assert ids(where("tags", "ncontains", "drama")) == ["m/a", "m/c"]
    assert ids(where("title", "nlike", "i")) == ["m/b"]
    assert ids(where("year", "contains", "20")) == ["m/c"]  # no substring of a number


def test_starts_with_and_ends_with_apply_to_strings() -> None:
    assert ids(where("title", "starts_with", "the")) == ["m/b"]
    assert ids(where("title", "ends_with", "ie")) == ["m/c"]
    assert ids(where("year", "starts_with", "20")) == ["m/c"]


def test_regexp_searches_case_insensitively() -> None:
    assert ids(where("title", "regexp", "^THE")) == ["m/b"]
    assert ids(where("title", "regexp", r"\bof\b")) == ["m/a"]
    assert ids(where("title", "nregexp", "[aeiou]{2}")) == ["m/a", "m/b"]
    assert ids(where("year", "regexp", "20")) == ["m/c"]


def test_a_catastrophic_pattern_answers_without_hanging() -> None:
    items = [{"id": "x", "s": "a" * 5000 + "b"}, {"id": "y", "s": "a" * 9999 + "!"}]
    assert ids(where("s", "regexp", "(a+)+$"), items) == []
    assert ids(where("s", "regexp", "(a|aa)*c"), items) == []
    assert ids(where("s", "regexp", ".*.*.*!"), items) == ["y"]
    assert ids(where("s", "nregexp", "(\\w*)*x"), items) == ["x", "y"]


def test_fields_over_the_subject_limit_match_neither_regexp_operator() -> None:
    items = [{"id": "x", "s": "a" * 10001}]
    assert ids(where("s", "regexp", "a")) == [] == ids(where("s", "nregexp", "b"), items)


def test_newer_and_older_compare_unix_times_and_iso_dates() -> None:
    assert ids(where("released", "newer", "2020-01-01")) == ["m/a"]
    assert ids(where("released", "older", "2020-01-01T00:00:00Z")) == ["m/b"]
    assert ids(where("released", "newer", 1573775999)) == ["m/a", "m/b"]
    assert ids(where("year", "older", "3000")) == ["m/a", "m/b", "m/c"]


def test_sort_by_several_keys_puts_missing_values_last_both_ways() -> None:
    asc = {"filter": {"sort_by": [{"key": "rating"}]}}
    desc = {"filter": {"sort_by": {"key": "rating", "direction": "desc"}}}
    assert ids(asc) == ["m/a", "m/b", "m/c", "m/d"]
    assert ids(desc) == ["m/b", "m/a", "m/c", "m/d"]
    assert ids({"filter": {"sort_by": {"key": "title"}}}) == ["m/c", "m/a", "m/b", "m/d"]
    mixed = {"filter": {"sort_by": [{"key": "year"}]}}
    assert ids(mixed) == ["m/b", "m/a", "m/c", "m/d"]  # numbers before strings


def test_offset_limit_and_return_modes() -> None:
    def result(**filters: Any) -> Any:
        return run(parse_options({"filter": filters}), MOVIES, random.Random(1))

    assert [i["id"] for i in result(offset="1", limit="2")] == ["m/b", "m/c"]
    assert result(limit="0") == []
    assert result(**{"return": "first"})["id"] == "m/a"
    assert result(**{"return": "last"})["id"] == "m/d"
    assert result(**{"return": "next"})["id"] == "m/b"
    assert result(**{"return": "random"})["id"] in {"m/a", "m/b", "m/c", "m/d"}
    shuffled = result(**{"return": "shuffle"})
    assert sorted(i["id"] for i in shuffled) == ["m/a", "m/b", "m/c", "m/d"]
    for mode in ("first", "last", "next", "random"):
        assert result(offset="9", **{"return": mode}) is None
    assert result(offset="3", **{"return": "next"}) is None


def test_group_by_keys_by_text_and_keeps_first_item_order() -> None:
    groups = run(parse_options({"filter": {"group_by": "year", "only": "title"}}), MOVIES)
    assert list(groups) == ["2020", "2019", "2001", ""]
    assert groups["2001"] == [{"title": "Amélie", "id": "m/c"}]
    seen = run(parse_options({"filter": {"group_by": "seen"}}), MOVIES)
    assert list(seen) == ["true", "false", "yes", ""]


def test_only_keeps_id_and_nested_paths_and_except_drops_fields() -> None:
    only = run(parse_options({"filter": {"only": ["director.name", "nope"], "limit": "1"}}), MOVIES)
    assert only == [{"director": {"name": "Cathy Yan"}, "id": "m/a"}]
    dropped = run(parse_options({"filter": {"except": "id,title,tags,director.name"}}), MOVIES)
    assert dropped[0] == {
        "id": "m/a", "year": 2020, "rating": 6.1, "director": {}, "seen": True,
        "released": "2020-02-07",
    }  # fmt: skip
    first = run(parse_options({"filter": {"return": "first", "only": "year"}}), MOVIES)
    assert first == {"year": 2020, "id": "m/a"}


def test_every_operator_has_a_clause_class() -> None:
    assert len(OPERATORS) == 18
    assert all(cls.__struct_config__.tag == name for name, cls in OPERATORS.items())


# --- properties against a plain reference -------------------------------------------------

SCALARS = st.one_of(
    st.integers(-3, 3),
    st.floats(-3, 3, allow_nan=False).map(lambda f: round(f, 1)),
    st.text(alphabet="aAbé1.-_ ", max_size=3),
    st.booleans(),
)
VALUES = st.one_of(
    st.none(),
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.fixed_dictionaries({}, optional={"x": SCALARS, "y": st.lists(SCALARS, max_size=2)}),
)
FIELDS = ("a", "b", "c")
ITEMS = st.lists(st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, VALUES)), max_size=8).map(
    lambda rows: [{**row, "id": f"e{i}"} for i, row in enumerate(rows)]
)
KEYS = st.sampled_from(["a", "b", "c", "c.x", "a.0", "c.y.1"])
QUERY_VALUES = st.one_of(
    SCALARS,
    st.sampled_from(
        ["1", "-2", "1.5", "1.", ".5", "+3", "1e1", "0", "true", "FALSE", "a", "é", ""]
    ),
)
SCALAR_OPS = ["eq", "neq", "lt", "gt", "lte", "gte", "contains", "ncontains"]
SCALAR_OPS += ["starts_with", "ends_with"]


@st.composite
def clauses(draw: st.DrawFn) -> Clause:
    op = draw(st.sampled_from([*SCALAR_OPS, "in", "nin", "between", "nbetween"]))
    if op in ("in", "nin"):
        value: Any = tuple(draw(st.lists(QUERY_VALUES, min_size=1, max_size=3)))
    elif op in ("between", "nbetween"):
        value = (draw(QUERY_VALUES), draw(QUERY_VALUES))
    else:
        value = draw(QUERY_VALUES)
    return OPERATORS[op](key=tuple(draw(KEYS).split(".")), value=value)


_ABSENT = object()


def ref_get(item: Any, key: tuple[str, ...]) -> Any:
    for part in key:
        if isinstance(item, dict) and part in item:
            item = item[part]
        elif isinstance(item, list) and part.isdigit() and int(part) < len(item):
            item = item[int(part)]
        else:
            return _ABSENT
    return item


def ref_coerce(stored: Any, value: Any) -> Any:
    text = value if isinstance(value, str) else json.dumps(value)
    if isinstance(stored, str):
        return text
    if isinstance(stored, bool):
        return {"true": True, "1": True, "false": False, "0": False}.get(text.lower())
    if isinstance(stored, int | float):
        if isinstance(value, bool):
            return None
        if not isinstance(value, str):
            return value
        # Decimals as JSON or YAML write them: 1, -2, 1.5, 1., .5, +3, 1e3.
        if re.fullmatch(r"[+-]?[0-9]+", value):
            return int(value)
        decimal = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
        return float(value) if re.fullmatch(decimal, value) else None
    return None


def ref_key(value: Any) -> Any:
    return (value.casefold(), value) if isinstance(value, str) else value


def ref_order(stored: Any, value: Any) -> tuple[Any, Any] | None:
    other = ref_coerce(stored, value)
    if isinstance(stored, bool) or other is None:
        return None
    return ref_key(stored), ref_key(other)


def ref_test(op: str, stored: Any, value: Any) -> bool:
    if op == "eq":
        return ref_coerce(stored, value) is not None and ref_coerce(stored, value) == stored
    if op == "neq":
        return not ref_test("eq", stored, value)
    if op in ("lt", "gt", "lte", "gte"):
        pair = ref_order(stored, value)
        checks = {"lt": operator.lt, "gt": operator.gt, "lte": operator.le, "gte": operator.ge}
        return pair is not None and bool(checks[op](pair[0], pair[1]))
    if op == "in":
        return any(ref_test("eq", stored, v) for v in value)
    if op == "nin":
        return not ref_test("in", stored, value)
    if op in ("between", "nbetween"):
        low, high = ref_order(stored, value[0]), ref_order(stored, value[1])
        if low is None or high is None:
            return False
        return bool(low[1] <= low[0] <= high[1]) == (op == "between")
    if op in ("contains", "ncontains"):
        text = value if isinstance(value, str) else json.dumps(value)
        if isinstance(stored, str):
            found = text in stored
        elif isinstance(stored, list):
            found = any(ref_test("eq", element, value) for element in stored)
        else:
            return False
        return found == (op == "contains")
    text = value if isinstance(value, str) else json.dumps(value)
    if not isinstance(stored, str):
        return False
    return stored.startswith(text) if op == "starts_with" else stored.endswith(text)


def ref_match(clause: Clause, item: dict[str, Any]) -> bool:
    stored = ref_get(item, clause.key)
    if stored is _ABSENT or stored is None:
        return False
    return ref_test(clause.op, stored, clause.value)


@settings(max_examples=300)
@given(ITEMS, st.lists(clauses(), max_size=3))
def test_filtering_agrees_with_the_reference(
    items: list[dict[str, Any]], where: list[Clause]
) -> None:
    expected = [item for item in items if all(ref_match(c, item) for c in where)]
    assert run(Query(where=tuple(where)), items) == expected


@given(ITEMS, st.lists(clauses(), min_size=2, max_size=4), st.randoms())
def test_and_of_clauses_is_commutative(
    items: list[dict[str, Any]], where: list[Clause], rng: random.Random
) -> None:
    shuffled = list(where)
    rng.shuffle(shuffled)
    assert run(Query(where=tuple(where)), items) == run(Query(where=tuple(shuffled)), items)


@given(ITEMS, KEYS, QUERY_VALUES, st.lists(QUERY_VALUES, min_size=1, max_size=3))
@example(items=[{"c": 0, "id": "e0"}], key="c", value="1.", values=["1."])  # the number 1.0
def test_neq_and_nin_are_the_complements_of_eq_and_in_among_present_fields(
    items: list[dict[str, Any]], key: str, value: Any, values: list[Any]
) -> None:
    path = tuple(key.split("."))

    def matching(op: str, operand: Any) -> set[str]:
        clause = OPERATORS[op](key=path, value=operand)
        return {i["id"] for i in run(Query(where=(clause,)), items)}

    present = {item["id"] for item in items if ref_get(item, path) not in (_ABSENT, None)}
    eq, neq = matching("eq", value), matching("neq", value)
    assert not eq & neq
    assert eq | neq == present
    in_, nin = matching("in", tuple(values)), matching("nin", tuple(values))
    assert not in_ & nin
    assert in_ | nin == present


def ref_sort_key(item: dict[str, Any], key: SortKey) -> tuple[int, Any]:
    value = ref_get(item, key.key)
    if value is _ABSENT or value is None:
        return (1, None)
    if isinstance(value, bool):
        return (0, (2, value))
    if isinstance(value, int | float):
        return (0, (0, value))
    return (0, (1, ref_key(value))) if isinstance(value, str) else (0, (3,))


def ref_compare(a: dict[str, Any], b: dict[str, Any], keys: list[SortKey]) -> int:
    for key in keys:
        ka, kb = ref_sort_key(a, key), ref_sort_key(b, key)
        if ka[0] != kb[0]:
            return ka[0] - kb[0]  # missing last in both directions
        if ka[0] == 1 or ka[1] == kb[1]:
            continue
        sign = -1 if key.descending else 1
        return sign if ka[1] > kb[1] else -sign
    return 0


@given(ITEMS, st.lists(st.builds(SortKey, key=KEYS.map(lambda k: tuple(k.split("."))))))
def test_sort_is_a_stable_permutation_in_reference_order(
    items: list[dict[str, Any]], keys: list[SortKey]
) -> None:
    result = run(Query(sort=tuple(keys)), items)

    def compare(a: dict[str, Any], b: dict[str, Any]) -> int:
        return ref_compare(a, b, keys)

    expected = sorted(items, key=functools.cmp_to_key(compare))
    assert [i["id"] for i in result] == [i["id"] for i in expected]


@given(ITEMS, st.integers(0, 10), st.none() | st.integers(0, 10))
def test_offset_and_limit_are_list_slicing(
    items: list[dict[str, Any]], offset: int, limit: int | None
) -> None:
    query = Query(offset=offset, limit=limit)
    end = None if limit is None else offset + limit
    assert shape(query, select(query, items)) == items[offset:end]


@settings(max_examples=300)
@given(
    st.text(alphabet="ab.*+?|()[]^$", min_size=1, max_size=8),
    st.text(alphabet="abAB\n", max_size=10),
)
def test_the_linear_regex_engine_agrees_with_python_re(pattern: str, subject: str) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            expected = re.search(pattern, subject, re.IGNORECASE) is not None
    except (re.error, FutureWarning):
        return
    try:
        program = compile_pattern(pattern)
    except ValueError:
        return  # a construct we refuse; refusal is checked by the parse tests
    assert program.search(subject) == expected
