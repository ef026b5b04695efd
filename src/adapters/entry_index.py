"""Every entry of a store in memory, ids sorted, so a collection query reads no file."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable

from flextype_core import ids
from flextype_core.model import Entry

__all__ = ["EntryIndex", "ids_in_range", "next_generation"]

_GENERATIONS = itertools.count(1)


def next_generation() -> int:
    """A number never handed out before in this process: a version of some data."""
    return next(_GENERATIONS)


def ids_in_range(found: Iterable[str], entry_id: str, depth: int | None) -> list[str]:
    """Return the ids of ``found`` strictly below ``entry_id``, at most ``depth`` down, sorted."""
    return sorted(
        i
        for i in found
        if i != entry_id
        and ids.is_within(i, entry_id)
        and (depth is None or ids.child_depth(i, entry_id) <= depth)
    )


class EntryIndex:
    """Entries by id, with the ids kept sorted in code-point order.

    The entries below ``x`` are the ids between ``x/`` and ``x0`` (``0`` follows ``/``
    in code points), found by bisection; no scan of unrelated entries. Entries are
    shared with callers, who must not change their fields.
    """

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._entries = {entry.id: entry for entry in entries}
        self._ids = sorted(self._entries)
        self.generation = next_generation()
        """Changes whenever an entry is put or removed: the index's version."""

    def __len__(self) -> int:
        return len(self._ids)

    def put(self, entry: Entry) -> None:
        """Add or replace an entry."""
        if entry.id not in self._entries:
            bisect.insort(self._ids, entry.id)
        elif self._entries[entry.id] == entry:
            return  # unchanged: the version stays
        self._entries[entry.id] = entry
        self.generation = next_generation()

    def discard(self, entry_id: str) -> None:
        """Remove an entry if it is there."""
        if self._entries.pop(entry_id, None) is not None:
            del self._ids[bisect.bisect_left(self._ids, entry_id)]
            self.generation = next_generation()

    def discard_below(self, entry_id: str) -> list[str]:
        """Remove every entry strictly below ``entry_id``; return their ids."""
        low, high = self._range(entry_id)
        doomed = self._ids[low:high]
        del self._ids[low:high]
        for doomed_id in doomed:
            del self._entries[doomed_id]
        if doomed:
            self.generation = next_generation()
        return doomed

    def get(self, entry_id: str) -> Entry | None:
        return self._entries.get(entry_id)

    def ids_below(self, entry_id: str) -> list[str]:
        """Return the ids strictly below ``entry_id`` (``""``: every id), sorted."""
        low, high = self._range(entry_id)
        return self._ids[low:high]

    def has_below(self, entry_id: str) -> bool:
        low, high = self._range(entry_id)
        return high > low

    def below(self, entry_id: str, depth: int | None) -> list[Entry]:
        """Return the entries strictly below ``entry_id``, at most ``depth`` levels down."""
        found = self.ids_below(entry_id)
        if depth is not None:
            found = [i for i in found if ids.child_depth(i, entry_id) <= depth]
        entries = self._entries
        return [entries[i] for i in found]

    def _range(self, entry_id: str) -> tuple[int, int]:
        if entry_id == ids.ROOT:
            return 0, len(self._ids)
        low = bisect.bisect_left(self._ids, entry_id + "/")
        high = bisect.bisect_left(self._ids, entry_id + "0", low)
        return low, high
