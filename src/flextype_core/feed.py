"""The change feed's reads: a client's parameters checked, pages of changes, the head cursor.

``ChangesService`` sits over the ``ChangeLog`` port. Every entrypoint (the HTTP API, its
long poll and event stream, the ``flextype changes`` command) reads the feed through it,
so a parameter means the same thing everywhere and is refused with the same message.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

from flextype_core import ids
from flextype_core.changes import (
    ALL_TYPES,
    Change,
    ChangeLog,
    format_cursor,
    parse_cursor,
    public,
)
from flextype_core.errors import BadRequest, InvalidId, ResyncRequired, shown
from flextype_core.ports import Clock

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_WAIT",
    "NOW",
    "ChangesService",
    "FeedPage",
    "FeedQuery",
    "parse_wait",
]

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
MAX_WAIT: Final = 60.0
"""The longest a long poll may be held, in seconds."""
NOW: Final = "now"
"""The ``since`` of a client that wants only the changes from this moment on."""
_DAY = 86_400
_DECIMAL = re.compile(r"[0-9]{1,6}(\.[0-9]{1,6})?")
_GONE = (
    "The changes after this cursor are no longer kept (changes.retention_days): list the "
    "collection again, then follow the feed from 'now'."
)


class FeedQuery(msgspec.Struct, frozen=True, kw_only=True):
    """What a reader asked for, checked against the log."""

    after: int | None
    """The position to read after; None: from the oldest change kept."""
    limit: int = DEFAULT_LIMIT
    id_prefix: str | None = None
    """Only changes of this id or below it (a move out of it included)."""
    types: frozenset[str] = ALL_TYPES


class FeedPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of the feed, and where the next one starts."""

    changes: list[Change]
    next: str
    """The cursor to read after: the last change listed, or as far as the read looked."""
    more: bool
    """The page is full: more changes may follow at once."""
    last: int
    """The position ``next`` names (a long poll waits for the log's head to pass it)."""


class ChangesService:
    """Read the change feed: check parameters, answer pages, name the head, purge.

    Args:
        log: the project's change log.
        clock: the current time (the purge's reference).
        retention_days: changes older than this are purged (``changes.retention_days``).
    """

    def __init__(self, log: ChangeLog, clock: Clock, *, retention_days: float = 30) -> None:
        self._log = log
        self._clock = clock
        self.retention_days = retention_days

    def query(
        self,
        *,
        since: object = None,
        limit: object = None,
        id_prefix: object = None,
        types: object = None,
    ) -> FeedQuery:
        """Check a reader's parameters (as received: text, or JSON values) against the log.

        Args:
            since: absent or empty: from the oldest change kept; ``now``: from the log's
                head; else a cursor (``meta.next``, ``X-Changes-Cursor``, an event id).
            limit: 1 to ``MAX_LIMIT`` changes a page (default ``DEFAULT_LIMIT``).
            id_prefix: an entry or media file id: only changes at or below it.
            types: ``entry`` and/or ``media``, comma-separated or a list (default both).

        Raises:
            BadRequest: a parameter is malformed or out of range (``since`` that is no
                cursor, ``limit`` 0, an unknown type, an invalid id).
            ResyncRequired: ``since`` is a cursor of another log, older than the log
                keeps, or beyond its head (never issued by it).
        """
        return FeedQuery(
            after=self._start(since),
            limit=_limit(limit),
            id_prefix=_prefix(id_prefix),
            types=_types(types),
        )

    def read(self, query: FeedQuery) -> FeedPage:
        """Return the page of changes after ``query.after``, oldest first.

        Raises:
            ResyncRequired: changes past ``query.after`` were purged before they were
                read (the reader fell behind the retention).
        """
        log = self._log
        after = log.floor() if query.after is None else query.after
        found = log.read(after, query.limit, id_prefix=query.id_prefix, types=query.types)
        # Checked after the read: a purge that passed the reader meanwhile may have taken
        # changes it would otherwise have missed without a word.
        if query.after is not None and log.floor() > query.after:
            raise ResyncRequired(_GONE)
        epoch = log.epoch()
        return FeedPage(
            changes=public(found.changes, epoch),
            next=format_cursor(epoch, found.last),
            more=found.more,
            last=found.last,
        )

    def page(
        self,
        *,
        since: object = None,
        limit: object = None,
        id_prefix: object = None,
        types: object = None,
    ) -> FeedPage:
        """``read(query(...))``: one page for these parameters."""
        return self.read(self.query(since=since, limit=limit, id_prefix=id_prefix, types=types))

    def head(self) -> int:
        """Return the log's newest committed position (what a long poll waits to pass)."""
        return self._log.head()

    def head_cursor(self) -> str:
        """Return the cursor of the log's newest change: follow it to miss nothing after now."""
        log = self._log
        return format_cursor(log.epoch(), log.head())

    def check(self) -> None:
        """Read the log once, as a health check does: its epoch and its floor.

        Unlike ``head`` this is no feed read (it prompts no look for hand edits).

        Raises:
            StorageError: the log cannot be read (or another failure of the port's).
        """
        log = self._log
        log.epoch()
        log.floor()

    def purge(self) -> int:
        """Remove the changes older than the retention; return how many went."""
        before = self._clock.now() - round(self.retention_days * _DAY)
        return self._log.purge(before)

    def _start(self, since: object) -> int | None:
        if since is None or since == "":
            return None
        if since == NOW:
            return self._log.head()
        if not isinstance(since, str):
            raise BadRequest("'since' must be a change cursor, or 'now'.")
        log = self._log
        position = parse_cursor(since, log.epoch(), log.floor())
        if position > log.head():
            raise ResyncRequired(
                f"The cursor {shown(since)} is ahead of the change log: it was not issued "
                "by this one. List the collection again, then follow the feed from 'now'."
            )
        return position


