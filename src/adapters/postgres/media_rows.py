"""The rows of PostgreSQL's media store: folder checks, missing folders, subtrees, log rows."""

from __future__ import annotations

from flextype_adapters.local_media_reads import file_named
from flextype_adapters.postgres.database import Tx
from flextype_core import ids
from flextype_core.errors import Conflict

__all__ = [
    "FOLDERS",
    "KIND",
    "below",
    "folder_row",
    "ids_below",
    "log_moves",
    "make_folders",
    "taken",
]

KIND = "media"
"""The change-log kind of media files (and the name of the media lock)."""
FOLDERS = "media_folders"
"""The change-log kind of media folders."""


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


def ids_below(tx: Tx, folder_id: str) -> tuple[list[str], list[str]]:
    """The ids of the files below a folder, and of the folder and the folders below it."""
    low, high = below(folder_id)
    files = tx.execute(
        "SELECT id FROM media_files WHERE id >= %s AND id < %s ORDER BY id", [low, high]
    ).fetchall()
    folders = tx.execute(
        "SELECT id FROM media_folders WHERE id = %s OR (id >= %s AND id < %s) ORDER BY id",
        [folder_id, low, high],
    ).fetchall()
    return [str(row[0]) for row in files], [str(row[0]) for row in folders]


def log_moves(tx: Tx, files: list[str], folders: list[str], old: str, new: str) -> None:
    tx.log(KIND, "delete", files)
    tx.log(FOLDERS, "delete", folders)
    tx.log(FOLDERS, "create", [ids.rebase(f, old, new) for f in folders])
    tx.log(KIND, "create", [ids.rebase(f, old, new) for f in files])
