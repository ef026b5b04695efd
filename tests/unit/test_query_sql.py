"""The where/sort_by compiler, without a database: SQL shape, parameters, exactness."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql

from flextype_adapters.postgres.group_sql import MAX_PARAMS
from flextype_adapters.postgres.query_sql import (
    EXACT_NUMBER,
    Compiled,
    compile_clause,
    compile_sort,
    compile_where,
    field_keys,
)
from flextype_core.query.model import (
    OPERATORS,
    AllOf,
    AnyOf,
    Between,
    Clause,
    Condition,
    Contains,
    EndsWith,
    Eq,
    Gt,
    In,
    Lt,
    NBetween,
    NContains,
    Neq,
    Newer,
    Nin,
    Not,
    NRegexp,
    Older,
    Regexp,
    SortKey,
    StartsWith,
)


def text(fragment: sql.Composable) -> str:
    return fragment.as_string()


def placeholders(compiled: Compiled) -> None:
    """Each parameter has its placeholder, and the doubt's too."""
    assert text(compiled.sql).count("%s") == len(compiled.params)
    if compiled.doubt is not None:
        assert text(compiled.doubt).count("%s") == len(compiled.doubt_params)


# -- shape -------------------------------------------------------------------------------


def test_eq_on_a_path_through_maps_is_a_containment_the_gin_index_serves() -> None:
    compiled = compile_clause(Eq(key=("category",), value="news"))
    assert text(compiled.sql) == "data @> %s::jsonb"
    assert compiled.params == ['{"category":"news"}']
    assert compiled.exact
    assert text(compiled.doubt or sql.SQL("")) == "FALSE"


def test_eq_of_a_query_string_tries_each_type_it_can_be_read_as() -> None:
    compiled = compile_clause(Eq(key=("a", "b"), value="1"))
    assert text(compiled.sql) == "(data @> %s::jsonb OR data @> %s::jsonb OR data @> %s::jsonb)"
    assert compiled.params == ['{"a":{"b":"1"}}', '{"a":{"b":1}}', '{"a":{"b":true}}']
    assert compiled.exact


def test_eq_on_a_path_with_an_index_reads_the_value_at_the_path() -> None:
    compiled = compile_clause(Eq(key=("tags", "0", "k"), value="x"))
    # Digits index a list or name a map key (#>); any other segment is a map key (->).
    assert text(compiled.sql) == "(((data -> %s::text) #> %s::text[]) -> %s::text) IN (%s::jsonb)"
    assert compiled.params == ["tags", ["0"], "k", '"x"']
    assert compiled.exact


def test_segments_postgres_would_read_as_an_index_stay_map_keys() -> None:
    # #> reads "-1" as the last element and " 1" as the second; Python as map keys only.
    for segment in ("-1", " 1", "+1"):
        compiled = compile_clause(StartsWith(key=("a", segment), value="x"))
        assert "#>" not in text(compiled.sql).replace("#>>", "")
        assert compiled.params[:2] == ["a", segment]
        assert compiled.exact


def test_id_and_slug_are_the_entry_id_column() -> None:
    compiled = compile_clause(In(key=("slug",), value=("m/a", "m/b")))
    assert text(compiled.sql) == "id = ANY(%s::text[])"
    assert compiled.params == [["m/a", "m/b"]]
    below = compile_clause(Eq(key=("id", "x"), value="m/a"))
    assert text(below.sql) == "FALSE"
    assert below.exact


def test_neq_needs_a_present_value_and_excludes_every_reading() -> None:
    compiled = compile_clause(Neq(key=("year",), value="2020"))
    assert text(compiled.sql) == (
        "(jsonb_typeof((data -> %s::text)) <> 'null' AND "
        "(data -> %s::text) NOT IN (%s::jsonb, %s::jsonb))"
    )
    assert compiled.params == ["year", "year", '"2020"', "2020"]
    assert compiled.exact


def test_no_clause_is_true() -> None:
    compiled = compile_where(())
    assert (text(compiled.sql), compiled.params, compiled.exact) == ("TRUE", [], True)


def test_clauses_are_joined_by_and() -> None:
    compiled = compile_where((Eq(key=("a",), value="x"), StartsWith(key=("b",), value="y")))
    assert text(compiled.sql).startswith("(data @> %s::jsonb AND ")
    placeholders(compiled)


# -- exactness -----------------------------------------------------------------------------

