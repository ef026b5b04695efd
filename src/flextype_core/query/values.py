"""How query values meet stored values: coercion by the stored type, order, dates, paths."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

__all__ = [
    "MISSING",
    "Operand",
    "is_number",
    "json_text",
    "lookup",
    "order_key",
    "parse_number",
    "to_timestamp",
]

MISSING: Final = object()
"""What ``lookup`` returns for a path that leads nowhere."""

_INT = re.compile(r"[+-]?[0-9]{1,30}")
_FLOAT = re.compile(r"[+-]?(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})(?:[eE][+-]?[0-9]{1,4})?")


def lookup(item: Any, path: tuple[str, ...]) -> Any:
    """Follow a dot path through maps (by key) and lists (by decimal index); MISSING if absent."""
    node = item
    for segment in path:
        if isinstance(node, dict):
            node = node.get(segment, MISSING)
        elif (
            isinstance(node, list)
            and segment.isascii()
            and segment.isdecimal()
            and int(segment) < len(node)
        ):
            node = node[int(segment)]
        else:
            return MISSING
        if node is MISSING:
            return MISSING
    return node


def is_number(value: object) -> bool:
    """Tell whether ``value`` is an int or float (a bool is not a number)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_number(text: str) -> int | float | None:
    """Read a decimal number written as JSON or YAML would (no spaces, ``_``, inf or nan)."""
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        number = float(text)
        # ``1e999`` overflows to infinity, which no stored JSON number can equal.
        return number if math.isfinite(number) else None
    return None


def json_text(value: object) -> str:
    """The JSON text of a value (``2020``, ``true``, ``1.5``); used for non-string values."""
    return msgspec.json.encode(value).decode()


def _parse_bool(text: str) -> bool | None:
    return {"true": True, "1": True, "false": False, "0": False}.get(text.lower())


class Operand:
    """A clause value, precomputed in the forms a stored string, number or bool needs.

    A value is read by the type of the stored field it meets: a string field sees its
    text (a JSON scalar's JSON text), a number field its number (None when the text is
    no number), a bool field its bool (``true/false/1/0``, any case).
    """

    __slots__ = ("boolean", "number", "text")

    def __init__(self, value: str | int | float | bool) -> None:
        self.text: str = value if isinstance(value, str) else json_text(value)
        self.number: int | float | None
        if isinstance(value, bool):
            self.number = None
        elif isinstance(value, int | float):
            self.number = value
        else:
            self.number = parse_number(value)
        self.boolean: bool | None = _parse_bool(self.text)

    def as_type_of(self, stored: object) -> object:
        """This value coerced to the type of ``stored``; None if that cannot be done."""
        if isinstance(stored, str):
            return self.text
        if isinstance(stored, bool):
            return self.boolean
        if isinstance(stored, int | float):
            return self.number
        return None


def order_key(value: object) -> tuple[Any, ...]:
    """A key ordering numbers < strings < bools < anything else.

    Numbers compare numerically (NaN after every number), strings by case-folded text
    then code point, bools false first; lists and maps all compare equal.
    """
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, int | float):
        nan = isinstance(value, float) and math.isnan(value)
        return (0, nan, 0 if nan else value)
    if isinstance(value, str):
        return (1, value.casefold(), value)
    return (3,)


def to_timestamp(value: object) -> float | None:
    """Read a date: a Unix time (number or numeric string) or ISO 8601 (UTC when no zone).

    Returns None for anything else (a bool, a map, a string that is no date).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if math.isnan(value) else float(value)
    if not isinstance(value, str):
        return None
    number = parse_number(value)
    if number is not None:
        return float(number)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