def parse_wait(value: object) -> float:
    """Return the seconds a long poll may wait: 0 (the default) to ``MAX_WAIT``.

    Decimals are accepted (``0.5``); exponents, signs and ``inf`` are not.

    Raises:
        BadRequest: anything else.
    """
    if value is None or value == "":
        return 0.0
    number = _seconds(value)
    if number is None or not 0 <= number <= MAX_WAIT:
        given = shown(value) if isinstance(value, str) else type(value).__name__
        raise BadRequest(f"'wait' must be a number of seconds from 0 to {MAX_WAIT:g}: {given}.")
    return number


def _seconds(value: object) -> float | None:
    if isinstance(value, str):
        return float(value) if _DECIMAL.fullmatch(value) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _limit(value: object) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    number: int | None = None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 8:
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    if number is None or not 1 <= number <= MAX_LIMIT:
        given = shown(value) if isinstance(value, str) else type(value).__name__
        raise BadRequest(f"'limit' must be a whole number from 1 to {MAX_LIMIT}: {given}.")
    return number


def _prefix(value: object) -> str | None:
    """An entry id, or a media file or folder id (the root: no filter)."""
    if value is None or value in ("", "/"):
        return None
    try:
        return ids.parse_entry_id(value)
    except InvalidId as first:
        try:
            return ids.parse_file_id(value)
        except InvalidId:
            raise BadRequest(f"'id': {first.message}") from first


def _types(value: object) -> frozenset[str]:
    if value is None or value == "":
        return ALL_TYPES
    given: list[object] = value if isinstance(value, list) else [value]
    parts = [part for part in given if isinstance(part, str)]
    if len(parts) != len(given):
        raise BadRequest("'types' must be 'entry', 'media' or 'entry,media'.")
    names = [name.strip() for part in parts for name in part.split(",") if name.strip()]
    unknown = [name for name in names if name not in ALL_TYPES]
    if unknown or not names:
        named = f": {shown(unknown[0])} is none" if unknown else ""
        raise BadRequest(f"'types' must be 'entry', 'media' or 'entry,media'{named}.")
    return frozenset(names)
