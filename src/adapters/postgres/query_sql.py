"""A pure compiler from a collection query's ``where`` and ``sort_by`` to SQL over ``data``.

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
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from psycopg import sql

from flextype_core.query.model import (
    Between,
    Clause,
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
    NRegexp,
    Older,
    Path,
    Regexp,
    Scalar,
    SortKey,
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

EXACT_NUMBER = 2**53
"""Largest magnitude a number may have for jsonb to compare it as Python does.

jsonb holds a float as its shortest decimal (``1.2345678901234567e20``), Python as its
binary value (``123456789012345667584``): the two order differently against an integer
only past 2**53, where floats stop holding every integer.
"""

_IDENTITY = ("id", "slug")
"""Top-level keys the public item takes from the entry's id, not from its fields."""


class _F(NamedTuple):
    """A piece of SQL and the parameters of its placeholders, in order."""

    sql: sql.Composable
    params: tuple[object, ...] = ()


_TRUE = _F(sql.SQL("TRUE"))
_FALSE = _F(sql.SQL("FALSE"))


def _cat(*parts: str | _F) -> _F:
    """Join SQL text (constants of this module only) and fragments into one fragment."""
    pieces: list[sql.Composable] = []
    params: list[object] = []
    for part in parts:
        if isinstance(part, str):
            pieces.append(sql.SQL(part))  # constants of this module only
        else:
            pieces.append(part.sql)
            params.extend(part.params)
    return _F(sql.Composed(pieces), tuple(params))


def _param(value: object, cast: str) -> _F:
    """One parameter, cast to the named SQL type."""
    return _F(sql.Composed([sql.Placeholder(), sql.SQL("::" + cast)]), (value,))


def _join(parts: Sequence[_F], glue: str, empty: _F) -> _F:
    if not parts:
        return empty
    if len(parts) == 1:
        return parts[0]
    joined: list[str | _F] = ["("]
    for i, part in enumerate(parts):
        if i:
            joined.append(glue)
        joined.append(part)
    joined.append(")")
    return _cat(*joined)


def _not(part: _F) -> _F:
    return _cat("NOT (", part, ")")


def _or(parts: Sequence[_F]) -> _F:
    return _join(parts, " OR ", _FALSE)


def _and(parts: Sequence[_F]) -> _F:
    return _join(parts, " AND ", _TRUE)


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


class _Cond(NamedTuple):
    cond: _F
    doubt: _F | None  # None: every row passing cond is in doubt

    @property
    def exact(self) -> bool:
        return self.doubt is _FALSE


def _exact(cond: _F) -> _Cond:
    return _Cond(cond, _FALSE)


# -- where the value of a key path lives ------------------------------------------------


class _Value(NamedTuple):
    """The jsonb at a key path (SQL NULL when absent)."""

    expr: _F
    containment: bool
    """The path crosses maps only, so ``data @> {...}`` tests it (and the GIN index serves)."""


def _value(path: Path) -> _Value | None:
    """Where ``path`` leads in a row, as Python's lookup reads it; None: nowhere, ever.

    A segment of ASCII digits is a list index or a map key (``#>``, as Python); any
    other segment is a map key only (``->``). ``#>`` alone would also read " 1", "+1" or
    "-1" (from the end) as an index, where Python finds nothing; ``->`` with one key is
    also much cheaper than ``#>``, which parses its array on every row.
    """
    if path[0] in _IDENTITY:
        # The item's id and slug are the entry's id: a string, with nothing below it.
        return _Value(_F(sql.SQL("to_jsonb(id)")), containment=False) if len(path) == 1 else None
    if any("\x00" in segment for segment in path):
        return None  # jsonb holds no NUL: no exact row has such a key
    expr = _F(sql.SQL("data"))
    indexed = False
    for segment in path:
        if segment.isascii() and segment.isdecimal():
            expr = _cat("(", expr, " #> ", _param([segment], "text[]"), ")")
            indexed = True
        else:
            expr = _cat("(", expr, " -> ", _param(segment, "text"), ")")
    return _Value(expr, containment=not indexed)


def _is(value: _F, *kinds: str) -> _F:
    """The jsonb is of one of ``kinds`` (constants: 'string', 'number', ...)."""
    if len(kinds) == 1:
        return _cat("jsonb_typeof(", value, ") = '" + kinds[0] + "'")
    listed = ", ".join(f"'{kind}'" for kind in kinds)
    return _cat("jsonb_typeof(", value, ") IN (" + listed + ")")


