"""The change feed: what every write appends, the ChangeLog port, and cursors.

Every write of an entry or a media file appends its changes to the change log in the
same lock or transaction as the write (the stores do it; this module gives them the
shapes). Positions are integers that grow in commit order; clients see them only as
opaque cursors (``format_cursor``) that also name the log (its ``epoch``), so a cursor
of another project, or of a log recreated since, is refused rather than misread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, Protocol

import msgspec

from flextype_core.errors import BadRequest, ResyncRequired, shown
from flextype_core.etags import entity_tag
from flextype_core.media import public_file
from flextype_core.model import MediaFile

__all__ = [
    "ALL_TYPES",
    "OPS",
    "Change",
    "ChangeLog",
    "ChangeOp",
    "ChangeType",
    "LogPage",
    "LoggedChange",
    "NewChange",
    "entry_etag",
    "format_cursor",
    "matches",
    "media_etag",
    "parse_cursor",
    "public",
]

ChangeOp = Literal["create", "update", "move", "copy", "delete"]
ChangeType = Literal["entry", "media"]
OPS: Final = ("create", "update", "move", "copy", "delete")
ALL_TYPES: Final[frozenset[str]] = frozenset({"entry", "media"})


class NewChange(msgspec.Struct, frozen=True, kw_only=True):
    """One change a write appends: the log adds its position and time.

    A subtree move, copy or delete appends one per affected entry (or media file).
    ``from_id`` is the old id of a move and the source of a copy (None otherwise);
    ``etag`` is the ETag of what GET answers after the write (``entry_etag``;
    ``entity_tag(public_file(...))`` for media), None for a delete.
    """

    op: ChangeOp
    type: ChangeType
    id: str
    from_id: str | None = None
    etag: str | None = None


class LoggedChange(msgspec.Struct, frozen=True, kw_only=True):
    """A change as the log keeps it: ``NewChange`` with its position and commit time."""

    position: int
    op: ChangeOp
    type: ChangeType
    id: str
    from_id: str | None = None
    etag: str | None = None
    at: int
    """Unix seconds when it was appended."""


class Change(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A change as the API shows it (``from_id`` only for move and copy, no etag on delete)."""

    cursor: str
    op: ChangeOp
    type: ChangeType
    id: str
    from_id: str | None = None
    etag: str | None = None
    at: int


class LogPage(msgspec.Struct, frozen=True, kw_only=True):
    """What ``ChangeLog.read`` found: the changes, and how far the read looked.

    ``last`` is the position the next read starts after: the last change returned when
    the page is full (``more``), else the newest position committed when the read was
    made (changes skipped by the filters included, so a filtered reader moves on).
    """

    changes: list[LoggedChange]
    last: int
    more: bool


class ChangeLog(Protocol):
    """The ordered, durable log of every committed change of entries and media files.

    Guarantees, on every adapter: positions grow in commit order; a read never returns
    (nor moves ``last`` past) a change that is not yet committed and durable, so a
    reader that follows ``last`` sees every committed change exactly once, even when a
    slow writer took an earlier position; changes older than the retention are purged,
    and ``floor`` says up to which position changes may be gone.
    """

    def epoch(self) -> str:
        """Return the log's name: a short token of ``[a-z0-9]``, new when the log is created."""
        ...

    def head(self) -> int:
        """Return the newest committed position (0 when the log is empty)."""
        ...

    def floor(self) -> int:
        """Return the position up to which changes may have been purged (0: none purged).

        A reader positioned below it may have missed changes: it must resync.
        """
        ...

    def read(
        self,
        after: int,
        limit: int,
        *,
        id_prefix: str | None = None,
        types: frozenset[str] = ALL_TYPES,
    ) -> LogPage:
        """Return up to ``limit`` changes past position ``after``, oldest first.

        Only those whose ``type`` is in ``types`` and, with ``id_prefix``, whose ``id``
        or ``from_id`` is ``id_prefix`` or lies below it (``matches``).
        """
        ...

    def purge(self, before: int) -> int:
        """Remove the oldest changes appended before Unix time ``before``; return how many.

        The oldest run of positions only, up to the first change dated at or after
        ``before`` (a clock that stepped back leaves an older date behind it): ``floor``
        becomes the last position removed, below every change still kept.
        """
        ...


def matches(change: LoggedChange, id_prefix: str | None, types: frozenset[str]) -> bool:
    """Tell whether ``change`` passes a reader's filters (the rule of ``ChangeLog.read``)."""
    if change.type not in types:
        return False
    if not id_prefix:
        return True
    return _under(change.id, id_prefix) or (
        change.from_id is not None and _under(change.from_id, id_prefix)
    )


def _under(entry_id: str, prefix: str) -> bool:
    return entry_id == prefix or entry_id.startswith(prefix + "/")


def entry_etag(entry_id: str, fields: Mapping[str, Any]) -> str:
    """Return the ETag GET answers for the entry ``entry_id`` with these stored fields."""
    return entity_tag({**fields, "id": entry_id, "slug": entry_id})


def media_etag(file: MediaFile) -> str:
    """Return the ETag GET answers for the metadata of the media file ``file``."""
    return entity_tag(public_file(file))


_CURSOR_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def format_cursor(epoch: str, position: int) -> str:
    """Return the opaque cursor of ``position`` in the log named ``epoch``."""
    return f"{epoch}-{position}"


def parse_cursor(text: str, epoch: str, floor: int) -> int:
    """Return the position a client's cursor names, checked against the log.

    Raises:
        BadRequest: ``text`` is not a cursor at all.
        ResyncRequired: the cursor is of another log (or one recreated since), or older
            than what the log keeps (below ``floor``).
    """
    name, _, number = text.partition("-")
    if (
        not name
        or not set(name) <= _CURSOR_CHARS
        or not number.isascii()
        or not number.isdigit()
        or len(number) > 19
    ):
        raise BadRequest(f"'since' is not a change cursor: {shown(text)}.")
    if name != epoch:
        raise ResyncRequired(
            "This cursor is from another change log (the project was recreated, imported "
            "or migrated since): list the collection again, then follow the feed from 'now'."
        )
    position = int(number)
    if position < floor:
        raise ResyncRequired(
            "The changes after this cursor are no longer kept (changes.retention_days): "
            "list the collection again, then follow the feed from 'now'."
        )
    return position


def public(changes: Sequence[LoggedChange], epoch: str) -> list[Change]:
    """Return the changes as the API shows them."""
    return [
        Change(
            cursor=format_cursor(epoch, c.position),
            op=c.op,
            type=c.type,
            id=c.id,
            from_id=c.from_id if c.op in ("move", "copy") else None,
            etag=None if c.op == "delete" else c.etag,
            at=c.at,
        )
        for c in changes
    ]
