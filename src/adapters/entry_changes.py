"""The changes an entry write appends to the change log (api.md section 11), per kind of write.

A subtree's move, copy or delete gives one change per entry it moves, copies or
deletes, the subtree's root first, then the others in id order. An entry that cannot
be read moves without an etag (what GET would answer is an error).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flextype_core import ids
from flextype_core.changes import NewChange, entry_etag

__all__ = ["copied", "created", "deleted", "moved", "updated"]

Fields = dict[str, Any]


def created(entries: Mapping[str, Mapping[str, Any]]) -> list[NewChange]:
    return [
        NewChange(op="create", type="entry", id=entry_id, etag=entry_etag(entry_id, fields))
        for entry_id, fields in entries.items()
    ]


def updated(entry_id: str, fields: Mapping[str, Any]) -> list[NewChange]:
    return [NewChange(op="update", type="entry", id=entry_id, etag=entry_etag(entry_id, fields))]


def moved(
    entries: Sequence[tuple[str, Mapping[str, Any] | None]], entry_id: str, new_id: str
) -> list[NewChange]:
    """The moves of ``entries`` (old id, fields or None) from ``entry_id`` to ``new_id``."""
    changes = []
    for old_id, fields in entries:
        moved_id = ids.rebase(old_id, entry_id, new_id)
        etag = None if fields is None else entry_etag(moved_id, fields)
        changes.append(NewChange(op="move", type="entry", id=moved_id, from_id=old_id, etag=etag))
    return changes


def copied(copies: Mapping[str, Mapping[str, Any]], entry_id: str, new_id: str) -> list[NewChange]:
    """The copies ``copies`` (new id -> fields) made of the subtree ``entry_id`` at ``new_id``."""
    return [
        NewChange(
            op="copy",
            type="entry",
            id=copy_id,
            from_id=ids.rebase(copy_id, new_id, entry_id),
            etag=entry_etag(copy_id, fields),
        )
        for copy_id, fields in copies.items()
    ]


def deleted(entry_ids: Iterable[str]) -> list[NewChange]:
    return [NewChange(op="delete", type="entry", id=entry_id) for entry_id in entry_ids]


def subtree_order(entry_id: str, found: bool, below: Iterable[str]) -> list[str]:
    """The ids of a subtree as its changes list them: the root (if an entry), then by id."""
    rest = sorted(below)
    return [entry_id, *rest] if found and entry_id != ids.ROOT else rest