def _present(value: _F) -> _F:
    return _cat("jsonb_typeof(", value, ") <> 'null'")


def _text(value: _F) -> _F:
    """The text of a jsonb string."""
    return _cat("(", value, " #>> '{}')")


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


def _listed(values: tuple[str, ...]) -> _F:
    """``a, b, c`` (no brackets) of jsonb parameters."""
    parts: list[str | _F] = []
    for i, text in enumerate(values):
        parts.extend([", "] if i else [])
        parts.append(_param(text, "jsonb"))
    return _cat(*parts)


def _equal_cond(value: _Value, path: Path, alts: _Alternatives) -> _F:
    if not alts.values:
        return _FALSE
    if value.containment:
        docs = []
        for text in alts.values:
            doc = text
            for segment in reversed(path):
                doc = "{" + json_text(segment) + ":" + doc + "}"
            docs.append(_cat("data @> ", _param(doc, "jsonb")))
        return _or(docs)
    return _cat(value.expr, " IN (", _listed(alts.values), ")")


def _equal(value: _Value, path: Path, operands: Sequence[Operand], negated: bool) -> _Cond:
    alts = _alternatives(operands)
    loose = _is(value.expr, "number") if alts.loose_number else None
    if path[0] in _IDENTITY:
        # The id is a string: only the text form can equal it (and the key serves).
        texts = [o.text for o in operands if "\x00" not in o.text]
        found = _cat("id = ANY(", _param(texts, "text[]"), ")") if texts else _FALSE
        return _exact(_not(found) if negated else found)
    if negated:
        cond = _present(value.expr)
        if alts.values:
            cond = _and([cond, _cat(value.expr, " NOT IN (", _listed(alts.values), ")")])
        return _Cond(cond, loose or _FALSE)
    equal = _equal_cond(value, path, alts)
    return _Cond(_or([equal, loose]) if loose else equal, loose or _FALSE)


# -- order ------------------------------------------------------------------------------

_COMPARE: dict[type[Clause], tuple[str, Callable[[Any, Any], bool]]] = {
    Lt: ("<", operator.lt),
    Gt: (">", operator.gt),
    Lte: ("<=", operator.le),
    Gte: (">=", operator.ge),
}


_Bound = tuple[Scalar, str, Callable[[Any, Any], bool]]
"""A bound of an order test: the clause value, the SQL sign, the Python comparison."""


def _number_compare(value: _F, sign: str, test: Callable[[Any, Any], bool], number: float) -> _F:
    """``stored <sign> number`` for a stored number; TRUE/FALSE when the bound is no finite."""
    if math.isfinite(number):
        return _cat(value, " " + sign + " ", _param(json_text(number), "jsonb"))
    # NaN orders after every number, inf and -inf at the ends: one answer for every row.
    return _TRUE if test(order_key(0), order_key(number)) else _FALSE


class _NumberTest(NamedTuple):
    cond: _F | None  # None: no stored number passes
    loose: bool


