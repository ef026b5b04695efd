"""``options[find][depth]``: how many levels below the parent a collection reaches."""

from __future__ import annotations

import re

from flextype_core.errors import BadRequest, shown

__all__ = ["parse_depth"]

_COMPARATOR = re.compile(r"\s*(>=|<=|>|<)?\s*(\d{1,6})\s*")


def parse_depth(value: object) -> int | None:
    """Return the depth (1 = direct children) or None for every level.

    Accepts an integer >= 1, ``all``, or Flextype's comparator forms: ``>N`` (deeper than
    N levels is not expressible, so ``>0`` means every level and ``>N`` also means every
    level from N+1 down), ``>=N`` (every level), ``<N`` (N-1 levels), ``<=N`` (N levels).

    Raises:
        BadRequest: anything else, or a depth that selects no level.
    """
    if value is None or value == "":
        return 1
    if isinstance(value, bool):
        raise BadRequest(f"options[find][depth] must be a number or 'all', got {value}.")
    if isinstance(value, int):
        return _at_least_one(value, str(value))
    text = str(value)
    if text.strip().lower() == "all":
        return None
    match = _COMPARATOR.fullmatch(text)
    if match is None:
        raise BadRequest(f"options[find][depth] must be a number or 'all', got {shown(text)}.")
    comparator, number = match.group(1), int(match.group(2))
    if comparator in (">", ">="):
        return None
    if comparator == "<":
        return _at_least_one(number - 1, text)
    return _at_least_one(number, text)


def _at_least_one(depth: int, text: str) -> int:
    if depth < 1:
        raise BadRequest(f"options[find][depth] {shown(text)} selects no level.")
    return depth
