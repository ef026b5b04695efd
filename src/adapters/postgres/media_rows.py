"""The rows of PostgreSQL's media store: folder checks, missing folders, subtrees, log rows."""

from __future__ import annotations

from typing import Any

import msgspec

from flextype_adapters.local_media_reads import file_named
from flextype_adapters.postgres.transaction import Tx
from flextype_core import changes, ids
from flextype_core.errors import Conflict, StorageError
from flextype_core.model import MediaFile

__all__ = [
    "FOLDERS",
    "KIND",
    "below",
    "decode_meta",
    "folder_row",
    "folders_below",
    "ids_below",
    "log_copies",
    "log_moves",
    "make_folders",
    "media_etag",
    "taken",
]

KIND = "media"
"""The change-log kind of media files (and the name of the media lock)."""
FOLDERS = "media_folders"
"""The change-log kind of media folders."""

_DECODER = msgspec.json.Decoder(dict[str, Any])


def decode_meta(file_id: str, meta: bytes) -> dict[str, Any]:
    """The metadata of a row (``StorageError`` if it cannot be read)."""
    try:
        return _DECODER.decode(meta)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageError(
            f"The metadata of {file_named(file_id)} cannot be read: damaged row ({exc})."
        ) from exc


def media_etag(file_id: str, meta: bytes) -> str | None:
    """The ETag GET answers for a file with this row's metadata; None if it cannot be read."""
    try:
        return changes.media_etag(MediaFile(id=file_id, meta=decode_meta(file_id, meta)))
    except StorageError:
        return None


def below(folder_id: str) -> tuple[str, str]:
    """The id range strictly below a folder: ['a/', 'a0') ('0' follows '/')."""
    return folder_id + "/", folder_id + "0"


def folder_row(tx: Tx, folder_id: str) -> bool:
    query = "SELECT 1 FROM media_folders WHERE id = %s"
    return tx.execute(query, [folder_id]).fetchone() is not None


def taken(tx: Tx, media_id: str) -> bool:
    """Tell whether a file or a folder holds ``media_id``."""
    row = tx.execute(
        "SELECT EXISTS (SELECT 1 FROM media_files WHERE id = %s)"
        " OR EXISTS (SELECT 1 FROM media_folders WHERE id = %s)",
        [media_id, media_id],
    ).fetchone()
    return bool(row and row[0])


def make_folders(tx: Tx, folder_id: str, for_id: str) -> None:
    """Create ``folder_id`` and its missing ancestors; a file in the way is a Conflict."""
    missing = []
    while folder_id != ids.ROOT and not folder_row(tx, folder_id):
        missing.append(folder_id)
        folder_id = ids.parent_of(folder_id)
    for folder in missing:
        query = "SELECT 1 FROM media_files WHERE id = %s"
        if tx.execute(query, [folder]).fetchone() is not None:
            raise Conflict(
                f"{file_named(for_id)} cannot be written: {file_named(folder)} is in the way."
            )
    for folder in reversed(missing):
        tx.execute(
            "INSERT INTO media_folders (id, parent) VALUES (%s, %s)",
            [folder, ids.parent_of(folder)],
        )
    tx.log(FOLDERS, "create", reversed(missing))


def folders_below(tx: Tx, folder_id: str) -> list[str]:
    """The ids of the folder and of the folders below it, in order."""
    low, high = below(folder_id)
    folders = tx.execute(
        "SELECT id FROM media_folders WHERE id = %s OR (id >= %s AND id < %s) ORDER BY id",
        [folder_id, low, high],
    ).fetchall()
    return [str(row[0]) for row in folders]


def ids_below(tx: Tx, folder_id: str) -> tuple[list[str], list[str]]:
    """The ids of the files below a folder, and of the folder and the folders below it."""
    low, high = below(folder_id)
    files = tx.execute(
        "SELECT id FROM media_files WHERE id >= %s AND id < %s ORDER BY id", [low, high]
    ).fetchall()
    return [str(row[0]) for row in files], folders_below(tx, folder_id)


def log_moves(
    tx: Tx, files: list[tuple[str, bytes]], folders: list[str], old: str, new: str
) -> None:
    """Log a folder's move: one row per folder, then per file ((new id, meta), in order)."""
    tx.log(FOLDERS, "move", [ids.rebase(f, old, new) for f in folders], from_ids=folders)
    tx.log(
        KIND,
        "move",
        [file_id for file_id, _ in files],
        from_ids=[ids.rebase(file_id, new, old) for file_id, _ in files],
        etags=[media_etag(file_id, meta) for file_id, meta in files],
    )


def log_copies(
    tx: Tx, files: list[tuple[str, str, bytes]], folders: list[str], old: str, new: str
) -> None:
    """Log a folder's copy: one row per folder, then per file ((new id, source, meta))."""
    tx.log(FOLDERS, "copy", [ids.rebase(f, old, new) for f in folders], from_ids=folders)
    tx.log(
        KIND,
        "copy",
        [file_id for file_id, _, _ in files],
        from_ids=[source for _, source, _ in files],
        etags=[media_etag(file_id, meta) for file_id, _, meta in files],
    )
