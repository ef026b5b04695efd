"""MediaStore over the media directory: file ``a/b.png`` with its sidecar ``a/.b.png.meta.yaml``.

Crash safety rests on one rule: **a file exists only while both it and its sidecar do**.
Every listing and lookup checks both, so a half-done write is invisible. Each operation
is ordered so that a crash can leave only a sidecar without its file (ignored, and
overwritten by the next write of that name), never a visible file with the wrong
metadata or a lost one:

- add: write the sidecar atomically, then rename the upload into place (visible now).
  A replace first renames the old content away (the file vanishes), then does the same.
- move: write the target's sidecar, rename the content (visible at the target, gone at
  the source), then remove the source's sidecar.
- copy: write the target's sidecar, copy the content to a hidden temporary name, rename
  it into place.
- delete: remove the content (invisible now), then the sidecar.
- folders are renamed, copied under a hidden name then renamed, or renamed to a hidden
  trash name before removal, so each appears or vanishes at once.

Names starting with ``.`` (sidecars, temporary files, trash, ``.uploads``) are never
files or folders, and ids are validated before they get here, so no id reaches them.

A symbolic link leading out of the media directory is never followed
(``flextype_adapters.confine``): what lies behind it does not exist for reads, and a
write there is a ``Conflict``. Links that stay inside are followed; deleting a linked
folder removes the link only. The reads (listings, lookups, content, hashes) are in
``local_media_reads``; this module writes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flextype_adapters import media_changes
from flextype_adapters.atomic import (
    copy_atomic,
    fsync_dir,
    fsync_tree,
    hidden_twin,
    new_file_mode,
    remove_atomically,
    write_atomic,
)
from flextype_adapters.change_records import ChangeRecords, RefusedChanges
from flextype_adapters.debris import remove_debris
from flextype_adapters.file_lock import ProcessLock
from flextype_adapters.local_media_reads import (
    SIDECAR_SUFFIX,
    LocalMediaReader,
    Meta,
    file_named,
    folder_named,
    sidecar,
)
from flextype_adapters.local_uploads import UPLOADS, FileUpload
from flextype_adapters.yaml_codec import dump as _dump
from flextype_adapters.yaml_codec import load_mapping as _load_mapping
from flextype_adapters.yaml_codec import storage_errors as _storage_errors
from flextype_core.changes import NewChange, media_etag
from flextype_core.errors import Conflict, MediaFileNotFound, MediaFolderNotFound
from flextype_core.model import MediaFile
from flextype_core.ports import StagedUpload

__all__ = ["SIDECAR_SUFFIX", "LocalMediaStore"]

_STALE_UPLOAD_SECONDS = 3600.0


def _outside(what: str) -> Conflict:
    return Conflict(
        f"{what} cannot be written: a symbolic link on its path leads out of the media folder."
    )


class LocalMediaStore(LocalMediaReader):
    """MediaStore over ``<project>/media`` (see the module docstring for the layout).

    The reads are ``LocalMediaReader``'s. Writes are serialised by one ``ProcessLock``
    on ``media/.lock``: across threads, and across server workers.

    Args:
        root: the media directory; created on the first write.
        changes: the change log each write appends to (``media_changes``), under the
            writers' lock once the write is durable; None: none.
    """

    def __init__(self, root: Path, *, changes: ChangeRecords | None = None) -> None:
        super().__init__(root)
        self._lock = ProcessLock(root / ".lock")
        self._change_log = changes
        self._refused = RefusedChanges("media")

    def _inside(self, path: Path, what: str) -> Path:
        """Return ``path`` if writing there stays inside the root; else a ``Conflict``."""
        if not self._confinement.contains(path):
            raise _outside(what)
        return path

    # -- writing files ---------------------------------------------------------------

    def exclusive(self) -> contextlib.AbstractContextManager[object]:
        return self._lock.held()

    def remove_debris(self) -> int:
        """Remove what interrupted writes left (see ``flextype_adapters.debris``); return how many.

        Uploads are received without the lock: only those idle for an hour are removed.
        """
        with self._lock.held():
            removed = remove_debris(self._root)
        return removed + remove_debris(self._root / UPLOADS, min_age=_STALE_UPLOAD_SECONDS)

    def stage(self) -> FileUpload:
        """Begin an upload into a hidden temporary file of ``media/.uploads``.

        Received without the lock: many uploads arrive at once, each in its own file.
        """
        return FileUpload(self._root / UPLOADS)

    def add_file(
        self, file_id: str, upload: StagedUpload, meta: Mapping[str, Any], *, replace: bool
    ) -> MediaFile:
        if not isinstance(upload, FileUpload):
            raise TypeError("LocalMediaStore.add_file takes an upload of its own stage().")
        path = self._inside(self._root / file_id, file_named(file_id))
        upload.finish()  # before anything changes: a failing fsync leaves the old file
        with self._lock.held():
            with _storage_errors(file_named(file_id), "written"):
                replaced = os.path.lexists(path)
                if replaced:
                    if not replace or not path.is_file():
                        raise Conflict(f"{file_named(file_id)} already exists.")
                    remove_atomically(path)  # the file vanishes at once
                data = _dump(meta)
                stored = _load_mapping(data.decode("utf-8"))
                write_atomic(sidecar(path), data)
                self._place_upload(upload, path)
                fsync_dir(path.parent)
            added = MediaFile(id=file_id, meta=stored)
            self._log(lambda: media_changes.added(added, replaced=replaced))
        return added

    def _log(self, changes: Callable[[], list[NewChange]]) -> None:
        """Append a write's changes (made only when there is a log to append to).

        After those the log refused before (``RefusedChanges``), as they are now.
        """
        if self._change_log is not None:
            self._refused.append(self._change_log, changes(), self._etag_now)

    def _etag_now(self, file_id: str) -> str | None:
        try:
            return media_etag(self.file(file_id))
        except MediaFileNotFound:
            return None

    def _place_upload(self, upload: FileUpload, path: Path) -> None:
        # Received privately; in place, it is a file like any other the umask rules.
        upload.path.chmod(new_file_mode())
        try:
            upload.path.replace(path)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            copy_atomic(upload.path, path)
            upload.abort()  # its bytes are in place: the staged file goes
            return
        upload.taken()

    def update_meta(
        self, file_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> MediaFile:
        with self._lock.held():
            current = self._meta(file_id)
            if current is None:
                raise MediaFileNotFound(file_id)
            changed = change(current)
            path = self._inside(self._root / file_id, file_named(file_id))
            with _storage_errors(f"The metadata of {file_named(file_id)}", "written"):
                data = _dump(changed)
                # Return what a later file() will read (tuples come back as lists, ...).
                stored = _load_mapping(data.decode("utf-8"))
                write_atomic(sidecar(path), data)
            updated = MediaFile(id=file_id, meta=stored)
            self._log(lambda: media_changes.updated(updated))
            return updated

    def move_file(self, file_id: str, new_id: str) -> MediaFile:
        with self._lock.held():
            source, target, meta = self._transfer_start(file_id, new_id)
            with _storage_errors(file_named(file_id), "moved"):
                source.replace(target)
                fsync_dir(target.parent)
                fsync_dir(source.parent)
                sidecar(source).unlink(missing_ok=True)
            moved = MediaFile(id=new_id, meta=meta)
            self._log(lambda: media_changes.moved(file_id, moved))
            return moved

    def copy_file(self, file_id: str, new_id: str) -> MediaFile:
        with self._lock.held():
            source, target, meta = self._transfer_start(file_id, new_id)
            with _storage_errors(file_named(file_id), "copied"):
                copy_atomic(source, target)
                fsync_dir(target.parent)
            copied = MediaFile(id=new_id, meta=meta)
            self._log(lambda: media_changes.copied(file_id, copied))
            return copied

    def _transfer_start(self, file_id: str, new_id: str) -> tuple[Path, Path, Meta]:
        """Check a move or copy, write the target's sidecar; return paths and metadata."""
        meta = self._meta(file_id)
        if meta is None:
            raise MediaFileNotFound(file_id)
        source = self._inside(self._root / file_id, file_named(file_id))
        target = self._inside(self._root / new_id, file_named(new_id))
        with _storage_errors(file_named(new_id), "written"):
            if os.path.lexists(target):
                raise Conflict(f"{file_named(new_id)} already exists.")
            write_atomic(sidecar(target), _dump(meta))
        return source, target, meta

    def delete_file(self, file_id: str) -> None:
        with self._lock.held():
            path = self._inside(self._require(file_id), file_named(file_id))
            with _storage_errors(file_named(file_id), "deleted"):
                path.unlink()
                fsync_dir(path.parent)
                sidecar(path).unlink(missing_ok=True)
            self._log(lambda: media_changes.deleted([file_id]))

    # -- folders --------------------------------------------------------------------

    def create_folder(self, folder_id: str) -> None:
        folder = self._inside(self._root / folder_id, folder_named(folder_id))
        with self._lock.held(), _storage_errors(folder_named(folder_id), "created"):
            try:
                folder.mkdir(parents=True)
            except FileExistsError:
                raise Conflict(f"{folder_named(folder_id)} already exists.") from None
            fsync_dir(folder.parent)

    def move_folder(self, folder_id: str, new_id: str) -> None:
        with self._lock.held():
            source, target = self._folder_transfer_start(folder_id, new_id)
            files = self._files_below(folder_id)
            with _storage_errors(folder_named(folder_id), "moved"):
                target.parent.mkdir(parents=True, exist_ok=True)
                source.replace(target)
                fsync_dir(target.parent)
                fsync_dir(source.parent)
            self._log(lambda: media_changes.folder_moved(files, folder_id, new_id))

    def copy_folder(self, folder_id: str, new_id: str) -> None:
        with self._lock.held():
            source, target = self._folder_transfer_start(folder_id, new_id)
            files = self._files_below(folder_id)
            with _storage_errors(folder_named(folder_id), "copied"):
                target.parent.mkdir(parents=True, exist_ok=True)
                temporary = hidden_twin(target, "tmp")
                try:
                    shutil.copytree(source, temporary, symlinks=True)
                    fsync_tree(temporary)
                    temporary.replace(target)
                except BaseException:
                    shutil.rmtree(temporary, ignore_errors=True)
                    raise
                fsync_dir(target.parent)
            self._log(lambda: media_changes.folder_copied(files, folder_id, new_id))

    def _folder_transfer_start(self, folder_id: str, new_id: str) -> tuple[Path, Path]:
        source = self._root / folder_id
        if not self.folder_exists(folder_id):
            raise MediaFolderNotFound(folder_id)
        target = self._inside(self._root / new_id, folder_named(new_id))
        if os.path.lexists(target):
            raise Conflict(f"{folder_named(new_id)} already exists.")
        return source, target

    def delete_folder(self, folder_id: str) -> None:
        with self._lock.held():
            if not self.folder_exists(folder_id):
                raise MediaFolderNotFound(folder_id)
            folder = self._root / folder_id
            files = self._files_below(folder_id)
            with _storage_errors(folder_named(folder_id), "deleted"):
                remove_atomically(folder)  # a linked folder: the link goes, not its target
            self._log(lambda: media_changes.deleted(file_id for file_id, _ in files))

    def _files_below(self, folder_id: str) -> list[tuple[str, Meta | None]]:
        """(id, metadata; None if unreadable) of every file in the folder and below, by id.

        Read only for a change log (a folder's write gives one change per file).
        """
        if self._change_log is None:
            return []
        found: list[tuple[str, Meta | None]] = []
        folders = [folder_id]
        while folders:
            current = folders.pop()
            files, unreadable = self.listing(current)
            found += [(file.id, file.meta) for file in files]
            found += [(file_id, None) for file_id in unreadable]
            folders += self.folders(current)
        return sorted(found, key=lambda item: item[0])
