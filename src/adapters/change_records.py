"""What the file stores need of a change log: to append, and what it last said of ids.

The stores append inside their writers' lock, once the write is durable
(``SqliteChangeLog`` is the file drivers' log; the reference fake appends too). What
the log refused, the YAML store's sweep logs later (``hand_edits``); the stores without
a sweep (TinyDB, media) keep it for their next append (``RefusedChanges``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Final, Protocol

from flextype_core.changes import ChangeOp, ChangeType, NewChange
from flextype_core.errors import FlextypeError, StorageError

__all__ = [
    "UNSAID",
    "ChangeAppender",
    "ChangeNotLoggedError",
    "ChangeRecords",
    "RefusedChanges",
    "append_changes",
    "op_since",
    "unlogged",
]

UNSAID: Final = "unsaid"
"""What ``op_since`` is told of an id the log never mentioned (no etag is unquoted)."""


class ChangeAppender(Protocol):
    """A change log that stores append to."""

    def append(self, changes: Sequence[NewChange]) -> None:
        """Append ``changes`` in order, durable when it returns (one commit for all)."""
        ...


class ChangeRecords(ChangeAppender, Protocol):
    """A change log that also says what it last logged of ids (to tell hand edits)."""

    def known(self, kind: ChangeType, ids: Collection[str]) -> dict[str, str | None]:
        """Return, of the ``ids`` the log mentions, the etag last logged (None: gone).

        An id logged without an etag (moved while unreadable) maps to ``""``.
        """
        ...

    def present(self, kind: ChangeType) -> set[str]:
        """Return the ids whose last logged change leaves them existing."""
        ...


class ChangeNotLoggedError(StorageError):
    """A write was made, but the change log could not record its changes."""

    def __init__(self, message: str, changes: Sequence[NewChange]) -> None:
        super().__init__(message)
        self.changes = list(changes)


def append_changes(log: ChangeAppender | None, changes: Sequence[NewChange]) -> None:
    """Append ``changes`` to ``log`` (nothing without a log, or without changes).

    Raises:
        ChangeNotLoggedError: the log failed; the write it follows stays made.
    """
    if log is None or not changes:
        return
    try:
        log.append(changes)
    except Exception as exc:
        reason = exc.message if isinstance(exc, FlextypeError) else type(exc).__name__
        raise ChangeNotLoggedError(
            f"The write was made, but the change log could not record it: {reason}", changes
        ) from exc


def op_since(etag: str | None, said: str | None, was: bool | None) -> ChangeOp | None:
    """The change from what the log said (None: gone; ``UNSAID``) to ``etag`` (None: gone).

    ``was``: whether the id existed when the log last could have said so (None: not
    known), for an id the log never mentioned.
    """
    if said == UNSAID:
        if was is None:
            return None
        if etag is None:
            return "delete" if was else None
        return "update" if was else "create"
    if etag == said:
        return None
    if etag is None:
        return "delete"
    return "create" if said is None else "update"


def unlogged(changes: Sequence[NewChange]) -> dict[str, bool | None]:
    """The ids of ``changes`` the log refused, each with whether it existed before."""
    candidates: dict[str, bool | None] = {}
    for change in changes:
        candidates[change.id] = change.op in ("update", "delete")
        if change.from_id is not None and change.op == "move":
            candidates[change.from_id] = True
    return candidates


class RefusedChanges:
    """What a store's writes changed that the log refused, logged by its next append.

    For the stores without a sweep (TinyDB, media): each id whose change the log
    refused waits here, in this process's memory, and the store's next append first
    logs it as it then is, compared with what the log last said of it (``known``);
    an id that append changes again is logged only as that write leaves it. A process
    that ends first loses them (decision 153). Thread-safe.

    Args:
        kind: the type of the ids (``entry``, ``media``).
    """

    def __init__(self, kind: ChangeType) -> None:
        self._kind = kind
        self._lock = threading.Lock()
        self._waiting: dict[str, bool | None] = {}

    def append(
        self,
        log: ChangeRecords,
        changes: Sequence[NewChange],
        etag_now: Callable[[str], str | None],
    ) -> None:
        """Append ``changes``, after the changes refused before as they are now.

        Call it holding the store's writers' lock, once the write is durable.
        ``etag_now`` gives an id's etag now (None: there is none), or raises a
        ``FlextypeError`` if it cannot be read now (the id waits on).

        Raises:
            ChangeNotLoggedError: the log refused ``changes``: they wait too.
        """
        with self._lock:
            refused, self._waiting = self._waiting, {}
        written = {c.id for c in changes} | {c.from_id for c in changes if c.from_id}
        waiting = {i: was for i, was in refused.items() if i not in written}
        earlier: list[NewChange] = []
        if waiting:
            earlier, unread = self._as_now(log, waiting, etag_now)
            self._keep(unread)
        try:
            append_changes(log, [*earlier, *changes])
        except ChangeNotLoggedError:
            self._keep(refused)  # first: their hints are the older ones
            self._keep(unlogged(changes))
            raise

    def _as_now(
        self,
        log: ChangeRecords,
        waiting: Mapping[str, bool | None],
        etag_now: Callable[[str], str | None],
    ) -> tuple[list[NewChange], dict[str, bool | None]]:
        """(the changes of ``waiting`` from what the log said, the ids not read now)."""
        try:
            said = log.known(self._kind, list(waiting))
        except FlextypeError:
            return [], dict(waiting)
        changes, unread = [], {}
        for change_id in sorted(waiting):
            try:
                etag = etag_now(change_id)
            except FlextypeError:
                unread[change_id] = waiting[change_id]
                continue
            op = op_since(etag, said.get(change_id, UNSAID), waiting[change_id])
            if op is not None:
                changes.append(NewChange(op=op, type=self._kind, id=change_id, etag=etag))
        return changes, unread

    def _keep(self, waiting: Mapping[str, bool | None]) -> None:
        with self._lock:
            for change_id, was in waiting.items():
                # The first hint stands: whether the id existed when the log last spoke.
                self._waiting.setdefault(change_id, was)
