"""What a process remembers of rows it read, kept exact by following the change log."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

__all__ = ["SELECTIONS", "ChangeFeed", "Mark"]

SELECTIONS = "selections"
"""The kind of the answers of collection queries: they follow every entry's changes."""


class Mark(NamedTuple):
    """Where the feed stood when a read of the change log began (``ChangeFeed.mark``)."""

    position: int | None
    epoch: int


class ChangeFeed:
    """Rows read from the database, remembered until the change log says they changed.

    The feed knows a change-log ``position``: every change up to it has been applied
    (the rows it names forgotten). ``advance`` applies the changes read past it. A row
    read while the position stood still is exact as of the position, so it is kept
    (``remember`` with the ``ticket`` taken before the read); one read while the feed
    moved may predate a change already applied, so it is dropped. ``recall`` answers
    as of the last ``advance``: a caller that needs what was committed before some
    moment advances the feed with a read of the log begun after that moment, first.

    A kind may follow others (``follows``): values derived from many rows, such as the
    answers of collection queries, are all forgotten whenever a row of a kind they
    follow changes.

    Memory is bounded: at most ``size`` rows per kind (``sizes`` for some kinds; the
    oldest go first), and only rows of at most ``max_bytes`` bytes are kept. Thread-safe.
    """

    def __init__(
        self,
        *,
        size: int = 10_000,
        max_bytes: int = 65_536,
        sizes: Mapping[str, int] | None = None,
        follows: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self._size = size
        self._sizes = dict(sizes or {})
        self._max_bytes = max_bytes
        self._followers: dict[str, list[str]] = {}
        for follower, kinds in (follows or {}).items():
            for kind in kinds:
                self._followers.setdefault(kind, []).append(follower)
        self._lock = threading.Lock()
        self._position: int | None = None
        self._epoch = 0  # how often everything was forgotten
        self._moves = 0  # how often rows were forgotten: a ticket is valid while it stays
        self._rows: dict[str, dict[str | bytes, Any]] = {}

    @property
    def position(self) -> int | None:
        """The change-log position applied last; None before the first ``advance``."""
        return self._position

    def mark(self) -> Mark:
        """Take before reading the change log past ``position``, for ``advance``."""
        with self._lock:
            return Mark(self._position, self._epoch)

    def ticket(self) -> int | None:
        """Take before reading a row to remember; None when nothing may be remembered yet."""
        with self._lock:
            return None if self._position is None else self._moves

    def remember(
        self, ticket: int | None, kind: str, key: str | bytes, row: Any, size: int
    ) -> None:
        """Keep ``row`` (of ``size`` bytes) if nothing was forgotten since ``ticket``."""
        if ticket is None or size > self._max_bytes:
            return
        with self._lock:
            if ticket != self._moves:
                return
            rows = self._rows.setdefault(kind, {})
            rows.pop(key, None)
            if len(rows) >= self._sizes.get(kind, self._size):
                del rows[next(iter(rows))]
            rows[key] = row

    def recall(self, kind: str, key: str | bytes) -> Any | None:
        """The row kept for ``key``, exact as of ``position``; None if none is kept."""
        rows = self._rows.get(kind)
        return None if rows is None else rows.get(key)

    def forget(self, changed: Iterable[tuple[str, str]]) -> None:
        """Drop the rows of ``changed`` (kind, key) pairs: this process just wrote them."""
        with self._lock:
            self._moves += 1
            self._drop(changed)

    def _drop(self, changed: Iterable[tuple[str, str]]) -> None:
        """Drop the rows named, and every row of the kinds that follow theirs."""
        for kind, key in changed:
            rows = self._rows.get(kind)
            if rows is not None:
                rows.pop(key, None)
            for follower in self._followers.get(kind, ()):
                self._rows.pop(follower, None)

    def advance(
        self,
        mark: Mark,
        top: int,
        changed: Iterable[tuple[str, str]] | None,
        renewed: Mapping[tuple[str, str], Any] | None = None,
    ) -> None:
        """Apply a read of the change log, begun at ``mark``, that found position ``top``.

        ``changed`` names every (kind, key) changed after ``mark.position`` up to
        ``top``; None when they are not known (the first read, too many changes).
        ``renewed`` holds rows read with it (as of ``top``): one remembered here is
        replaced rather than forgotten. Reads may overlap and end in any order: a result
        older than the position already applied still forgets what it names (and renews
        nothing), and never moves the position back. Every row is forgotten when the
        changes are not known, or when the log restarted below ``mark.position`` (the
        schema was recreated).
        """
        with self._lock:
            if changed is None or mark.position is None or top < mark.position:
                self._rows.clear()
                self._moves += 1
                self._epoch += 1
                self._position = top
                return
            named = list(changed)
            # After a forget-all begun later, this read's base is gone: keep that one's.
            newest = (
                mark.epoch == self._epoch and self._position is not None and top >= self._position
            )
            kept = [
                (kind, key, row)
                for (kind, key), row in (renewed or {}).items()
                if newest and key in self._rows.get(kind, {})
            ]
            if named:
                self._moves += 1
                self._drop(named)
            for kind, key, row in kept:
                self._rows.setdefault(kind, {})[key] = row
            if newest:
                self._position = top
