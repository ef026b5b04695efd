"""Parsing ``options`` into a Query: every operator and alias, and every 400 path."""

from __future__ import annotations

import re
from typing import Any

import pytest

from flextype_core.errors import BadRequest
from flextype_core.query import parse_options
from flextype_core.query.model import (
    MAX_NESTING,
    OPERATORS,
    AllOf,
    AnyOf,
    Between,
    Contains,
    Eq,
    Gt,
    Gte,
    In,
    Lt,
    Lte,
    NBetween,
    NContains,
    Neq,
    Newer,
    Nin,
    Not,
    NRegexp,
    Older,
    Query,
    Regexp,
    SortKey,
    StartsWith,
)
from flextype_core.query.parse import ALIASES


def where(*clauses: Any) -> dict[str, Any]:
    return {"filter": {"where": list(clauses)}}


def clause(operator: Any, value: Any = "1", key: Any = "a") -> dict[str, Any]:
    return {"key": key, "operator": operator, "value": value}


def bad(options: dict[str, Any]) -> str:
    with pytest.raises(BadRequest) as caught:
        parse_options(options)
    return caught.value.message


@pytest.mark.parametrize(
    ("operator", "kind"),
    [
        ("eq", Eq),
        ("=", Eq),
        ("EQ", Eq),
        ("neq", Neq),
        ("!=", Neq),
        ("<>", Neq),
        ("lt", Lt),
        ("<", Lt),
        ("gt", Gt),
        (">", Gt),
        ("lte", Lte),
        ("<=", Lte),
        ("gte", Gte),
        (">=", Gte),
        ("contains", Contains),
        ("like", Contains),
        ("LIKE", Contains),
        ("ncontains", NContains),
        ("nlike", NContains),
        ("starts_with", StartsWith),
        ("Starts_With", StartsWith),
    ],
)
def test_each_operator_and_alias_names_its_clause(operator: str, kind: type[Any]) -> None:
    query = parse_options(where(clause(operator, "x", "author.name")))
    assert query.where == (kind(key=("author", "name"), value="x"),)


def test_an_empty_options_map_is_the_default_query() -> None:
    assert parse_options({}) == Query()
    assert parse_options({"collection": "true"}) == Query()


def test_a_bracket_query_string_shape_parses_in_index_order() -> None:
    options = {
        "collection": "1",
        "find": {"depth": "2"},
        "filter": {
            "where": {
                "1": {"key": "year", "operator": "gte", "value": "2019"},
                "0": {"key": "tags.0", "operator": "in", "value": {"0": "a", "1": "b"}},
            },
            "sort_by": [{"key": "title", "direction": "DESC"}, {"key": "year"}],
            "offset": "2",
            "limit": "10",
            "return": "First",
            "group_by": "year",
            "only": ["title", "author.name"],
            "except": "body,meta",
        },
        "method": "popular",
    }
    assert parse_options(options) == Query(
        depth=2,
        where=(In(key=("tags", "0"), value=("a", "b")), Gte(key=("year",), value="2019")),
        sort=(SortKey(key=("title",), descending=True), SortKey(key=("year",))),
        offset=2,
        limit=10,
        return_="first",
        group_by=("year",),
        only=(("title",), ("author", "name")),
        except_=(("body",), ("meta",)),
        method="popular",
    )


def test_json_values_keep_their_types() -> None:
    query = parse_options(
        {"filter": {"where": [clause("eq", 2020), clause("=", True)], "offset": 1, "limit": 0}}
    )
    assert query.where == (Eq(key=("a",), value=2020), Eq(key=("a",), value=True))
    assert (query.offset, query.limit) == (1, 0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("a,b", ("a", "b")), (["a", "b"], ("a", "b")), ("a", ("a",)), (5, (5,)), ([1, "x"], (1, "x"))],
)
def test_in_and_nin_take_lists_or_comma_strings(value: Any, expected: tuple[Any, ...]) -> None:
    query = parse_options(where(clause("in", value), clause("nin", value)))
    assert query.where == (In(key=("a",), value=expected), Nin(key=("a",), value=expected))


