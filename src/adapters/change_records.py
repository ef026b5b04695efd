"""What the file stores need of a change log: to append, and what it last said of ids.

The stores append inside their writers' lock, once the write is durable
(``SqliteChangeLog`` is the file drivers' log; the reference fake appends too).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from flextype_core.changes import ChangeType, NewChange
from flextype_core.errors import FlextypeError, StorageError
from flextype_core.etags import entity_tag
from flextype_core.media import public_file
from flextype_core.model import MediaFile

__all__ = [
    "ChangeAppender",
    "ChangeNotLoggedError",
    "ChangeRecords",
    "append_changes",
    "media_etag",
]


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


def media_etag(file: MediaFile) -> str:
    """Return the ETag GET answers for the metadata of ``file``."""
    return entity_tag(public_file(file))
