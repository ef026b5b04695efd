"""Where an item stands against a cursor: the keyset of an item, and "does it come after".

The order is the collection's: each sort key (missing and null last in both directions,
``descending`` reversing present values only), then, for a search without sort keys,
relevance (best first), then the id in code-point order. Every item has one place in it,
so "the items after this keyset" is the same set whatever was created, changed or
deleted since the keyset was taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flextype_core.query.model import Keyset, Query, SortKey
from flextype_core.query.values import MISSING, lookup, order_key

__all__ = ["by_relevance", "follows", "keyset_of", "ordered_after", "paged"]


def by_relevance(query: Query) -> bool:
    """Whether the order is relevance then id (a search without sort keys)."""
    return query.search is not None and not query.sort


def _value(item: Any, key: SortKey) -> Any:
    value = lookup(item, key.key)
    return None if value is MISSING else value


def keyset_of(item: dict[str, Any], query: Query, score: float | None = None) -> Keyset:
    """The keyset of ``item`` (a public entry) in ``query``'s order; ``score`` its relevance."""
    return Keyset(
        values=tuple(_value(item, key) for key in query.sort),
        score=score if by_relevance(query) else None,
        id=item["id"],
    )


def _compare(mine: Any, theirs: Any, descending: bool) -> int:
    """-1, 0 or 1: whether ``mine`` comes before, with or after ``theirs`` for one key."""
    if mine is None or theirs is None:
        return (mine is None) - (theirs is None)
    a, b = order_key(mine), order_key(theirs)
    if a == b:
        return 0
    before = a < b
    return (1 if descending else -1) if before else (-1 if descending else 1)


def follows(item: dict[str, Any], keyset: Keyset, query: Query, score: float | None = None) -> bool:
    """Whether ``item`` comes strictly after ``keyset`` in ``query``'s order."""
    for key, theirs in zip(query.sort, keyset.values, strict=True):
        side = _compare(_value(item, key), theirs, key.descending)
        if side:
            return side > 0
    relevant = by_relevance(query) and score is not None and keyset.score is not None
    if relevant and score != keyset.score:
        return bool(score is not None and keyset.score is not None and score < keyset.score)
    return bool(item["id"] > keyset.id)


def ordered_after(
    items: list[dict[str, Any]], query: Query, scores: Mapping[str, float] | None = None
) -> list[dict[str, Any]]:
    """The part of ``items`` (already in ``query``'s order) after ``query.keyset``."""
    keyset = query.keyset
    if keyset is None:
        return items
    low, high = 0, len(items)  # the items that follow form a tail: find where it starts
    while low < high:
        middle = (low + high) // 2
        item = items[middle]
        score = None if scores is None else scores.get(item["id"])
        if follows(item, keyset, query, score):
            high = middle
        else:
            low = middle + 1
    return items[low:]


def paged(
    items: list[dict[str, Any]], query: Query, scores: Mapping[str, float] | None = None
) -> tuple[list[dict[str, Any]], bool | None]:
    """The page of ``items`` (all matches, in ``query``'s order) and whether more follow.

    After ``query.keyset`` when there is one (``more`` then says whether items follow
    the page), else from ``query.offset`` (``more`` None: offset + page < total says).
    """
    if query.keyset is None:
        start = items[query.offset :]
        return (start if query.limit is None else start[: query.limit]), None
    rest = ordered_after(items, query, scores)
    chosen = rest if query.limit is None else rest[: query.limit]
    return chosen, len(chosen) < len(rest)
