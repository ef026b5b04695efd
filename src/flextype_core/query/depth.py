"""``options[find][depth]``: which levels below the parent a collection reaches."""

from __future__ import annotations

import re

from flextype_core.errors import BadRequest, shown

__all__ = ["parse_depth", "parse_depth_range"]

_COMPARATOR = re.compile(r"\s*(>=|<=|>|<)?\s*([0-9]{1,6})\s*")


def parse_depth(value: object) -> int | None:
    """Return how many levels down a collection reaches (None: every level).

    Raises:
        BadRequest: as ``parse_depth_range``, or a form that skips the first levels.
    """
    low, high = parse_depth_range(value)
    if low != 1:
        raise BadRequest(f"options[find][depth] {shown(str(value))} skips levels here.")
    return high


def parse_depth_range(value: object) -> tuple[int, int | None]:
    """Return the (first, last) levels to collect; level 1 is the direct children.

    Accepts an integer N >= 1 (levels 1 to N), ``all`` (every level), or Flextype's
    comparator forms: ``>N`` (levels after N: ``>0`` is every level), ``>=N`` (from N
    on), ``<N`` (levels before N: ``<2`` is the direct children), ``<=N`` (up to N).
    A last level of None means no limit.

    Raises:
        BadRequest: anything else, or a form that selects no level.
    """
    if value is None or value == "":
        return 1, 1
    if isinstance(value, bool):
        raise BadRequest(f"options[find][depth] must be a number or 'all', got {value}.")
    if isinstance(value, int):
        return 1, _at_least_one(value, str(value))
    text = str(value)
    if text.strip().lower() == "all":
        return 1, None
    match = _COMPARATOR.fullmatch(text)
    if match is None:
        raise BadRequest(f"options[find][depth] must be a number or 'all', got {shown(text)}.")
    comparator, number = match.group(1), int(match.group(2))
    if comparator == ">":
        return number + 1, None
    if comparator == ">=":
        return max(number, 1), None
    if comparator == "<":
        return 1, _at_least_one(number - 1, text)
    return 1, _at_least_one(number, text)


def _at_least_one(depth: int, text: str) -> int:
    if depth < 1:
        raise BadRequest(f"options[find][depth] {shown(text)} selects no level.")
    return depth
