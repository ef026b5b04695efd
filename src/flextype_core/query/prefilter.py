"""Indexes over one collection's items that narrow a query to the items that may match.

A warm collection query should not test every item: per key path, ``IndexedItems``
builds (once per collection version, on first use) a hash index of scalar values, one of
list elements, and sorted runs of numbers and strings. A clause of ``eq``, ``in``,
``contains``, ``lt``/``gt``/``lte``/``gte`` or ``between`` then names its candidate
positions by lookups and bisection, the candidates of all clauses are intersected (an
``and`` group's too; an ``or`` group's are united when each member narrows; ``not``
never narrows), and only those items meet the exact tests of ``clauses.py``, which alone
decide. The indexes follow the same coercions as those tests (``Operand``), so they never
drop a match.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

from flextype_core.query.model import (
    AllOf,
    AnyOf,
    Between,
    Clause,
    Condition,
    Contains,
    Eq,
    Gt,
    Gte,
    In,
    Lt,
    Lte,
    Not,
    Path,
)
from flextype_core.query.values import MISSING, Operand, lookup

__all__ = ["IndexedItems"]

_Key = tuple[str, Any]


def _scalar_key(value: object) -> _Key | None:
    """The bucket of a stored scalar; None for lists, maps, NaN and null."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else ("n", value)
    if isinstance(value, str):
        return ("s", value)
    return None


def _operand_keys(operand: Operand) -> list[_Key]:
    """The buckets whose stored values equal ``operand`` once coerced to their type."""
    keys: list[_Key] = [("s", operand.text)]
    if operand.number is not None:
        keys.append(("n", operand.number))
    if operand.boolean is not None:
        keys.append(("b", operand.boolean))
    return keys


class _KeyIndex:
    """What one key path holds across the items, arranged for lookups and ranges."""

    def __init__(self, items: list[dict[str, Any]], path: Path) -> None:
        self.scalars: dict[_Key, list[int]] = {}
        self.elements: dict[_Key, set[int]] = {}
        self.strings: list[int] = []
        numbers: list[tuple[float, int]] = []
        texts: list[tuple[str, str, int]] = []
        for position, item in enumerate(items):
            value = lookup(item, path)
            if value is MISSING or value is None:
                continue
            key = _scalar_key(value)
            if key is not None:
                self.scalars.setdefault(key, []).append(position)
                if key[0] == "n":
                    numbers.append((value, position))
                elif key[0] == "s":
                    texts.append((value.casefold(), value, position))
                    self.strings.append(position)
            elif isinstance(value, list):
                for element in value:
                    element_key = _scalar_key(element)
                    if element_key is not None:
                        self.elements.setdefault(element_key, set()).add(position)
        numbers.sort()
        texts.sort()
        self.numbers = [n for n, _ in numbers]
        self.number_positions = [p for _, p in numbers]
        self.texts = [(folded, text) for folded, text, _ in texts]
        self.text_positions = [p for _, _, p in texts]

    def equal(self, operand: Operand) -> set[int]:
        found: set[int] = set()
        for key in _operand_keys(operand):
            found.update(self.scalars.get(key, ()))
        return found

    def containing(self, operand: Operand) -> set[int]:
        # Membership in lists by the element buckets; any string may hold a substring.
        found = set(self.strings)
        for key in _operand_keys(operand):
            found.update(self.elements.get(key, ()))
        return found

    def within(
        self, low: tuple[Operand, bool] | None, high: tuple[Operand, bool] | None
    ) -> set[int]:
        """Positions of numbers and strings between the bounds (each: operand, inclusive)."""
        found: set[int] = set()
        found.update(self._range(self.numbers, self.number_positions, low, high, _number))
        found.update(self._range(self.texts, self.text_positions, low, high, _text))
        return found

    @staticmethod
    def _range(
        keys: list[Any],
        positions: list[int],
        low: tuple[Operand, bool] | None,
        high: tuple[Operand, bool] | None,
        bound: Any,
    ) -> list[int]:
        start, end = 0, len(keys)
        if low is not None:
            key = bound(low[0])
            if key is None:
                return []
            start = (bisect.bisect_left if low[1] else bisect.bisect_right)(keys, key)
        if high is not None:
            key = bound(high[0])
            if key is None:
                return []
            end = (bisect.bisect_right if high[1] else bisect.bisect_left)(keys, key)
        return positions[start:end] if start < end else []


def _number(operand: Operand) -> float | None:
    number = operand.number
    return None if number is None or (isinstance(number, float) and math.isnan(number)) else number


def _text(operand: Operand) -> tuple[str, str]:
    return (operand.text.casefold(), operand.text)


class IndexedItems:
    """One collection's items, with per-key indexes built when a query first needs them.

    Args:
        items: the items, in collection (id) order; shared, never changed here.
    """

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self._keys: dict[Path, _KeyIndex] = {}

    def candidates(self, where: Sequence[Condition]) -> list[int] | None:
        """Positions, in order, of the items that may pass every condition.

        None when no condition can use an index (every item is a candidate).
        """
        narrowed = self._all_of(where)
        return None if narrowed is None else sorted(narrowed)

    def _all_of(self, conditions: Sequence[Condition]) -> set[int] | None:
        """The intersection of what the narrowing conditions allow; None: none narrows."""
        narrowed: set[int] | None = None
        for condition in conditions:
            found = self._condition(condition)
            if found is None:
                continue
            narrowed = found if narrowed is None else narrowed & found
            if not narrowed:
                break
        return narrowed

    def _condition(self, condition: Condition) -> set[int] | None:
        match condition:
            case AllOf(items=items):
                return self._all_of(items)
            case AnyOf(items=items):
                # A union, when every member narrows: one that does not allows any item.
                found: set[int] = set()
                for member in items:
                    narrowed = self._condition(member)
                    if narrowed is None:
                        return None
                    found |= narrowed
                return found
            case Not():
                return None  # the complement of a superset is no superset
        return self._candidates(condition)

    def _index(self, path: Path) -> _KeyIndex:
        index = self._keys.get(path)
        if index is None:
            index = self._keys[path] = _KeyIndex(self.items, path)
        return index

    def _candidates(self, clause: Clause) -> set[int] | None:
        match clause:
            case Eq(value=value):
                return self._index(clause.key).equal(Operand(value))
            case In(value=values):
                index = self._index(clause.key)
                return set().union(*(index.equal(Operand(v)) for v in values))
            case Contains(value=value):
                return self._index(clause.key).containing(Operand(value))
            case Gt(value=value) | Gte(value=value):
                return self._index(clause.key).within(
                    (Operand(value), isinstance(clause, Gte)), None
                )
            case Lt(value=value) | Lte(value=value):
                return self._index(clause.key).within(
                    None, (Operand(value), isinstance(clause, Lte))
                )
            case Between(value=(low, high)):
                return self._index(clause.key).within((Operand(low), True), (Operand(high), True))
        return None