EXACT: list[Clause] = [
    Eq(key=("a",), value="x"),
    Eq(key=("a",), value=5),
    Eq(key=("a",), value=True),
    Eq(key=("a",), value=float(EXACT_NUMBER)),
    Neq(key=("a",), value="1.5"),
    In(key=("a", "0"), value=("x", "2")),
    Nin(key=("a",), value=("x", "2")),
    Contains(key=("a",), value="x"),
    NContains(key=("a",), value="2"),
    StartsWith(key=("a",), value="x"),
    EndsWith(key=("a",), value="x"),
    Eq(key=("a\x00",), value="x"),  # no exact row holds a NUL: nothing matches
    Contains(key=("a",), value="x\x00"),
]
INEXACT: list[Clause] = [
    Lt(key=("a",), value="5"),  # strings order by their case folding
    Between(key=("a",), value=("1", "2")),
    NBetween(key=("a",), value=(1, 2)),
    Regexp(key=("a",), value="x"),
    NRegexp(key=("a",), value="x"),
    Newer(key=("a",), value=0.0),
    Older(key=("a",), value=0.0),
    Eq(key=("a",), value=EXACT_NUMBER + 1),  # jsonb may hold a float by its decimal
    Neq(key=("a",), value="1e300"),
]


def test_exact_where_sql_decides_as_the_core_does() -> None:
    for clause in EXACT:
        compiled = compile_clause(clause)
        assert compiled.exact, clause
        assert compiled.doubt is not None and text(compiled.doubt) == "FALSE", clause
        placeholders(compiled)


def test_inexact_where_is_flagged_and_its_doubt_said() -> None:
    for clause in INEXACT:
        compiled = compile_clause(clause)
        assert not compiled.exact, clause
        placeholders(compiled)
    # Where the doubt is only some rows, it says which: the non-ASCII strings here.
    order = compile_clause(Gt(key=("year",), value="2000"))
    assert order.doubt is not None
    assert "octet_length" in text(order.doubt)
    # A regexp leaves every candidate to the core.
    assert compile_clause(Regexp(key=("a",), value="x")).doubt is None


def test_one_inexact_clause_makes_the_where_inexact() -> None:
    assert not compile_where((Eq(key=("a",), value="x"), Regexp(key=("b",), value="y"))).exact
    assert compile_where((Eq(key=("a",), value="x"), StartsWith(key=("b",), value="y"))).exact


def test_an_order_test_against_infinity_or_nan_needs_no_parameter_for_the_number() -> None:
    below = compile_clause(Lt(key=("a",), value=math.inf))
    assert "%s::jsonb" not in text(below.sql)
    assert "= 'number' AND TRUE" in text(below.sql)  # every (finite) number is below
    assert compile_clause(Eq(key=("a",), value=math.nan)).exact


def test_an_order_test_with_a_bound_beyond_ascii_leaves_every_string_to_the_core() -> None:
    compiled = compile_clause(Gt(key=("a",), value="é"))
    assert compiled.doubt is not None
    assert "lower(" not in text(compiled.sql)


# -- sort ----------------------------------------------------------------------------------


def test_sort_orders_by_type_then_value_missing_last() -> None:
    sort = compile_sort((SortKey(key=("year",), descending=True), SortKey(key=("id",))))
    assert [text(v) for v, _ in sort.values] == ["(data -> %s::text)", "to_jsonb(id)"]
    assert [p for _, p in sort.values] == [["year"], []]
    values = [sql.Identifier("s0"), sql.Identifier("s1")]
    ranks = [sql.Identifier("r0"), sql.Identifier("r1")]
    # Descending: lists and maps first, numbers last of the present values, then missing.
    assert text(sort.rank(0, values[0])) == (
        """CASE jsonb_typeof("s0") WHEN 'array' THEN 0 WHEN 'object' THEN 0"""
        """ WHEN 'boolean' THEN 1 WHEN 'string' THEN 2 WHEN 'number' THEN 3 ELSE 4 END"""
    )
    assert text(sort.rank(1, values[1])).startswith(
        """CASE jsonb_typeof("s1") WHEN 'number' THEN 0"""
    )
    order = text(sort.order_by(values, ranks))
    assert order.startswith('"r0", CASE WHEN "r0" IN (3, 1) THEN "s0" END DESC, ')
    assert order.count(" DESC") == 3
    assert "%s" not in order
    assert text(sort.doubt(values, ranks)).count("octet_length") == 2


