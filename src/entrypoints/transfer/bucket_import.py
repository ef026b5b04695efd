"""An import into media kept in a bucket: no staging to swap in, so what it wrote is undone.

The import writes the archive's media straight into the live bucket (``media.driver:
s3``). It takes a bucket with no media files or folders, so that a failure can put it
back as it was by removing what the import wrote; a blob left behind is no record's
and the debris sweep removes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flextype_core import ids
from flextype_core.errors import Conflict, FlextypeError, MediaFileNotFound, MediaFolderNotFound
from flextype_core.ports import MediaStore, StagedUpload

__all__ = ["BucketMedia", "require_no_media"]


class BucketMedia:
    """The live bucket's media store, and what an import wrote there, to remove on failure.

    The bucket held no media when the import began, so every folder written is the
    import's; a folder is removed only once empty, in case a server wrote there meanwhile.
    """

    def __init__(self, store: MediaStore) -> None:
        self.store = store
        self._files: list[str] = []
        self._folders: set[str] = set()

    def folders_of(self, folder_id: str) -> None:
        """Note ``folder_id`` and its ancestors, about to be created."""
        while folder_id != ids.ROOT:
            self._folders.add(folder_id)
            folder_id = ids.parent_of(folder_id)

    def add_file(self, file_id: str, upload: StagedUpload, meta: Mapping[str, Any]) -> None:
        """Add the file (never over another), noting it and its folders first."""
        self.folders_of(ids.parent_of(file_id))
        try:
            self.store.add_file(file_id, upload, meta, replace=False)
        except Conflict:
            raise  # refused for sure: nothing was written (a server's file is in the way)
        except BaseException:
            self._files.append(file_id)  # its record may be stored, its answer lost
            raise
        self._files.append(file_id)

    def remove(self) -> list[str]:
        """Remove the files and folders written (best effort); return the ids left."""
        left = []
        for file_id in self._files:
            try:
                self.store.delete_file(file_id)
            except MediaFileNotFound:
                pass
            except FlextypeError:
                left.append(file_id)
        # Deepest first: a folder is empty once its subfolders are gone.
        for folder_id in sorted(self._folders, key=lambda f: (-f.count("/"), f)):
            try:
                if self.store.folders(folder_id) or any(self.store.listing(folder_id)):
                    continue  # a server wrote there meanwhile: what it wrote stays
                self.store.delete_folder(folder_id)
            except MediaFolderNotFound:
                pass
            except FlextypeError:
                left.append(folder_id)
        return left


def require_no_media(path: Path, store: MediaStore) -> None:
    """Refuse a bucket that holds media files or folders (even with ``--replace``).

    Raises:
        Conflict: saying the bucket's media must be empty.
    """
    files, unreadable = store.listing(ids.ROOT)
    if files or unreadable or store.folders(ids.ROOT):
        raise Conflict(
            f"The project {path} keeps its media in a bucket (media.driver: s3) that "
            "holds media files or folders: an import needs the bucket's media empty, "
            "even with --replace (it cannot replace media there). Delete them first."
        )