def _number_test(
    value: _F,
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
            return _NumberTest(_is(value, "number"), True)
        parts.append(_number_compare(value, sign, test, number))
    within = _and(parts)
    return _NumberTest(_and([_is(value, "number"), _not(within) if negated else within]), False)


def _string_test(value: _F, bounds: Sequence[_Bound], negated: bool) -> _Cond:
    """Stored strings meeting every bound, by (case-folded text, text).

    SQL knows case folding for ASCII only: a stored string beyond ASCII passes and is in
    doubt; a bound beyond ASCII (or with a NUL) leaves every string in doubt.
    """
    strings = _is(value, "string")
    texts = [Operand(bound).text for bound, _, _ in bounds]
    if not all(text.isascii() and "\x00" not in text for text in texts):
        return _Cond(strings, strings)
    stored = _cat(_text(value), ' COLLATE "C"')
    parts = [
        _cat(
            "(lower(",
            stored,
            "), ",
            stored,
            ") " + sign + " (",
            _param(text.lower(), "text"),
            ' COLLATE "C", ',
            _param(text, "text"),
            ' COLLATE "C")',
        )
        for text, (_, sign, _) in zip(texts, bounds, strict=True)
    ]
    within = _and(parts)
    beyond = _cat("octet_length(", _text(value), ") <> length(", _text(value), ")")
    test = _or([beyond, _not(within) if negated else within])
    return _Cond(_and([strings, test]), _and([strings, beyond]))


def _order(value: _F, bounds: Sequence[_Bound], negated: bool = False) -> _Cond:
    """Order tests: numbers and ASCII strings in SQL; other strings left to the core."""
    numbers = _number_test(value, bounds, negated)
    strings = _string_test(value, bounds, negated)
    doubts = [d for d in (strings.doubt,) if d is not None]
    if numbers.loose:
        doubts.append(_is(value, "number"))
    parts = [strings.cond] if numbers.cond is None else [numbers.cond, strings.cond]
    return _Cond(_or(parts), _or(doubts))


# -- text -------------------------------------------------------------------------------


def _contains(value: _F, operand: Operand, negated: bool) -> _Cond:
    text = operand.text
    if "\x00" in text:
        substring = _FALSE if not negated else _is(value, "string")
    else:
        found = _cat("strpos(", _text(value), ' COLLATE "C", ', _param(text, "text"), ") ")
        substring = _and([_is(value, "string"), _cat(found, "= 0" if negated else "> 0")])
    alts = _alternatives([operand])
    held = _or([_cat(value, " @> ", _param("[" + v + "]", "jsonb")) for v in alts.values])
    if negated:
        element = _and([_is(value, "array"), _not(held)])
    elif alts.loose_number:
        element = _is(value, "array")
    else:
        element = _and([_is(value, "array"), held])
    doubt = _is(value, "array") if alts.loose_number else _FALSE
    return _Cond(_or([substring, element]), doubt)


def _affix(value: _F, text: str, start: bool) -> _Cond:
    if "\x00" in text:
        return _exact(_FALSE)
    if start:
        test = _cat("starts_with(", _text(value), ' COLLATE "C", ', _param(text, "text"), ")")
    else:
        test = _cat(
            "right(",
            _text(value),
            ", ",
            _param(len(text), "integer"),
            ") = ",
            _param(text, "text"),
            ' COLLATE "C"',
        )
    return _exact(_and([_is(value, "string"), test]))


# -- clauses ----------------------------------------------------------------------------


def _clause(clause: Clause, value: _Value) -> _Cond:
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
            short = _cat("length(", _text(expr), ") <= " + str(MAX_SUBJECT))
            return _Cond(_and([_is(expr, "string"), short]), None)
        case Newer() | Older():
            return _Cond(_is(expr, "number", "string"), None)
    raise AssertionError(clause)  # pragma: no cover


def _compile(clause: Clause) -> _Cond:
    value = _value(clause.key)
    if value is None:
        return _exact(_FALSE)  # a missing field fails every clause
    return _clause(clause, value)


def _compiled(conds: Sequence[_Cond]) -> Compiled:
    cond = _and([c.cond for c in conds])
    exact = all(c.exact for c in conds)
    if any(c.doubt is None for c in conds):
        return Compiled(cond.sql, list(cond.params), exact, None, [])
    doubt = _or([c.doubt for c in conds if c.doubt is not None and c.doubt is not _FALSE])
    return Compiled(cond.sql, list(cond.params), exact, doubt.sql, list(doubt.params))


def compile_clause(clause: Clause) -> Compiled:
    """Compile one ``where`` clause to a condition over an entries row."""
    return _compiled([_compile(clause)])


def compile_where(where: Sequence[Clause]) -> Compiled:
    """Compile every clause of ``where`` into one condition (TRUE for no clause)."""
    return _compiled([_compile(clause) for clause in where])


# -- sort -------------------------------------------------------------------------------

_RANK = {
    # Numbers, strings, bools, then lists and maps (all equal); missing and null last,
    # whichever the direction.
    False: "CASE jsonb_typeof({}) WHEN 'number' THEN 0 WHEN 'string' THEN 1"
    " WHEN 'boolean' THEN 2 WHEN 'array' THEN 3 WHEN 'object' THEN 3 ELSE 4 END",
    True: "CASE jsonb_typeof({}) WHEN 'array' THEN 0 WHEN 'object' THEN 0"
    " WHEN 'boolean' THEN 1 WHEN 'string' THEN 2 WHEN 'number' THEN 3 ELSE 4 END",
}
_SCALAR_RANKS = {False: "(0, 2)", True: "(3, 1)"}
"""The ranks of numbers and bools, ordered by their jsonb value."""
_STRING_RANK = {False: "1", True: "2"}


class SortSql(NamedTuple):
    """How SQL orders rows for ``sort_by``, given each key's jsonb and rank in columns.

    ``values``: the jsonb at each key's path (for a select list), with its parameters;
    ``rank(i, value)``: the key's type rank in its direction (an int, also selected).
    ``order_by`` gives the ORDER BY items over both (then the id breaks ties, as the
    core's stable sort over id order does). SQL's order is the core's but where it
    cannot know the core's case folding (a string past ASCII: ``doubt``, per row) or a
    float's binary value (a number past 2**53: ``doubts_page``, over the page's values
    only, since such a number is misplaced only against another one).
    """

    values: list[tuple[sql.Composable, list[object]]]
    descending: tuple[bool, ...]

    def rank(self, index: int, value: sql.Composable) -> sql.Composable:
        """The rank of key ``index``'s type: what orders first in its direction."""
        return sql.SQL(_RANK[self.descending[index]]).format(value)

    def order_by(
        self, values: Sequence[sql.Composable], ranks: Sequence[sql.Composable]
    ) -> sql.Composable:
        """The ORDER BY items over the key columns and their ranks (no parameters)."""
        items: list[sql.Composable] = []
        for value, rank, descending in zip(values, ranks, self.descending, strict=True):
            way = sql.SQL(" DESC" if descending else "")
            text = sql.SQL("CASE WHEN {} = " + _STRING_RANK[descending])
            string = sql.SQL("{} THEN ({} #>> '{{}}') COLLATE \"C\" END").format(
                text.format(rank), value
            )
            items += [
                rank,
                # Within a type: numbers by value, bools false first (jsonb's own order).
                sql.SQL("CASE WHEN {} IN " + _SCALAR_RANKS[descending] + " THEN {} END{}").format(
                    rank, value, way
                ),
                sql.SQL("lower({}){}").format(string, way),
                sql.SQL("{}{}").format(string, way),
            ]
        return sql.SQL(", ").join(items)

    def native_order(self, values: Sequence[sql.Composable]) -> sql.Composable:
        """ORDER BY items in jsonb's own order, missing last (no parameters).

        The core's order while every key is a number or missing (``not_numbers`` false
        for every row).
        """
        items = [
            sql.SQL("{}{} NULLS LAST").format(value, sql.SQL(" DESC" if descending else ""))
            for value, descending in zip(values, self.descending, strict=True)
        ]
        return sql.SQL(", ").join(items)

    def not_numbers(self, values: Sequence[sql.Composable]) -> sql.Composable:
        """True for a row with a key present and not a number (JSON null included)."""
        parts = [sql.SQL("jsonb_typeof({}) <> 'number'").format(value) for value in values]
        return sql.SQL(" OR ").join(parts) if parts else sql.SQL("FALSE")

    def doubt(
        self, values: Sequence[sql.Composable], ranks: Sequence[sql.Composable]
    ) -> sql.Composable:
        """True for a row holding a string past ASCII in a key (no parameters)."""
        parts = [
            sql.SQL(
                "({} = " + _STRING_RANK[descending] + " AND octet_length({} #>> '{{}}')"
                " <> length({} #>> '{{}}'))"
            ).format(rank, value, value)
            for value, rank, descending in zip(values, ranks, self.descending, strict=True)
        ]
        return sql.SQL(" OR ").join(parts) if parts else sql.SQL("FALSE")

    @staticmethod
    def doubts_page(values: Iterable[Any]) -> bool:
        """Tell whether a page row's key values (decoded) hold a number past 2**53."""
        return any(
            isinstance(v, int | float) and not isinstance(v, bool) and abs(v) > EXACT_NUMBER
            for v in values
        )


def compile_sort(keys: Sequence[SortKey]) -> SortSql:
    """Compile ``sort_by``: each key's value expression, its direction, its doubt."""
    values: list[tuple[sql.Composable, list[object]]] = []
    for key in keys:
        value = _value(key.key)
        # None: the path leads nowhere in an exact row, so the key is missing in each.
        found = _F(sql.SQL("NULL::jsonb")) if value is None else value.expr
        values.append((found.sql, list(found.params)))
    return SortSql(values, tuple(key.descending for key in keys))


def field_keys(paths: Iterable[Path]) -> list[str]:
    """The distinct top-level keys of ``paths`` that the stored fields hold (id/slug aside)."""
    keys: dict[str, None] = {}
    for path in paths:
        if path[0] not in _IDENTITY and "\x00" not in path[0]:
            keys[path[0]] = None
    return list(keys)