def test_only_a_number_past_2_53_puts_a_page_in_doubt() -> None:
    sort = compile_sort((SortKey(key=("n",)),))
    assert not sort.doubts_page([EXACT_NUMBER, -EXACT_NUMBER, 1.5, "x", True, None])
    assert sort.doubts_page([EXACT_NUMBER + 1])
    assert sort.doubts_page([-1e300])


def test_sort_by_a_path_no_exact_row_holds_is_by_null() -> None:
    assert [text(v) for v, _ in compile_sort((SortKey(key=("a\x00",)),)).values] == ["NULL::jsonb"]


def test_field_keys_are_the_top_level_keys_the_fields_hold() -> None:
    paths = [("a", "b"), ("id",), ("a",), ("c", "0"), ("slug",), ("x\x00",)]
    assert field_keys(paths) == ["a", "c"]


# -- hostile keys and values never reach the SQL text ------------------------------------

MARK = "\u0298"  # in no SQL this module writes
hostile = st.text(alphabet=[*"'\";\\%${}[]()-.,: \x00\t\nab0", "é", MARK], max_size=8).map(
    lambda s: MARK + s
)
numbers = st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True))
scalar = st.one_of(hostile, numbers, st.booleans())


@st.composite
def hostile_clauses(draw: st.DrawFn) -> Clause:
    op = draw(st.sampled_from(sorted(OPERATORS)))
    kind = OPERATORS[op]
    key = tuple(
        draw(
            st.lists(st.one_of(hostile, st.sampled_from(["0", "-1", "id"])), min_size=1, max_size=3)
        )
    )
    value: Any
    if kind in (In, Nin):
        value = tuple(draw(st.lists(scalar, min_size=1, max_size=3)))
    elif kind in (Between, NBetween):
        value = (draw(scalar), draw(scalar))
    elif kind in (Regexp, NRegexp):
        value = draw(hostile)
    elif kind in (Newer, Older):
        value = draw(st.floats(allow_nan=False))
    else:
        value = draw(scalar)
    return kind(key=key, value=value)


def _strings(param: object) -> list[str]:
    if isinstance(param, str):
        return [param]
    if isinstance(param, list):
        return [s for item in param for s in _strings(item)]
    return []


def _hostile_groups(members: st.SearchStrategy[Condition]) -> st.SearchStrategy[Condition]:
    several = st.lists(members, min_size=1, max_size=3).map(tuple)
    return st.one_of(
        several.map(lambda items: AnyOf(items=items)),
        several.map(lambda items: AllOf(items=items)),
        members.map(lambda item: Not(item=item)),
    )


hostile_conditions = st.recursive(hostile_clauses(), _hostile_groups, max_leaves=5)


@given(st.lists(hostile_conditions, min_size=1, max_size=3), st.lists(hostile, max_size=2))
def test_user_strings_travel_only_as_parameters(
    where: list[Condition], sort_keys: list[str]
) -> None:
    compiled = compile_where(tuple(where))
    sort = compile_sort(tuple(SortKey(key=(k,)) for k in sort_keys))
    texts = [text(compiled.sql)]
    params = list(compiled.params)
    if compiled.doubt is not None:
        texts.append(text(compiled.doubt))
        params += compiled.doubt_params
    for value, value_params in sort.values:
        texts.append(text(value))
        params += value_params
    columns = [sql.Identifier(f"s{i}") for i in range(len(sort_keys))]
    ranks = [sql.Identifier(f"r{i}") for i in range(len(sort_keys))]
    texts += [text(sort.order_by(columns, ranks)), text(sort.doubt(columns, ranks))]
    texts += [text(sort.rank(i, column)) for i, column in enumerate(columns)]
    for sql_text in texts:
        assert MARK not in sql_text
        assert ";" not in sql_text
        assert "\x00" not in sql_text
        assert sql_text.replace("%s", "").count("%") == 0
    placeholders(compiled)
    # PostgreSQL text holds no NUL: no parameter may carry one.
    assert all("\x00" not in s for p in params for s in _strings(p))


