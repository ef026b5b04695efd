"""A thread-safe least-recently-used map bounded by the bytes of its values."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["ByteLru"]

V = TypeVar("V")


class ByteLru(Generic[V]):
    """Keep the most recently used values while their sizes add up to ``limit`` bytes.

    A value bigger than ``limit`` is never kept (it would evict everything for one
    entry); ``limit`` 0 keeps nothing.

    Args:
        limit: bytes kept at most, as ``size`` counts them.
        size: the bytes one value holds.
    """

    def __init__(self, limit: int, size: Callable[[V], int]) -> None:
        self._limit = limit
        self._size = size
        # Guards the dict: requests on the event loop and in worker threads share it.
        self._lock = threading.Lock()
        self._values: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def bytes(self) -> int:
        """The bytes held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: Hashable) -> V | None:
        """The value kept for ``key`` (now the most recent), or None."""
        with self._lock:
            kept = self._values.get(key)
            if kept is None:
                return None
            self._values.move_to_end(key)
            return kept[0]

    def put(self, key: Hashable, value: V, *, extra: int = 0) -> None:
        """Keep ``value`` for ``key``, dropping the least recently used past the limit.

        ``extra``: bytes held beside the value for it (a long key), counted with it.
        """
        size = self._size(value) + extra
        if size > self._limit:
            return
        with self._lock:
            old = self._values.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._values[key] = (value, size)
            self._bytes += size
            while self._bytes > self._limit:
                _, (_, dropped) = self._values.popitem(last=False)
                self._bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._bytes = 0