def test_between_takes_exactly_two_bounds() -> None:
    query = parse_options(where(clause("between", "1,5"), clause("nbetween", ["a", "c"])))
    assert query.where == (
        Between(key=("a",), value=("1", "5")),
        NBetween(key=("a",), value=("a", "c")),
    )
    assert "must give exactly 2 bounds, got 3" in bad(where(clause("between", "1,2,3")))
    assert "options[filter][where][0][value]" in bad(where(clause("nbetween", ["1"])))


def test_regexp_keeps_its_pattern_and_dates_become_unix_times() -> None:
    query = parse_options(
        where(
            clause("regexp", "^the"),
            clause("NREGEXP", "x+"),
            clause("newer", "1970-01-02"),
            clause("older", 86400),
            clause("newer", "86400"),
            clause("older", "1970-01-02T01:00:00+01:00"),
        )
    )
    assert query.where == (
        Regexp(key=("a",), value="^the"),
        NRegexp(key=("a",), value="x+"),
        Newer(key=("a",), value=86400.0),
        Older(key=("a",), value=86400.0),
        Newer(key=("a",), value=86400.0),
        Older(key=("a",), value=86400.0),
    )


def test_depth_comes_from_find() -> None:
    assert parse_options({"find": {"depth": "all"}}).depth is None
    assert parse_options({"find": {"depth": "<2"}}).depth == 1


def test_the_seeds_typo_is_a_400_naming_the_incomplete_clause() -> None:
    options = {
        "collection": "true",
        "filter": {
            "where": {
                "0": {"key": "director", "value": "Cathy Yan"},
                "9": {"operator": "eq"},
            }
        },
    }
    assert bad(options).startswith("options[filter][where][0][operator] is missing")


