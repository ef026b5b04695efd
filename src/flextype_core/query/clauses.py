"""Each ``where`` clause turned into a test of one item, following the typing rules.

A missing or null field fails every clause. Otherwise the clause value is read by the
stored field's type (:class:`~flextype_core.query.values.Operand`), and an operator that
does not apply to that type (an order test on a bool, list or map; a substring test on
a number) fails for that item only. ``neq`` and ``nin`` are the complements of ``eq``
and ``in`` among present fields: a list, a map or a number never equals a word, so they
match it, as Flextype answers.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterator, Sequence
from typing import Any

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
    Regexp,
    StartsWith,
)
from flextype_core.query.regex import MAX_SUBJECT, compile_pattern
from flextype_core.query.values import MISSING, Operand, lookup, order_key, to_timestamp

__all__ = ["ItemTest", "compile_clause", "compile_condition", "compile_where", "leaves"]

ItemTest = Callable[[Any], bool]
"""A test of one item (a public entry)."""

_ValueTest = Callable[[Any], bool]
"""A test of one present, non-null field value."""

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "lt": operator.lt,
    "gt": operator.gt,
    "lte": operator.le,
    "gte": operator.ge,
}


def _coerced(operand: Operand, stored: object) -> object:
    """The operand in the stored value's type, or None (lists and maps compare with nothing)."""
    return operand.as_type_of(stored)


def _equals(operand: Operand, stored: object) -> bool:
    value = _coerced(operand, stored)
    return value is not None and value == stored


def _order_keys(operand: Operand, stored: object) -> tuple[Any, Any] | None:
    """Keys of the stored value and the operand, or None when no order applies."""
    if isinstance(stored, bool) or (isinstance(stored, float) and math.isnan(stored)):
        return None
    value = _coerced(operand, stored)
    if value is None:
        return None
    return order_key(stored), order_key(value)


def _order_test(op: str, operand: Operand) -> _ValueTest:
    compare = _ORDER[op]

    def test(stored: object) -> bool:
        keys = _order_keys(operand, stored)
        return keys is not None and compare(*keys)

    return test


def _between_test(low: Operand, high: Operand, inside: bool) -> _ValueTest:
    def test(stored: object) -> bool:
        low_keys = _order_keys(low, stored)
        high_keys = _order_keys(high, stored)
        if low_keys is None or high_keys is None:
            return False
        within = bool(low_keys[1] <= low_keys[0] <= high_keys[1])
        return within == inside

    return test


def _contains(operand: Operand, stored: object) -> bool | None:
    """Substring on strings, membership on lists; None for any other type."""
    if isinstance(stored, str):
        return operand.text in stored
    if isinstance(stored, list):
        return any(_equals(operand, element) for element in stored)
    return None


def _text_test(clause: Clause) -> _ValueTest:
    match clause:
        case Contains(value=value) | NContains(value=value):
            operand, wanted = Operand(value), isinstance(clause, Contains)
            return lambda stored: _contains(operand, stored) is wanted
        case StartsWith(value=value):
            text = Operand(value).text
            return lambda stored: isinstance(stored, str) and stored.startswith(text)
        case EndsWith(value=value):
            text = Operand(value).text
            return lambda stored: isinstance(stored, str) and stored.endswith(text)
        case Regexp(value=pattern) | NRegexp(value=pattern):
            program, wanted = compile_pattern(pattern), isinstance(clause, Regexp)
            return lambda stored: (
                isinstance(stored, str)
                and len(stored) <= MAX_SUBJECT
                and program.search(stored) is wanted
            )
    raise AssertionError(clause)  # pragma: no cover


def _date_test(at: float, newer: bool) -> _ValueTest:
    def test(stored: object) -> bool:
        moment = to_timestamp(stored)
        return moment is not None and (moment > at if newer else moment < at)

    return test


def _value_test(clause: Clause) -> _ValueTest:
    match clause:
        case Eq(value=value):
            operand = Operand(value)
            return lambda stored: _equals(operand, stored)
        case Neq(value=value):
            operand = Operand(value)
            return lambda stored: not _equals(operand, stored)
        case Lt(value=value) | Gt(value=value) | Lte(value=value) | Gte(value=value):
            return _order_test(clause.op, Operand(value))
        case In(value=values):
            operands = [Operand(v) for v in values]
            return lambda stored: any(_equals(o, stored) for o in operands)
        case Nin(value=values):
            operands = [Operand(v) for v in values]
            return lambda stored: not any(_equals(o, stored) for o in operands)
        case Between(value=(low, high)) | NBetween(value=(low, high)):
            return _between_test(Operand(low), Operand(high), isinstance(clause, Between))
        case Newer(value=at) | Older(value=at):
            return _date_test(at, isinstance(clause, Newer))
    return _text_test(clause)


def compile_clause(clause: Clause) -> ItemTest:
    """Return the test an item must pass for ``clause`` (regexps compile here, once).

    Raises:
        RegexError: a ``regexp`` pattern that the parser did not check.
    """
    path = clause.key
    test = _value_test(clause)

    def check(item: Any) -> bool:
        value = lookup(item, path)
        return value is not MISSING and value is not None and test(value)

    return check


def compile_condition(condition: Condition) -> ItemTest:
    """Return the test of a clause or a group (``or``, ``and``, ``not``), nested as given."""
    match condition:
        case AnyOf(items=items):
            tests = [compile_condition(member) for member in items]
            return lambda item: any(test(item) for test in tests)
        case AllOf(items=items):
            tests = [compile_condition(member) for member in items]
            return lambda item: all(test(item) for test in tests)
        case Not(item=member):
            inner = compile_condition(member)
            return lambda item: not inner(item)
    return compile_clause(condition)


def compile_where(where: Sequence[Condition]) -> ItemTest:
    """Return the test an item must pass for every condition (an empty ``where`` passes all)."""
    tests = [compile_condition(condition) for condition in where]
    return lambda item: all(test(item) for test in tests)


def leaves(where: Sequence[Condition]) -> Iterator[Clause]:
    """Every clause of ``where``, those inside groups too (in order, depth first)."""
    for condition in where:
        match condition:
            case AnyOf(items=items) | AllOf(items=items):
                yield from leaves(items)
            case Not(item=member):
                yield from leaves((member,))
            case _:
                yield condition
