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
from collections.abc import Hashable
from typing import Protocol

from flextype_core import ids
from flextype_core.errors import EntryNotFound
from flextype_core.model import Entry, Selection
from flextype_core.query.evaluate import page, select_from
from flextype_core.query.model import Query
from flextype_core.query.prefilter import IndexedItems

__all__ = ["COLLECTIONS_KEPT", "Collections", "Listing"]

COLLECTIONS_KEPT = 64
"""Collections whose items and indexes are kept between queries (the most recent)."""

_Key = tuple[str, int | None, int]


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

    def __init__(self, store: Listing, *, kept: int = COLLECTIONS_KEPT) -> None:
        self._store = store
        self._kept = kept
        # Guards the dict only; the store is never called holding it.
        self._lock = threading.Lock()
        self._collections: OrderedDict[_Key, tuple[Hashable, IndexedItems, tuple[str, ...]]] = (
            OrderedDict()
        )

    def select(self, parent: str, query: Query) -> Selection:
        """Answer ``EntryStore.select(parent, query)`` (see its contract).

        Raises:
            EntryNotFound: ``parent`` is neither an entry nor has descendants.
        """
        items, unreadable = self._collection(parent, query.depth, query.min_depth)
        selected = select_from(query, items)
        return Selection(
            items=page(selected, query.offset, query.limit),
            total=len(selected),
            unreadable=unreadable,
        )

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