@pytest.mark.parametrize(
    ("options", "start"),
    [
        (where(clause("eqq")), "options[filter][where][0][operator]: unknown operator 'eqq'"),
        (where(clause("eq"), clause("==")), "options[filter][where][1][operator]: unknown"),
        (where(clause(5)), "options[filter][where][0][operator] must be an operator name"),
        (where({"operator": "eq", "value": "1"}), "options[filter][where][0][key] is missing"),
        (where({"key": "a", "operator": "eq"}), "options[filter][where][0][value] is missing"),
        (where({**clause("eq"), "x": "1"}), "options[filter][where][0][x] is not a known"),
        (where(clause("eq", key="")), "options[filter][where][0][key] must be a non-empty"),
        (where(clause("eq", key="a..b")), "options[filter][where][0][key]: 'a..b' has an"),
        (where(clause("eq", key="a" * 300)), "options[filter][where][0][key] is longer"),
        (where(clause("eq", key=["a"])), "options[filter][where][0][key] must be"),
        (where(clause("eq", None)), "options[filter][where][0][value] must be a string"),
        (where(clause("eq", ["a"])), "options[filter][where][0][value] must be a string"),
        (where(clause("in", [])), "options[filter][where][0][value] must list at least"),
        (where(clause("in", [["x"]])), "options[filter][where][0][value][0] must be"),
        (where(clause("newer", "yesterday")), "options[filter][where][0][value] must be a Unix"),
        (where(clause("older", True)), "options[filter][where][0][value] must be a Unix"),
        (where(clause("regexp", "(a")), "options[filter][where][0][value]: invalid regular"),
        (where(clause("regexp", "(?=a)")), "options[filter][where][0][value]: invalid regular"),
        (where(clause("regexp", "a" * 257)), "options[filter][where][0][value]: invalid regular"),
        (where(clause("regexp", "(a{999}){999}")), "options[filter][where][0][value]: invalid"),
        (where("eq"), "options[filter][where][0] must be an object"),
        ({"filter": {"where": {"x": {}}}}, "options[filter][where] must be a list; 'x'"),
        ({"filter": {"where": "a"}}, "options[filter][where] must be a list"),
        ({"filter": {"where": [clause("eq")] * 101}}, "options[filter][where] has more than"),
        ({"filter": "x"}, "options[filter] must be an object"),
        ({"filter": {"offset": "-1"}}, "options[filter][offset] must be a non-negative"),
        ({"filter": {"offset": -1}}, "options[filter][offset] must be a non-negative"),
        ({"filter": {"limit": "ten"}}, "options[filter][limit] must be a non-negative"),
        ({"filter": {"limit": "1.5"}}, "options[filter][limit] must be a non-negative"),
        ({"filter": {"limit": True}}, "options[filter][limit] must be a non-negative"),
        ({"filter": {"limit": ""}}, "options[filter][limit] must be a non-negative"),
        ({"filter": {"return": "second"}}, "options[filter][return] must be one of"),
        ({"filter": {"sort_by": {"key": "a", "direction": "up"}}}, "options[filter][sort_by]"),
        ({"filter": {"sort_by": [{"key": "a", "direction": 1}]}}, "options[filter][sort_by][0]"),
        ({"filter": {"sort_by": [{"direction": "asc"}]}}, "options[filter][sort_by][0][key] is"),
        ({"filter": {"sort_by": {"key": "a", "by": "b"}}}, "options[filter][sort_by][by] is"),
        ({"filter": {"sort_by": "title"}}, "options[filter][sort_by] must be a list"),
        ({"filter": {"group_by": ""}}, "options[filter][group_by] must be a non-empty"),
        ({"filter": {"only": ["a", ""]}}, "options[filter][only][1] must be a non-empty"),
        ({"filter": {"except": 5}}, "options[filter][except] must be a list"),
        ({"filter": {"order": "a"}}, "options[filter][order] is not a known option"),
        ({"sort": "a"}, "options[sort] is not a known option"),
        ({"find": {"depth": "0"}}, "options[find][depth]"),
        ({"find": {"deep": "1"}}, "options[find][deep] is not a known option"),
        ({"find": "all"}, "options[find] must be an object"),
        ({"method": ""}, "options[method] must be a method name"),
        ({"method": ["a"]}, "options[method] must be a method name"),
    ],
)
def test_every_malformed_part_is_a_400_naming_it(options: dict[str, Any], start: str) -> None:
    assert bad(options).startswith(start)


def test_a_client_string_is_quoted_safely_in_the_message() -> None:
    assert "'e\\x00q'" in bad(where(clause("e\x00q")))


def test_an_unknown_operator_suggests_the_nearest_and_lists_them_all_with_aliases() -> None:
    assert bad(where(clause("eqq"))) == (
        "options[filter][where][0][operator]: unknown operator 'eqq' (did you mean 'eq'?);"
        " the operators are eq (=), neq (!=, <>), lt (<), gt (>), lte (<=), gte (>=), in, nin,"
        " contains (like), ncontains (nlike), starts_with, ends_with, between, nbetween,"
        " regexp, nregexp, newer, older."
    )
    assert "(did you mean 'starts_with'?)" in bad(where(clause("startswith")))
    message = bad(where(clause("approximately")))
    assert "did you mean" not in message
    named = re.findall(r"[^ ,()]+", message.split("the operators are ", 1)[1].rstrip("."))
    assert sorted(named) == sorted([*OPERATORS, *ALIASES])


# --- groups: or, and, not -----------------------------------------------------------------


def nested(levels: int) -> dict[str, Any]:
    """``levels`` groups around one clause: or, and, not in turn."""
    item: dict[str, Any] = clause("eq")
    for level in range(levels):
        kind = ("or", "and", "not")[level % 3]
        item = {kind: item} if kind == "not" else {kind: [item]}
    return item


