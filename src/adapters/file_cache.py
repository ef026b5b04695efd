"""Parsed files kept in memory while the file on disk stays the same one."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["ParsedFileCache"]

T = TypeVar("T")

_Identity = tuple[int, int, int, int]


class ParsedFileCache(Generic[T]):
    """Remember what ``parse`` made of a file until the file changes.

    A file is the same while its device, inode, size and modification time (in ns) are:
    every writer here replaces files by rename (a new inode), and an editor saving by
    hand changes the time or the size. A cache hit costs one ``stat``; the file is read
    only when its identity changed. Least recently used values go past ``max_items``.

    Args:
        max_items: how many files to remember.
    """

    def __init__(self, max_items: int = 200_000) -> None:
        self._max_items = max_items
        self._values: OrderedDict[str, tuple[_Identity, T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: str, parse: Callable[[bytes], T]) -> T | None:
        """Return ``parse(bytes of path)``, from memory if the file did not change.

        Returns None if there is no file. Errors of ``parse`` and of reading propagate,
        and nothing is remembered for that file.
        """
        try:
            # Text paths and os calls: pathlib costs microseconds per call on this hot path.
            stat = os.stat(path)  # noqa: PTH116
        except (FileNotFoundError, NotADirectoryError):
            self.forget(path)
            return None
        identity = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            known = self._values.get(path)
            if known is not None and known[0] == identity:
                self._values.move_to_end(path)
                return known[1]
        try:
            # A file replaced between the stat and this read files newer bytes under the
            # older identity; the next call's stat differs and reads it again.
            with open(path, "rb") as stream:  # noqa: PTH123
                data = stream.read()
        except (FileNotFoundError, NotADirectoryError):
            self.forget(path)
            return None
        value = parse(data)
        with self._lock:
            self._values[path] = (identity, value)
            self._values.move_to_end(path)
            while len(self._values) > self._max_items:
                self._values.popitem(last=False)
        return value

    def peek(self, path: str) -> T | None:
        """Return what ``get`` would, if that needs no read of the file (one ``stat``).

        Returns None when the file changed since it was parsed, or was never parsed.

        Raises:
            FileNotFoundError, NotADirectoryError: there is no file (as ``os.stat``).
        """
        stat = os.stat(path)  # noqa: PTH116
        identity = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            known = self._values.get(path)
            if known is None or known[0] != identity:
                return None
            self._values.move_to_end(path)
            return known[1]

    def remember(self, path: str, status: os.stat_result, value: T) -> None:
        """Keep ``value`` as what ``path`` parses to, while the file keeps ``status``.

        For a writer that has the parsed value at hand: ``status`` must be that of the
        file it wrote (``write_atomic`` returns it), so a later edit is never masked.
        """
        identity = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)
        with self._lock:
            self._values[path] = (identity, value)
            self._values.move_to_end(path)
            while len(self._values) > self._max_items:
                self._values.popitem(last=False)

    def forget(self, path: str) -> None:
        """Drop what is remembered of ``path``."""
        with self._lock:
            self._values.pop(path, None)
