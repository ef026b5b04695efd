"""A pure compiler from a collection query's ``where`` and ``sort_by`` to SQL over ``data``.

Clauses compile here; ``or``/``and``/``not`` groups combine them (``group_sql``).

The SQL runs over ``entries.data`` (jsonb) of rows whose ``data`` holds the fields
exactly (``data_exact``; the caller adds the other rows). It never drops a match of
:mod:`flextype_core.query.clauses`: where SQL cannot decide as the core does (the
case-folded order of strings, the regexp dialect, dates, numbers past 2**53 that jsonb
may hold as their shortest decimal rather than their binary value) the condition is a
superset and ``exact`` is false. ``doubt`` then names the rows that may be false
positives, so a caller can learn from one count whether SQL's answer is already exact
for the data at hand. Every value, key and dot path is a parameter: no user string is
ever part of the SQL text.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from psycopg import sql

from flextype_adapters.postgres import group_sql
from flextype_adapters.postgres.group_sql import Cond, bounded, exact
from flextype_adapters.postgres.sort_sql import SortSql, compile_sort
from flextype_adapters.postgres.sql_parts import (
    EXACT_NUMBER,
    FALSE,
    IDENTITY,
    TRUE,
    Fragment,
    Value,
    all_of,
    any_of,
    cat,
    is_kind,
    negate,
    param,
    present,
    text_of,
    value_at,
)
from flextype_core.query.model import (
    AllOf,
    AnyOf,
    Between,
    Clause,
    Condition,
    Contains,
    EndsWith,
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
    Path,
    Regexp,
    Scalar,
    StartsWith,
)
from flextype_core.query.regex import MAX_SUBJECT
from flextype_core.query.values import Operand, json_text, order_key

__all__ = [
    "EXACT_NUMBER",
    "Compiled",
    "SortSql",
    "compile_clause",
    "compile_sort",
    "compile_where",
    "field_keys",
]


class Compiled(NamedTuple):
    """A condition over one entries row, and what it promises.

    ``sql`` holds for every match (a superset). ``exact``: it holds for the matches
    only, whatever the data. ``doubt`` holds for every row that passes ``sql`` but may
    not match (FALSE when exact); None when any row may be such a false positive.
    """

    sql: sql.Composable
    params: list[object]
    exact: bool
    doubt: sql.Composable | None
    doubt_params: list[object]


# -- what a clause value may equal -----------------------------------------------------


def _exact_number(number: float) -> bool:
    return math.isfinite(number) and abs(number) <= EXACT_NUMBER


class _Alternatives(NamedTuple):
    """The JSON values a stored scalar may equal, and whether a number is beyond them."""

    values: tuple[str, ...]
    loose_number: bool


def _alternatives(operands: Iterable[Operand]) -> _Alternatives:
    values: dict[str, None] = {}
    loose = False
    for operand in operands:
        if "\x00" not in operand.text:  # no exact row holds a NUL
            values[json_text(operand.text)] = None
        number = operand.number
        if number is not None:
            if _exact_number(number):
                values[json_text(number)] = None
            elif math.isfinite(number):
                loose = True
            # inf and NaN equal no number an exact row holds.
        if operand.boolean is not None:
            values[json_text(operand.boolean)] = None
    return _Alternatives(tuple(values), loose)


def _listed(values: tuple[str, ...]) -> Fragment:
    """``a, b, c`` (no brackets) of jsonb parameters."""
    parts: list[str | Fragment] = []
    for i, text in enumerate(values):
        parts.extend([", "] if i else [])
        parts.append(param(text, "jsonb"))
    return cat(*parts)


def _equal_cond(value: Value, path: Path, alts: _Alternatives) -> Fragment:
    if not alts.values:
        return FALSE
    if value.containment:
        docs = []
        for text in alts.values:
            doc = text
            for segment in reversed(path):
                doc = "{" + json_text(segment) + ":" + doc + "}"
            docs.append(cat("data @> ", param(doc, "jsonb")))
        return any_of(docs)
    return cat(value.expr, " IN (", _listed(alts.values), ")")


def _equal(value: Value, path: Path, operands: Sequence[Operand], negated: bool) -> Cond:
    alts = _alternatives(operands)
    loose = is_kind(value.expr, "number") if alts.loose_number else None
    if path[0] in IDENTITY:
        # The id is a string: only the text form can equal it (and the key serves).
        texts = [o.text for o in operands if "\x00" not in o.text]
        found = cat("id = ANY(", param(texts, "text[]"), ")") if texts else FALSE
        return exact(negate(found) if negated else found)
    if negated:
        cond = present(value.expr)
        if alts.values:
            cond = all_of([cond, cat(value.expr, " NOT IN (", _listed(alts.values), ")")])
        return Cond(cond, loose or FALSE)
    equal = _equal_cond(value, path, alts)
    return Cond(any_of([equal, loose]) if loose else equal, loose or FALSE)


# -- order ------------------------------------------------------------------------------

_COMPARE: dict[type[Clause], tuple[str, Callable[[Any, Any], bool]]] = {
    Lt: ("<", operator.lt),
    Gt: (">", operator.gt),
    Lte: ("<=", operator.le),
    Gte: (">=", operator.ge),
}


_Bound = tuple[Scalar, str, Callable[[Any, Any], bool]]
"""A bound of an order test: the clause value, the SQL sign, the Python comparison."""


def _number_compare(
    value: Fragment, sign: str, test: Callable[[Any, Any], bool], number: float
) -> Fragment:
    """``stored <sign> number`` for a stored number; TRUE/FALSE when the bound is no finite."""
    if math.isfinite(number):
        return cat(value, " " + sign + " ", param(json_text(number), "jsonb"))
    # NaN orders after every number, inf and -inf at the ends: one answer for every row.
    return TRUE if test(order_key(0), order_key(number)) else FALSE


class _NumberTest(NamedTuple):
    cond: Fragment | None  # None: no stored number passes
    loose: bool


def _number_test(
    value: Fragment,
    bounds: Sequence[_Bound],
    negated: bool = False,
) -> _NumberTest:
    """Stored numbers meeting every (bound, sign) (or, negated, not all of them)."""
    parts = []
    for bound, sign, test in bounds:
        number = Operand(bound).number
        if number is None:
            return _NumberTest(None, False)  # no number to compare with: False for numbers
        if math.isfinite(number) and not _exact_number(number):
            return _NumberTest(is_kind(value, "number"), True)
        parts.append(_number_compare(value, sign, test, number))
    within = all_of(parts)
    return _NumberTest(
        all_of([is_kind(value, "number"), negate(within) if negated else within]), False
    )


def _string_test(value: Fragment, bounds: Sequence[_Bound], negated: bool) -> Cond:
    """Stored strings meeting every bound, by (case-folded text, text).

    SQL knows case folding for ASCII only: a stored string beyond ASCII passes and is in
    doubt; a bound beyond ASCII (or with a NUL) leaves every string in doubt.
    """
    strings = is_kind(value, "string")
    texts = [Operand(bound).text for bound, _, _ in bounds]
    if not all(text.isascii() and "\x00" not in text for text in texts):
        return Cond(strings, strings)
    stored = cat(text_of(value), ' COLLATE "C"')
    parts = [
        cat(
            "(lower(",
            stored,
            "), ",
            stored,
            ") " + sign + " (",
            param(text.lower(), "text"),
            ' COLLATE "C", ',
            param(text, "text"),
            ' COLLATE "C")',
        )
        for text, (_, sign, _) in zip(texts, bounds, strict=True)
    ]
    within = all_of(parts)
    beyond = cat("octet_length(", text_of(value), ") <> length(", text_of(value), ")")
    test = any_of([beyond, negate(within) if negated else within])
    return Cond(all_of([strings, test]), all_of([strings, beyond]))


def _order(value: Fragment, bounds: Sequence[_Bound], negated: bool = False) -> Cond:
    """Order tests: numbers and ASCII strings in SQL; other strings left to the core."""
    numbers = _number_test(value, bounds, negated)
    strings = _string_test(value, bounds, negated)
    doubts = [d for d in (strings.doubt,) if d is not None]
    if numbers.loose:
        doubts.append(is_kind(value, "number"))
    parts = [strings.cond] if numbers.cond is None else [numbers.cond, strings.cond]
    return Cond(any_of(parts), any_of(doubts))


# -- text -------------------------------------------------------------------------------


def _contains(value: Fragment, operand: Operand, negated: bool) -> Cond:
    text = operand.text
    if "\x00" in text:
        substring = FALSE if not negated else is_kind(value, "string")
    else:
        found = cat("strpos(", text_of(value), ' COLLATE "C", ', param(text, "text"), ") ")
        substring = all_of([is_kind(value, "string"), cat(found, "= 0" if negated else "> 0")])
    alts = _alternatives([operand])
    held = any_of([cat(value, " @> ", param("[" + v + "]", "jsonb")) for v in alts.values])
    if negated:
        element = all_of([is_kind(value, "array"), negate(held)])
    elif alts.loose_number:
        element = is_kind(value, "array")
    else:
        element = all_of([is_kind(value, "array"), held])
    doubt = is_kind(value, "array") if alts.loose_number else FALSE
    return Cond(any_of([substring, element]), doubt)


def _affix(value: Fragment, text: str, start: bool) -> Cond:
    if "\x00" in text:
        return exact(FALSE)
    if start:
        test = cat("starts_with(", text_of(value), ' COLLATE "C", ', param(text, "text"), ")")
    else:
        test = cat(
            "right(",
            text_of(value),
            ", ",
            param(len(text), "integer"),
            ") = ",
            param(text, "text"),
            ' COLLATE "C"',
        )
    return exact(all_of([is_kind(value, "string"), test]))


# -- clauses ----------------------------------------------------------------------------


def _clause(clause: Clause, value: Value) -> Cond:
    expr = value.expr
    match clause:
        case Eq(value=v) | Neq(value=v):
            return _equal(value, clause.key, [Operand(v)], isinstance(clause, Neq))
        case In(value=vs) | Nin(value=vs):
            return _equal(value, clause.key, [Operand(v) for v in vs], isinstance(clause, Nin))
        case Lt(value=v) | Gt(value=v) | Lte(value=v) | Gte(value=v):
            sign, test = _COMPARE[type(clause)]
            return _order(expr, [(v, sign, test)])
        case Between(value=(low, high)) | NBetween(value=(low, high)):
            bounds = [(low, ">=", operator.ge), (high, "<=", operator.le)]
            return _order(expr, bounds, negated=isinstance(clause, NBetween))
        case Contains(value=v) | NContains(value=v):
            return _contains(expr, Operand(v), isinstance(clause, NContains))
        case StartsWith(value=v) | EndsWith(value=v):
            return _affix(expr, Operand(v).text, isinstance(clause, StartsWith))
        case Regexp() | NRegexp():
            short = cat("length(", text_of(expr), ") <= " + str(MAX_SUBJECT))
            return Cond(all_of([is_kind(expr, "string"), short]), None)
        case Newer() | Older():
            return Cond(is_kind(expr, "number", "string"), None)
    raise AssertionError(clause)  # pragma: no cover


def _compile(clause: Clause, columns: Mapping[Path, str] | None = None) -> Cond:
    value = value_at(clause.key, columns)
    if value is None:
        return exact(FALSE)  # a missing field fails every clause
    return _clause(clause, value)


def _condition(condition: Condition, columns: Mapping[Path, str] | None) -> Cond:
    match condition:
        case AnyOf(items=items):
            return bounded(group_sql.any_group([_condition(m, columns) for m in items]))
        case AllOf(items=items):
            return bounded(group_sql.all_group([_condition(m, columns) for m in items]))
        case Not(item=member):
            return bounded(group_sql.negated(_condition(member, columns)))
    return _compile(condition, columns)


def _compiled(found: Cond) -> Compiled:
    params = list(found.cond.params)
    if found.doubt is None:
        return Compiled(found.cond.sql, params, False, None, [])
    return Compiled(found.cond.sql, params, found.exact, found.doubt.sql, list(found.doubt.params))


def compile_clause(clause: Clause) -> Compiled:
    """Compile one ``where`` clause to a condition over an entries row."""
    return _compiled(_compile(clause))


def compile_where(
    where: Sequence[Condition], columns: Mapping[Path, str] | None = None
) -> Compiled:
    """Compile every condition of ``where`` (clauses and groups) into one (TRUE for none).

    ``columns``: the declared field indexes in place (``value_at``).
    """
    return _compiled(bounded(group_sql.all_group([_condition(c, columns) for c in where])))


def field_keys(paths: Iterable[Path]) -> list[str]:
    """The distinct top-level keys of ``paths`` that the stored fields hold (id/slug aside)."""
    keys: dict[str, None] = {}
    for path in paths:
        if path[0] not in IDENTITY and "\x00" not in path[0]:
            keys[path[0]] = None
    return list(keys)
