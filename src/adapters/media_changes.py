"""The changes a media write appends to the change log (api.md section 11), per kind of write.

A folder's move, copy or delete gives one change per file it moves, copies or deletes,
in id order; a folder itself gives none. A file whose metadata cannot be read moves
or is copied without an etag (what GET would answer is an error).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from flextype_core import ids
from flextype_core.changes import ChangeOp, NewChange, media_etag
from flextype_core.model import MediaFile

__all__ = ["added", "copied", "deleted", "folder_copied", "folder_moved", "moved", "updated"]

Files = Sequence[tuple[str, Mapping[str, Any] | None]]
"""(id, metadata; None if unreadable) of the files of a folder, in id order."""


def added(file: MediaFile, *, replaced: bool) -> list[NewChange]:
    """An upload: a create, or an update of the file it replaced."""
    op: ChangeOp = "update" if replaced else "create"
    return [NewChange(op=op, type="media", id=file.id, etag=media_etag(file))]


def updated(file: MediaFile) -> list[NewChange]:
    return [NewChange(op="update", type="media", id=file.id, etag=media_etag(file))]


def moved(file_id: str, file: MediaFile) -> list[NewChange]:
    return [NewChange(op="move", type="media", id=file.id, from_id=file_id, etag=media_etag(file))]


def copied(file_id: str, file: MediaFile) -> list[NewChange]:
    return [NewChange(op="copy", type="media", id=file.id, from_id=file_id, etag=media_etag(file))]


def deleted(file_ids: Iterable[str]) -> list[NewChange]:
    return [NewChange(op="delete", type="media", id=file_id) for file_id in file_ids]


def folder_moved(files: Files, folder_id: str, new_id: str) -> list[NewChange]:
    return _transferred("move", files, folder_id, new_id)


def folder_copied(files: Files, folder_id: str, new_id: str) -> list[NewChange]:
    return _transferred("copy", files, folder_id, new_id)


def _transferred(
    op: Literal["move", "copy"], files: Files, folder_id: str, new_id: str
) -> list[NewChange]:
    changes = []
    for file_id, meta in files:
        target = ids.rebase(file_id, folder_id, new_id)
        etag = None if meta is None else media_etag(MediaFile(id=target, meta=dict(meta)))
        changes.append(NewChange(op=op, type="media", id=target, from_id=file_id, etag=etag))
    return changes
