"""MediaFolders: the folders under ``media/``, over a MediaStore (MediaService extends it)."""

from __future__ import annotations

from typing import Any

from flextype_core import ids
from flextype_core.errors import BadRequest, Conflict, MediaFolderNotFound, shown
from flextype_core.etags import check_if_match
from flextype_core.ports import MediaStore

__all__ = ["MEDIA_URL", "MediaFolders", "file_url"]

MEDIA_URL = "/media"
"""Where the web server serves ``<project>/media``: URLs are relative to the site."""


def file_url(media_id: str) -> str:
    """Return the site-relative URL of a media file or folder (never a path on disk)."""
    return f"{MEDIA_URL}/{media_id}" if media_id else MEDIA_URL


def _public_folder(folder_id: str) -> dict[str, Any]:
    return {"id": folder_id, "url": file_url(folder_id)}


class MediaFolders:
    """Fetch, list, create, move, copy and delete media folders.

    Args:
        store: where the folders live.
    """

    def __init__(self, store: MediaStore) -> None:
        self._store = store

    def folder(self, folder_id: object) -> dict[str, Any]:
        """Return a folder as ``{"id", "url"}``.

        Raises:
            InvalidId: ``folder_id`` is not a valid folder id.
            MediaFolderNotFound: there is no such folder (the root always exists).
        """
        folder = ids.parse_folder_id(folder_id)
        if not self._store.folder_exists(folder):
            raise MediaFolderNotFound(folder)
        return _public_folder(folder)

    def folders(self, folder_id: object) -> list[dict[str, Any]]:
        """Return the folders directly in a folder, in id order.

        Raises:
            As ``folder``.
        """
        folder = ids.parse_folder_id(folder_id)
        return [_public_folder(child) for child in self._store.folders(folder)]

    def create_folder(self, folder_id: object) -> dict[str, Any]:
        """Create a folder (and its missing parents); return it.

        Raises:
            InvalidId: ``folder_id`` is not a valid folder id.
            Conflict: it exists (the root always does).
        """
        folder = ids.parse_folder_id(folder_id)
        if folder == ids.ROOT:
            raise Conflict("The root folder already exists.")
        self._store.create_folder(folder)
        return _public_folder(folder)

    def move_folder(
        self, folder_id: object, new_id: object, *, if_match: str | None = None
    ) -> dict[str, Any]:
        """Move (rename) a folder and everything in it; return it at its new id.

        Raises:
            InvalidId: either id is not a valid folder id.
            BadRequest: either is the root, or ``new_id`` lies inside the folder.
            MediaFolderNotFound: there is no folder ``folder_id``.
            Conflict: ``new_id`` exists.
            PreconditionFailed: ``if_match`` does not name the folder as ``folder`` shows it.
        """
        source, target = self._folder_source_and_target(folder_id, new_id, "move")
        with self._store.exclusive():
            self._check_folder(source, if_match)
            self._store.move_folder(source, target)
        return _public_folder(target)

    def copy_folder(
        self, folder_id: object, new_id: object, *, if_match: str | None = None
    ) -> dict[str, Any]:
        """Copy a folder and everything in it; return the copy.

        Raises:
            As ``move_folder``.
        """
        source, target = self._folder_source_and_target(folder_id, new_id, "copy")
        with self._store.exclusive():
            self._check_folder(source, if_match)
            self._store.copy_folder(source, target)
        return _public_folder(target)

    def delete_folder(self, folder_id: object, *, if_match: str | None = None) -> None:
        """Delete a folder and everything in it.

        Raises:
            InvalidId: ``folder_id`` is not a valid folder id.
            BadRequest: it is the root.
            MediaFolderNotFound: there is no such folder.
            PreconditionFailed: as for ``move_folder``.
        """
        folder = ids.parse_folder_id(folder_id)
        if folder == ids.ROOT:
            raise BadRequest("The root folder cannot be deleted.")
        with self._store.exclusive():
            self._check_folder(folder, if_match)
            self._store.delete_folder(folder)

    def _check_folder(self, folder_id: str, if_match: str | None) -> None:
        if if_match is not None:
            if not self._store.folder_exists(folder_id):
                raise MediaFolderNotFound(folder_id)
            check_if_match(if_match, _public_folder(folder_id), f"Folder {shown(folder_id)}")

    def _folder_source_and_target(
        self, folder_id: object, new_id: object, verb: str
    ) -> tuple[str, str]:
        source = ids.parse_folder_id(folder_id)
        target = ids.parse_folder_id(new_id)
        if ids.ROOT in (source, target):
            raise BadRequest(f"The root folder cannot be the source or target of a {verb}.")
        if ids.is_within(target, source):
            raise BadRequest(f"Cannot {verb} folder {shown(source)} into itself ({shown(target)}).")
        return source, target