def test_a_sort_on_numbers_may_take_jsonbs_own_order() -> None:
    sort = compile_sort((SortKey(key=("year",), descending=True), SortKey(key=("n",))))
    values = [sql.Identifier("s0"), sql.Identifier("s1")]
    assert text(sort.native_order(values)) == '"s0" DESC NULLS LAST, "s1" NULLS LAST'
    # What would make it wrong: a key present and no number (a JSON null too).
    assert text(sort.not_numbers(values)) == (
        """jsonb_typeof("s0") <> 'number' OR jsonb_typeof("s1") <> 'number'"""
    )


# -- groups --------------------------------------------------------------------------------

EQ_A = Eq(key=("a",), value="x")
EQ_B = Eq(key=("b",), value="y")
GT_B = Gt(key=("b",), value="m")  # strings past ASCII are in doubt
REGEXP = Regexp(key=("b",), value="y")  # every candidate in doubt


def test_or_and_and_of_exact_clauses_are_exact() -> None:
    either = compile_where((AnyOf(items=(EQ_A, EQ_B)),))
    assert text(either.sql) == "(data @> %s::jsonb OR data @> %s::jsonb)"
    assert either.params == ['{"a":"x"}', '{"b":"y"}']
    assert either.exact
    both = compile_where((AllOf(items=(EQ_A, EQ_B)),))
    assert text(both.sql) == "(data @> %s::jsonb AND data @> %s::jsonb)"
    assert both.exact


def test_not_of_an_exact_clause_is_exact_and_a_missing_field_passes() -> None:
    compiled = compile_where((Not(item=EQ_A),))
    # coalesce: SQL's NULL (a missing key) is the clause failing, so its negation holds.
    assert text(compiled.sql) == "NOT coalesce(data @> %s::jsonb, FALSE)"
    assert compiled.exact
    placeholders(compiled)


def test_not_of_a_doubtful_clause_negates_the_rows_that_surely_match() -> None:
    clause = compile_clause(GT_B)
    assert clause.doubt is not None
    compiled = compile_where((Not(item=GT_B),))
    assert not compiled.exact
    # The superset: every row but those that pass and are not in doubt.
    assert text(compiled.sql) == (
        f"NOT (coalesce({text(clause.sql)}, FALSE) AND NOT coalesce({text(clause.doubt)}, TRUE))"
    )
    assert compiled.params == clause.params + clause.doubt_params
    # In doubt: the rows the clause may match (they pass it and are in its doubt).
    assert compiled.doubt is not None
    assert text(compiled.doubt) == (
        f"(coalesce({text(clause.sql)}, FALSE) AND coalesce({text(clause.doubt)}, TRUE))"
    )
    placeholders(compiled)


def test_not_of_a_clause_the_core_decides_is_every_row_its_candidates_in_doubt() -> None:
    clause = compile_clause(REGEXP)
    compiled = compile_where((Not(item=REGEXP),))
    assert text(compiled.sql) == "TRUE"
    assert compiled.doubt is not None
    assert text(compiled.doubt) == f"coalesce({text(clause.sql)}, FALSE)"
    assert not compiled.exact


def test_or_is_in_doubt_only_where_no_member_surely_holds() -> None:
    compiled = compile_where((AnyOf(items=(EQ_A, REGEXP)),))
    assert not compiled.exact
    assert compiled.doubt is not None
    assert text(compiled.doubt) == "NOT coalesce(data @> %s::jsonb, FALSE)"
    # Only members the core decides: every candidate in doubt.
    assert compile_where((AnyOf(items=(REGEXP, REGEXP)),)).doubt is None


def test_double_negation_of_an_exact_clause_stays_exact() -> None:
    compiled = compile_where((Not(item=Not(item=EQ_A)),))
    assert compiled.exact
    assert text(compiled.sql) == "NOT coalesce(NOT coalesce(data @> %s::jsonb, FALSE), FALSE)"


def test_groups_too_large_for_sql_leave_their_rows_to_the_core() -> None:
    condition: Condition = AnyOf(items=(GT_B, EQ_A))
    for _ in range(8):  # not and or repeat inexact members: the SQL doubles each level
        condition = Not(item=AnyOf(items=(condition, GT_B)))
    compiled = compile_where((condition, EQ_B))
    assert len(compiled.params) + len(compiled.doubt_params) <= MAX_PARAMS
    # A group past the bound became TRUE with every row in doubt: the core decides it;
    # the clause beside it still narrows.
    assert not compiled.exact
    assert text(compiled.sql).endswith(" AND data @> %s::jsonb)")
    assert compiled.params[-1] == '{"b":"y"}'
    placeholders(compiled)
