"""Cursor walks over a changing collection: no entry twice, each unchanged entry once.

A keyset cursor alone sees every unchanged entry once, but an entry shown on an early
page and then updated so that its sort values move past the cursor would come again.
So a walk's first page notes where the change log stands (``start``, read before the
store's select, as ``X-Changes-Cursor`` is read before a listing), every cursor of the
walk carries it, and each later page leaves out every entry changed since then
(``page``): such an entry may be missed (it changed during the walk) but never comes
twice, and an unchanged entry is never left out. Changes are read after the select too,
once the writers' lock was free for a moment, so an entry the select saw changed is
always named (a log that orders positions by commit, as every ``ChangeLog`` does, gives
every change committed before the read). Hand edits count once the store has found them
and appended them (the YAML store's sweep).

A walk the log can no longer vouch for (too many changes since it began, a log
recreated, or changes purged) is ``ResyncRequired``: the client starts again.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from flextype_core.changes import ChangeLog
from flextype_core.errors import ResyncRequired, StorageError
from flextype_core.model import Selection
from flextype_core.ports import EntryStore
from flextype_core.query.cursor import Walk
from flextype_core.query.keyset import by_relevance
from flextype_core.query.model import Query

__all__ = [
    "MAX_CHANGED",
    "MAX_CHANGES_READ",
    "Walked",
    "changed_since",
    "leave_out",
    "page",
    "select",
    "start",
]

MAX_CHANGED: Final = 1_000
"""The most entries (ids) below the collection that may change during a walk."""
MAX_CHANGES_READ: Final = 10_000
"""The most changes a page reads (one entry updated again and again counts each time)."""
_BATCH: Final = 1_000
_ENTRIES: Final = frozenset({"entry"})
_AGAIN = " Start the walk again: the same query without options[filter][after]."
_TOO_MANY = (
    f"More than {MAX_CHANGED:,} entries of this collection (or {MAX_CHANGES_READ:,} changes)"
    " changed since this walk began: its cursor can no longer promise no entry twice."
)
_OTHER_LOG = "This cursor is from another change log (the project was recreated or imported)."
_RANKING = (
    "Entries were written since this walk began, and the search index ranks each entry"
    " against all the others (BM25), so the order of the rest changed."
)
_PURGED = "The changes since this walk began are no longer kept (changes.retention_days)."


def start(log: ChangeLog) -> Walk | None:
    """Where a walk begins: read before its first page's select (see the module).

    None when the log cannot be read: a listing never fails for the log's sake (decision
    195); its cursor then walks on the keyset alone, as without a log.
    """
    try:
        return Walk(epoch=log.epoch(), position=log.head())
    except StorageError:
        return None


def changed_since(
    log: ChangeLog, walk: Walk, parent: str, after: int | None = None
) -> tuple[set[str], int]:
    """The ids changed below ``parent`` since ``walk`` began (past ``after``), and how far read.

    Both ids of a move or copy count (``id`` and ``from_id``). ``after`` resumes a read
    (the position a previous call returned); the bound counts from there.

    Raises:
        ResyncRequired: the log is another one, changes since the walk began were purged,
            or more than ``MAX_CHANGED`` ids (``MAX_CHANGES_READ`` changes) were read.
    """
    if log.epoch() != walk.epoch:
        raise ResyncRequired(_OTHER_LOG + _AGAIN)
    position = walk.position if after is None else after
    changed: set[str] = set()
    read = 0
    while True:
        found = log.read(position, _BATCH, id_prefix=parent or None, types=_ENTRIES)
        for change in found.changes:
            changed.add(change.id)
            if change.from_id is not None:
                changed.add(change.from_id)
        read += len(found.changes)
        if len(changed) > MAX_CHANGED or read > MAX_CHANGES_READ:
            raise ResyncRequired(_TOO_MANY + _AGAIN)
        position = found.last
        if not found.more:
            break
    # After the read: a purge that overtook it would have taken changes it needed.
    if walk.position < log.floor():
        raise ResyncRequired(_PURGED + _AGAIN)
    return changed, position


class Walked(msgspec.Struct, frozen=True, kw_only=True):
    """A page of a walk: the selection without the changed entries, and where it stopped."""

    selection: Selection
    """The page; ``total`` the store's."""
    last: dict[str, Any] | None
    """The last item walked over, shown or left out: the next cursor's keyset."""
    last_score: float | None = None
    """Its relevance, with a search."""
    walk: Walk | None = None
    """Where the walk began, for the next cursor; None without a change log."""


