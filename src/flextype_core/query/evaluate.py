"""The collection pipeline: where -> sort_by -> offset/limit -> return -> group_by -> project."""

from __future__ import annotations

import random as _random
from collections.abc import Mapping
from typing import Any

from flextype_core.query.clauses import compile_where
from flextype_core.query.keyset import by_relevance
from flextype_core.query.model import Path, Query, SortKey
from flextype_core.query.prefilter import IndexedItems
from flextype_core.query.search_match import matches
from flextype_core.query.search_text import document
from flextype_core.query.values import MISSING, json_text, lookup, order_key

__all__ = [
    "order",
    "page",
    "project",
    "run",
    "select",
    "select_from",
    "shape",
    "shape_page",
    "sort_items",
]

_RANDOM = _random.Random()  # noqa: S311 - shuffling entries is not cryptography


def select(query: Query, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the items that pass every clause, sorted by ``query.sort``.

    Without sort keys the input order is kept (stores give items in id order).
    ``len(select(...))`` is the collection's ``meta.total``.
    """
    test = compile_where(query.where)
    found = [item for item in items if test(item)] if query.where else list(items)
    return sort_items(found, query.sort)


def select_from(
    query: Query, indexed: IndexedItems, scores: Mapping[str, float] | None = None
) -> list[dict[str, Any]]:
    """``select`` over indexed items: only the indexes' candidates meet the exact tests.

    With a search, ``scores`` names the entries whose text matches it (id -> relevance;
    with ``search.fields``, at least those: each is checked here against the fields), and
    without sort keys the order is by relevance, best first, ties by id.
    """
    items = indexed.items
    if query.where:
        positions = indexed.candidates(query.where)
        pool = items if positions is None else [items[p] for p in positions]
    else:
        pool = items
    if scores is not None:
        pool = [item for item in pool if item["id"] in scores]
    if query.where:
        test = compile_where(query.where)
        pool = [item for item in pool if test(item)]
    search = query.search
    if search is not None and search.fields is not None:
        pool = [item for item in pool if matches(search.expr, document(item, search.fields))]
    return order(query, pool, scores)


def order(
    query: Query, items: list[dict[str, Any]], scores: Mapping[str, float] | None = None
) -> list[dict[str, Any]]:
    """Sort items (in id order) as ``query`` orders them: its sort keys, or relevance."""
    if scores is not None and by_relevance(query):
        return sorted(items, key=lambda item: -scores[item["id"]])  # stable: ties by id
    return sort_items(items, query.sort)


def sort_items(items: list[dict[str, Any]], keys: tuple[SortKey, ...]) -> list[dict[str, Any]]:
    """Sort stably by several keys, the first most significant; missing and null values last.

    Values order as :func:`~flextype_core.query.values.order_key` says (numbers, then
    strings by case-folded text, then bools, then lists and maps). ``descending`` reverses
    the order of present values only: missing ones stay last, in their previous order.
    """
    result = list(items)
    for key in reversed(keys):
        present: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        absent: list[dict[str, Any]] = []
        for item in result:
            value = lookup(item, key.key)
            if value is MISSING or value is None:
                absent.append(item)
            else:
                present.append((order_key(value), item))
        present.sort(key=lambda pair: pair[0], reverse=key.descending)
        result = [item for _, item in present] + absent
    return result


def page(items: list[dict[str, Any]], offset: int, limit: int | None) -> list[dict[str, Any]]:
    """Return the items from ``offset`` on, at most ``limit`` of them (None: all)."""
    return items[offset:] if limit is None else items[offset : offset + limit]


def _returned(query: Query, items: list[dict[str, Any]], rng: _random.Random) -> Any:
    match query.return_:
        case "first":
            return items[0] if items else None
        case "last":
            return items[-1] if items else None
        case "next":
            return items[1] if len(items) > 1 else None
        case "random":
            return rng.choice(items) if items else None
        case "shuffle":
            shuffled = list(items)
            rng.shuffle(shuffled)
            return shuffled
    return items


def _group_key(item: dict[str, Any], path: Path) -> str:
    value = lookup(item, path)
    if value is MISSING or value is None:
        return ""
    return value if isinstance(value, str) else json_text(value)


def _grouped(items: list[dict[str, Any]], path: Path) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        groups.setdefault(_group_key(item, path), []).append(item)
    return groups


def _pick(node: Any, path: Path) -> Any:
    """Copy of the part of ``node`` at ``path`` (maps only), or MISSING."""
    if not path:
        return node
    if not isinstance(node, dict) or path[0] not in node:
        return MISSING
    inner = _pick(node[path[0]], path[1:])
    return MISSING if inner is MISSING else {path[0]: inner}


def _merge(into: dict[str, Any], part: dict[str, Any]) -> None:
    for name, value in part.items():
        if isinstance(value, dict) and isinstance(into.get(name), dict):
            _merge(into[name], value)
        else:
            into[name] = value


def _without(node: dict[str, Any], path: Path) -> dict[str, Any]:
    if path[0] not in node:
        return node
    if len(path) == 1:
        return {name: value for name, value in node.items() if name != path[0]}
    inner = node[path[0]]
    if not isinstance(inner, dict):
        return node
    return {**node, path[0]: _without(inner, path[1:])}


def _kept(query: Query) -> tuple[Path, ...]:
    """What projection always keeps: the id, and what the search was asked to add."""
    search = query.search
    if search is None:
        return (("id",),)
    return (("id",), *((("_score",),) * search.score), *((("_highlight",),) * search.highlight))


def project(item: dict[str, Any], query: Query) -> dict[str, Any]:
    """Keep ``only`` the given dot paths, then drop the ``except`` ones; ``id`` stays.

    So do ``_score`` and ``_highlight`` (asked for by ``options[search]``).
    """
    result = item
    kept = _kept(query)
    if query.only is not None:
        result = {}
        for path in (*query.only, *kept):
            part = _pick(item, path)
            if part is not MISSING:
                _merge(result, part)
    for path in query.except_ or ():
        if path not in kept:
            result = _without(result, path)
    return result


def shape(query: Query, selected: list[dict[str, Any]], rng: _random.Random | None = None) -> Any:
    """Apply offset/limit, ``return``, ``group_by`` and projection to selected items."""
    return shape_page(query, page(selected, query.offset, query.limit), rng)


def shape_page(query: Query, items: list[dict[str, Any]], rng: _random.Random | None = None) -> Any:
    """Apply ``return``, ``group_by`` and projection to a page (offset/limit already applied).

    ``group_by`` applies to list results; a single item (``first``, ``last``, ``next``,
    ``random``) is returned as it is, or None when there is none. ``items`` is never
    changed: a projection builds new items.
    """
    result = _returned(query, items, rng or _RANDOM)
    projecting = query.only is not None or bool(query.except_)
    if isinstance(result, dict):
        return project(result, query) if projecting else result
    if result is None:
        return None
    if query.group_by is not None:
        groups = _grouped(result, query.group_by)
        if projecting:
            return {name: [project(i, query) for i in group] for name, group in groups.items()}
        return groups
    return [project(item, query) for item in result] if projecting else result


def run(query: Query, items: list[dict[str, Any]], rng: _random.Random | None = None) -> Any:
    """Run the whole pipeline over ``items`` (public entries with ``id``).

    Args:
        query: the parsed options.
        items: the collection before filtering, in id order.
        rng: the source of ``random`` and ``shuffle`` (a module-wide one by default).

    Returns:
        A list of items, one item or None (``first``/``last``/``next``/``random``), or
        ``{group: [items]}`` with ``group_by``.
    """
    return shape(query, select(query, items), rng)
