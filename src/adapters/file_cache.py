"""Parsed files kept in memory while the file on disk stays the same one."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from flextype_adapters.confine import Confinement, Identity, identity_of

__all__ = ["ParsedFileCache"]

T = TypeVar("T")


class ParsedFileCache(Generic[T]):
    """Remember what ``parse`` made of a file until the file changes.

    A file is the same while its device, inode, size and modification time (in ns) are:
    every writer here replaces files by rename (a new inode), and an editor saving by
    hand changes the time or the size. A cache hit costs one ``stat``; the file is read
    only when its identity changed. Least recently used values go past ``max_items``.

    Args:
        max_items: how many files to remember.
        confinement: if given, a file whose path leads out of its root through a
            symbolic link counts as missing. Checked when the file is read, and the
            verdict kept with its identity: a hit costs no more than without it.
    """

    def __init__(self, max_items: int = 200_000, *, confinement: Confinement | None = None) -> None:
        self._max_items = max_items
        # None as a value: the path leads out of the confinement.
        self._values: OrderedDict[str, tuple[Identity, T | None]] = OrderedDict()
        self._lock = threading.Lock()
        self._confinement = confinement

    def get(self, path: str, parse: Callable[[bytes], T]) -> T | None:
        """Return ``parse(bytes of path)``, from memory if the file did not change.

        Returns None if there is no file, or its path leads out of the confinement.
        Errors of ``parse`` and of reading propagate, and nothing is remembered for that
        file.
        """
        return self.get_with_mtime(path, lambda data, _: parse(data))

    def get_with_mtime(self, path: str, parse: Callable[[bytes, int], T]) -> T | None:
        """As ``get``, for a value that depends on the file's modification time too.

        ``parse`` gets the bytes and the ``st_mtime_ns`` they were read under; the time
        is part of the file's identity, so a remembered value never outlives it.
        """
        try:
            # Text paths and os calls: pathlib costs microseconds per call on this hot path.
            stat = os.stat(path)  # noqa: PTH116
        except (FileNotFoundError, NotADirectoryError):
            self.forget(path)
            return None
        identity = identity_of(stat)
        with self._lock:
            known = self._values.get(path)
            if known is not None and known[0] == identity:
                self._values.move_to_end(path)
                return known[1]
        if self._confinement is not None and not self._confinement.contains(path):
            self._remember(path, identity, None)
            return None
        try:
            # A file replaced between the stat and this read files newer bytes under the
            # older identity; the next call's stat differs and reads it again.
            with open(path, "rb") as stream:  # noqa: PTH123
                data = stream.read()
        except (FileNotFoundError, NotADirectoryError):
            self.forget(path)
            return None
        value = parse(data, stat.st_mtime_ns)
        self._remember(path, identity, value)
        return value

    def _remember(self, path: str, identity: Identity, value: T | None) -> None:
        with self._lock:
            self._values[path] = (identity, value)
            self._values.move_to_end(path)
            while len(self._values) > self._max_items:
                self._values.popitem(last=False)

    def peek(self, path: str) -> T | None:
        """Return what ``get`` would, if that needs no read of the file (one ``stat``).

        Returns None when the file changed since it was parsed, or was never parsed.

        Raises:
            FileNotFoundError, NotADirectoryError: there is no file (as ``os.stat``).
        """
        identity = identity_of(os.stat(path))  # noqa: PTH116
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
        self._remember(path, identity_of(status), value)

    def keep(self, path: str, identity: Identity, value: T) -> None:
        """Keep ``value`` as what ``path`` parses to, while the file has ``identity``.

        For values parsed elsewhere (a worker process) from bytes read after a ``stat``
        that gave ``identity``, as ``get`` reads them.
        """
        self._remember(path, identity, value)

    def forget(self, path: str) -> None:
        """Drop what is remembered of ``path``."""
        with self._lock:
            self._values.pop(path, None)
