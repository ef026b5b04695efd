"""The process's garbage-collection policy: what is built to last is kept out of collections.

CPython's full (generation 2) collection walks every container object the process
tracks. What a server builds to keep - its modules and app, and on the YAML driver the
entry index with its public views (about 600k objects at 100k entries) - would be
walked again and again for nothing: at 100k entries a full collection held the GIL for
400-460 ms, about once every 40 queries (p99 11x p50, issue 17). ``gc.freeze()`` moves
every tracked object to a permanent generation that collections skip; frozen objects are
still freed by reference counting when dropped.

This module is the one place that freezes. Its callers say when: ``flextype serve``
once the app is built (decision 108), and the indexed YAML store once an index of
``SETTLE_FROM`` entries or more is built and answered its first collection query (whose
public views and query indexes are then settled too), or when as many entries were
reloaded since it last did (``due``).
"""

from __future__ import annotations

import gc

__all__ = ["SETTLE_FROM", "due", "settle_heap"]

SETTLE_FROM = 10_000
"""Entries an index loads before it settles the heap. Below it, a full collection of the
index takes a few ms (not worth a full collection of everything, and the freezing of a
library caller's heap); at 100k entries, hundreds."""


def due(loaded: int, indexed: int, settle_from: int = SETTLE_FROM) -> bool:
    """Whether an index should settle, having (re)loaded ``loaded`` of ``indexed`` entries.

    Counted since it last settled: at least ``settle_from`` of them, and a quarter of the
    index. What was loaded since is not frozen, so full collections walk it again; a quarter of
    the index rewritten costs a quarter of the pause the first settle removed.
    """
    return loaded >= max(settle_from, indexed // 4)


def settle_heap() -> None:
    """Freeze every object the process holds now, after one full collection of them all.

    Unfrozen first: a frozen cycle that became garbage since the last settle is reclaimed
    by this collection (reference counting never frees a cycle), so memory stays bounded
    by what is alive, whatever was frozen before. One pause the length of a full
    collection (about 0.4 s at 100k entries), once per settle.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
