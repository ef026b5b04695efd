"""``EntryStore.select`` for stores that list their entries: items and indexes kept per version.

A store that holds its entries in memory (or reads them from files) answers the
collection part of a query with ``Collections``: it asks the store for the entries in
range, keeps them with their query indexes (``IndexedItems``) while ``version()`` stays
equal, and runs where -> sort -> offset/limit over them. No I/O here: every read is a
call back into the store.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Protocol

from flextype_core import ids
from flextype_core.errors import EntryNotFound
from flextype_core.model import Entry, Selection
from flextype_core.query.evaluate import select_from
from flextype_core.query.keyset import paged
from flextype_core.query.model import Query
from flextype_core.query.prefilter import IndexedItems
from flextype_core.query.search_match import scan
from flextype_core.query.search_syntax import SearchExpr

__all__ = ["COLLECTIONS_KEPT", "Collections", "Listing", "Searcher"]

COLLECTIONS_KEPT = 64
"""Collections whose items and indexes are kept between queries (the most recent)."""

_Key = tuple[str, int | None, int]

SELECTIONS_KEPT = 16
"""Query answers (matches in order) kept per store while its entries stay the same."""

Searcher = Callable[[SearchExpr], Mapping[str, float]]
"""A store's search index (``SearchIndex.search``): the ids of every entry whose text
matches, with their relevance."""

_Selected = tuple[list[dict[str, Any]], Mapping[str, float] | None]


class Listing(Protocol):
    """The reads of an ``EntryStore`` that ``Collections`` calls back (same contracts)."""

    def version(self) -> Hashable: ...

    def descendants(self, entry_id: str, depth: int | None) -> list[Entry]: ...

    def unreadable(self, entry_id: str, depth: int | None) -> list[str]: ...

    def exists(self, entry_id: str) -> bool: ...

    def has_descendants(self, entry_id: str) -> bool: ...


class Collections:
    """The collections of one store, each kept with its indexes while the store's version holds.

    Args:
        store: the store whose entries these are; it holds this object and answers
            ``select`` with it.
        kept: how many collections (parent, depth range) are kept, the most recent.
    """

    def __init__(
        self, store: Listing, *, kept: int = COLLECTIONS_KEPT, search: Searcher | None = None
    ) -> None:
        self._store = store
        self._kept = kept
        self._search = search
        # Guards the dict only; the store is never called holding it.
        self._lock = threading.Lock()
        self._collections: OrderedDict[_Key, tuple[Hashable, IndexedItems, tuple[str, ...]]] = (
            OrderedDict()
        )
        self._selections: OrderedDict[Hashable, tuple[IndexedItems, _Selected]] = OrderedDict()

    def select(self, parent: str, query: Query) -> Selection:
        """Answer ``EntryStore.select(parent, query)`` (see its contract).

        Raises:
            EntryNotFound: ``parent`` is neither an entry nor has descendants.
        """
        items, unreadable = self._collection(parent, query.depth, query.min_depth)
        selected, scores = self._selected(parent, query, items)
        chosen, more = paged(selected, query, scores)
        return Selection(
            items=chosen,
            total=len(selected),
            unreadable=unreadable,
            scores=None if scores is None else tuple(scores[item["id"]] for item in chosen),
            more=more,
            scores_shift=scores is not None and self._search is not None,
        )

    def _selected(self, parent: str, query: Query, items: IndexedItems) -> _Selected:
        """The matches of ``query`` in order, and their scores: kept while ``items`` are.

        The pages of one query (a cursor walk, the same page asked again) then cost a
        bisection or a slice, not a filter and sort of the whole collection.
        """
        search = query.search
        key = (
            parent,
            query.depth,
            query.min_depth,
            query.where,
            query.sort,
            None if search is None else (search.expr, search.fields),
        )
        try:
            hash(key)
        except TypeError:  # a value that cannot be a key: answer without keeping it
            scores = self._scores(query, items)
            return select_from(query, items, scores), scores
        with self._lock:
            kept = self._selections.get(key)
            if kept is not None and kept[0] is items:
                self._selections.move_to_end(key)
                return kept[1]
        scores = self._scores(query, items)
        found = (select_from(query, items, scores), scores)
        with self._lock:
            self._selections[key] = (items, found)
            self._selections.move_to_end(key)
            while len(self._selections) > SELECTIONS_KEPT:
                self._selections.popitem(last=False)
        return found

    def set_search(self, search: Searcher | None) -> None:
        """Answer searches with ``search`` (an index) from now on; None scans the items."""
        self._search = search
        with self._lock:
            self._selections.clear()

    def _scores(self, query: Query, items: IndexedItems) -> Mapping[str, float] | None:
        """With a search: the entries that may match (select_from checks fields), scored."""
        if query.search is None:
            return None
        expr = query.search.expr
        if query.search.fields is not None:
            # Only the wanted words: an excluded word in another field must not exclude.
            expr = SearchExpr(required=expr.required)
        if self._search is None:
            return scan(expr, items.items)
        return self._search(expr)

    def _collection(
        self, parent: str, depth: int | None, min_depth: int
    ) -> tuple[IndexedItems, tuple[str, ...]]:
        """The items below ``parent`` with their query indexes, and the unreadable ids.

        Raises:
            EntryNotFound: ``parent`` is neither an entry nor has descendants.
        """
        key = (parent, depth, min_depth)
        version = self._store.version()
        with self._lock:
            cached = self._collections.get(key)
            if cached is not None and cached[0] == version:
                self._collections.move_to_end(key)
                return cached[1], cached[2]
        found = self._store.descendants(parent, depth)
        unreadable = self._store.unreadable(parent, depth)
        if min_depth > 1:
            found = [e for e in found if ids.child_depth(e.id, parent) >= min_depth]
            unreadable = [i for i in unreadable if ids.child_depth(i, parent) >= min_depth]
        if (
            not found
            and not unreadable
            and parent != ids.ROOT
            and not self._store.exists(parent)
            and not self._store.has_descendants(parent)
        ):
            raise EntryNotFound(parent)
        items = IndexedItems([entry.public for entry in found])
        with self._lock:
            self._collections[key] = (version, items, tuple(unreadable))
            self._collections.move_to_end(key)
            while len(self._collections) > self._kept:
                self._collections.popitem(last=False)
        return items, tuple(unreadable)