def test_groups_parse_from_a_bracket_query_string_shape() -> None:
    options = {
        "filter": {
            "where": {
                "0": {
                    "or": {
                        "1": {"key": "rating", "operator": ">=", "value": "8"},
                        "0": {"not": {"key": "year", "operator": "lt", "value": "2000"}},
                    }
                },
                "1": {"not": {"and": {"0": clause("eq", "x"), "1": clause("neq", "y", "b")}}},
            }
        }
    }
    assert parse_options(options).where == (
        AnyOf(
            items=(
                Not(item=Lt(key=("year",), value="2000")),
                Gte(key=("rating",), value="8"),
            )
        ),
        Not(item=AllOf(items=(Eq(key=("a",), value="x"), Neq(key=("b",), value="y")))),
    )


def test_groups_parse_from_json_with_typed_values() -> None:
    options = where({"or": [clause("lt", 2000, "year"), {"not": {"or": [clause("in", ["x", 1])]}}]})
    assert parse_options(options).where == (
        AnyOf(
            items=(
                Lt(key=("year",), value=2000),
                Not(item=AnyOf(items=(In(key=("a",), value=("x", 1)),))),
            )
        ),
    )


def test_groups_nest_up_to_eight_levels() -> None:
    assert len(parse_options(where(nested(MAX_NESTING))).where) == 1
    # The ninth group is named by its whole path.
    assert bad(where(nested(MAX_NESTING + 1))) == (
        "options[filter][where][0][not][and][0][or][0][not][and][0][or][0][not][and][0][or]:"
        " groups nest at most 8 levels deep."
    )


def test_clauses_are_counted_across_groups() -> None:
    fifty = [clause("eq")] * 50
    assert len(parse_options(where({"or": fifty}, {"and": fifty})).where) == 2
    assert bad(where({"or": fifty}, {"and": fifty}, clause("eq"))).startswith(
        "options[filter][where] has more than 100 clauses"
    )
    assert bad(where({"not": {"or": [{"and": fifty}, {"or": [*fifty, clause("eq")]}]}})).startswith(
        "options[filter][where] has more than 100 clauses"
    )


W = "options[filter][where][0]"


@pytest.mark.parametrize(
    ("options", "start"),
    [
        (where({"or": []}), W + "[or] is empty"),
        (where({"and": {}}), W + "[and] is empty"),
        (where({"not": {}}), W + "[not] is empty"),
        (where({"or": [{"and": []}]}), W + "[or][0][and] is empty"),
        (where({"or": [clause("eq"), clause("eqq")]}), W + "[or][1][operator]: unknown operator"),
        (where({"not": clause("zz")}), W + "[not][operator]: unknown operator 'zz'"),
        (where({"not": {"or": [{"key": "a"}]}}), W + "[not][or][0][operator] is missing"),
        (where({"or": [clause("eq")], "key": "a"}), W + " mixes [or] with [key]"),
        (where({"key": "a", "not": clause("eq")}), W + " mixes [not] with [key]"),
        (where({"or": [clause("eq")], "and": [clause("eq")]}), W + " mixes [or] with [and]"),
        (where({"not": [clause("eq")]}), W + "[not] holds one clause or group, not a list"),
        (where({"not": {"0": clause("eq")}}), W + "[not] holds one clause or group"),
        (where({"or": "a"}), W + "[or] must be a list"),
        (where({"or": {"x": clause("eq")}}), W + "[or] must be a list; 'x'"),
        (where({"or": None}), W + "[or] must be a list, got null"),
        (where({"not": "a"}), W + "[not] must be an object"),
        (where({"xor": [clause("eq")]}), W + "[xor] is not a known option"),
        (where({"or": [5]}), W + "[or][0] must be an object"),
    ],
)  # fmt: skip
def test_every_malformed_group_is_a_400_naming_it(options: dict[str, Any], start: str) -> None:
    assert bad(options).startswith(start)