def select(
    store: EntryStore, log: ChangeLog | None, parent: str, query: Query, began: Walk | None
) -> Walked:
    """The store's page for ``query`` in the walk ``began`` (None: none, or a first page).

    With ``log``: a first page that may have a next one (``limit``, ``return=all``)
    begins a walk, read before the select; a later page of a walk is ``page``. Without
    ``log`` (or for a cursor made without one) the keyset alone decides.

    Raises:
        ResyncRequired: as ``changed_since``.
    """
    if log is not None and began is not None and query.keyset is not None:
        return msgspec.structs.replace(page(store, log, parent, query, began), walk=began)
    if log is not None and query.keyset is None and query.limit is not None:
        began = start(log) if query.return_ == "all" else None
    selection = store.select(parent, query)
    last = selection.items[-1] if selection.items else None
    score = None if selection.scores is None or last is None else selection.scores[-1]
    return Walked(selection=selection, last=last, last_score=score, walk=began)


def leave_out(
    selection: Selection, changed: set[str], limit: int | None, asked: int | None
) -> Walked:
    """``selection`` (read with ``limit`` ``asked``) without ``changed``, cut at ``limit``.

    ``more`` is true when an item not left out follows the page, among the items read
    or beyond them (the store's ``more``; without one, a full read).
    """
    items, scores = selection.items, selection.scores
    kept: list[dict[str, Any]] = []
    kept_scores: list[float] = []
    stop = len(items)
    for n, item in enumerate(items):
        if limit is not None and len(kept) == limit:
            stop = n
            break
        if item["id"] in changed:
            continue
        kept.append(item)
        if scores is not None:
            kept_scores.append(scores[n])
    beyond = selection.more
    if beyond is None:
        beyond = asked is not None and len(items) >= asked
    more = beyond or any(item["id"] not in changed for item in items[stop:])
    last = items[stop - 1] if stop else None
    return Walked(
        selection=msgspec.structs.replace(
            selection,
            items=kept,
            scores=None if scores is None else tuple(kept_scores),
            more=more,
        ),
        last=last,
        last_score=None if scores is None or not stop else scores[stop - 1],
    )


def page(store: EntryStore, log: ChangeLog, parent: str, query: Query, walk: Walk) -> Walked:
    """A later page of ``walk``: ``query`` (after its keyset) without the entries changed since.

    The store is asked for ``limit`` plus the number of changed ids, so the page stays
    full; the changes committed while it selected are read after it and left out too.

    Raises:
        ResyncRequired: as ``changed_since``.
    """
    changed, position = changed_since(log, walk, parent)
    asked = None if query.limit is None else query.limit + len(changed)
    selection = store.select(parent, msgspec.structs.replace(query, limit=asked))
    # A write may show (a file renamed into place) before its change is appended, under
    # the writers' lock: waiting for that lock once lets every write the select may
    # have seen finish appending, so the read below names it.
    with store.exclusive():
        pass
    later, _ = changed_since(log, walk, parent, after=position)
    if len(changed | later) > MAX_CHANGED:
        raise ResyncRequired(_TOO_MANY + _AGAIN)
    # With scores that weigh every entry, any write moved them all: the keyset no longer
    # marks a place in the order.
    shifting = selection.scores_shift and by_relevance(query)
    if shifting and log.read(walk.position, 1, types=_ENTRIES).changes:
        raise ResyncRequired(_RANKING + _AGAIN)
    return leave_out(selection, changed | later, query.limit, asked)
