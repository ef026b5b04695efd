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
folder removes the link only.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from stat import S_ISREG
from typing import Any, BinaryIO

import msgspec

from flextype_adapters.atomic import (
    fsync_dir,
    fsync_file,
    fsync_tree,
    hidden_twin,
    new_file_mode,
    remove_atomically,
    write_atomic,
)
from flextype_adapters.confine import Confinement, Identity, identity_of
from flextype_adapters.debris import remove_debris
from flextype_adapters.file_cache import ParsedFileCache
from flextype_adapters.file_lock import ProcessLock
from flextype_adapters.log_limit import warn_limited
from flextype_adapters.yaml_codec import dump as _dump
from flextype_adapters.yaml_codec import load_mapping as _load_mapping
from flextype_adapters.yaml_codec import storage_errors as _storage_errors
from flextype_core import ids
from flextype_core.errors import (
    Conflict,
    InvalidId,
    MediaFileNotFound,
    MediaFolderNotFound,
    StorageError,
    shown,
)
from flextype_core.model import MediaFile
from flextype_core.ports import Upload

__all__ = ["SIDECAR_SUFFIX", "LocalMediaStore", "TempUpload"]

Meta = dict[str, Any]

SIDECAR_SUFFIX = ".meta.yaml"
"""File ``b.png``'s metadata is ``.b.png.meta.yaml`` beside it."""
_META_DECODER = msgspec.json.Decoder(dict[str, Any])
_HASHES_KEPT = 10_000
_STALE_UPLOAD_SECONDS = 3600.0


class TempUpload:
    """An upload received into a temporary file (the Upload port).

    Args:
        path: the temporary file; ``LocalMediaStore.add_file`` moves it into place, so
            it should lie on the media directory's file system (``media/.uploads``).
        size: its length in bytes.
    """

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    def head(self, length: int) -> bytes:
        with self.path.open("rb") as stream:
            return stream.read(length)


def _sidecar(path: Path) -> Path:
    return path.with_name(f".{path.name}{SIDECAR_SUFFIX}")


def _parse_meta(data: bytes) -> bytes:
    """Parse a sidecar; keep it as JSON, which decodes far faster than YAML parses."""
    return msgspec.json.encode(_load_mapping(data.decode("utf-8-sig")))


def _file(file_id: str) -> str:
    return f"File {shown(file_id)}"


def _folder(folder_id: str) -> str:
    return f"Folder {shown(folder_id)}"


def _valid(parse: Callable[[object], str], candidate: str) -> bool:
    try:
        parse(candidate)
    except InvalidId:
        return False
    return True


def _outside(what: str) -> Conflict:
    return Conflict(
        f"{what} cannot be written: a symbolic link on its path leads out of the media folder."
    )


class LocalMediaStore:
    """MediaStore over ``<project>/media`` (see the module docstring for the layout).

    Every call reads the disk, so files added by hand with a sidecar are seen at once;
    sidecars are parsed once per version of the file. Writes are serialised by one
    ``ProcessLock`` on ``media/.lock``: across threads, and across server workers.

    Args:
        root: the media directory; created on the first write.
    """

    def __init__(self, root: Path) -> None:
        self._root = root
        self._lock = ProcessLock(root / ".lock")
        self._confinement = Confinement(root)
        self._parsed: ParsedFileCache[bytes] = ParsedFileCache(confinement=self._confinement)
        self._hashes: OrderedDict[str, tuple[Identity, str]] = OrderedDict()
        self._hash_lock = threading.Lock()

    # -- reading --------------------------------------------------------------------

    def file(self, file_id: str) -> MediaFile:
        meta = self._meta(file_id)
        if meta is None:
            raise MediaFileNotFound(file_id)
        return MediaFile(id=file_id, meta=meta)

    def files(self, folder_id: str) -> list[MediaFile]:
        found = []
        for file_id in self._file_ids(folder_id):
            try:
                meta = self._meta(file_id)
            except StorageError as exc:
                warn_limited(
                    f"media:{self._root}:{file_id}",
                    "%s It is left out of listings.",
                    exc.message,
                )
                continue
            if meta is not None:  # None: no sidecar, or gone since the listing
                found.append(MediaFile(id=file_id, meta=meta))
        return found

    def unreadable_files(self, folder_id: str) -> list[str]:
        found = []
        for file_id in self._file_ids(folder_id):
            try:
                self._meta(file_id)
            except StorageError:
                found.append(file_id)
        return found

    def _file_ids(self, folder_id: str) -> list[str]:
        names = self._names(folder_id, files=True)
        file_ids = (f"{folder_id}/{name}" if folder_id else name for name in names)
        return [file_id for file_id in file_ids if _valid(ids.parse_file_id, file_id)]

    def folders(self, folder_id: str) -> list[str]:
        children = (
            f"{folder_id}/{name}" if folder_id else name
            for name in self._names(folder_id, files=False)
        )
        return [child for child in children if _valid(ids.parse_folder_id, child)]

    def folder_exists(self, folder_id: str) -> bool:
        if folder_id == ids.ROOT:
            return True
        folder = self._root / folder_id
        return folder.is_dir() and self._confinement.contains(folder)

    def read(self, file_id: str) -> bytes:
        path = self._require(file_id)
        with _storage_errors(_file(file_id), "read"):
            try:
                return path.read_bytes()
            except (FileNotFoundError, NotADirectoryError):
                raise MediaFileNotFound(file_id) from None

    def open(self, file_id: str) -> BinaryIO:
        path = self._require(file_id)
        with _storage_errors(_file(file_id), "read"):
            try:
                return path.open("rb")
            except (FileNotFoundError, NotADirectoryError):
                raise MediaFileNotFound(file_id) from None

    def content_hash(self, file_id: str) -> str:
        path = self._root / file_id
        key = str(path)
        with _storage_errors(_file(file_id), "read"):
            # A hit costs one stat: the sidecar was checked when the hash was made.
            try:
                stat = os.stat(key)  # noqa: PTH116 - the hot path of cached images
            except (FileNotFoundError, NotADirectoryError):
                raise MediaFileNotFound(file_id) from None
            identity = identity_of(stat)
            with self._hash_lock:
                known = self._hashes.get(key)
                if known is not None and known[0] == identity:
                    self._hashes.move_to_end(key)
                    return known[1]
            self._require(file_id)
            try:
                with path.open("rb") as stream:
                    digest = hashlib.file_digest(stream, "sha256").hexdigest()
            except (FileNotFoundError, NotADirectoryError):
                raise MediaFileNotFound(file_id) from None
        with self._hash_lock:
            # Filed under the identity seen before reading: if the file changed in
            # between, the next call's stat differs and hashes it again.
            self._hashes[key] = (identity, digest)
            while len(self._hashes) > _HASHES_KEPT:
                self._hashes.popitem(last=False)
        return digest

    def _meta(self, file_id: str) -> Meta | None:
        """Return the file's metadata, or None unless both the file and its sidecar exist."""
        path = self._root / file_id
        if not self._is_file(str(path)):
            return None
        with _storage_errors(f"The metadata of {_file(file_id)}", "read"):
            encoded = self._parsed.get(str(_sidecar(path)), _parse_meta)
        if encoded is None:
            return None
        # Decoded per call: every caller gets its own copy of nested values.
        meta: Meta = _META_DECODER.decode(encoded)
        return meta

    def _require(self, file_id: str) -> Path:
        path = self._root / file_id
        if not (self._is_file(str(path)) and self._is_file(str(_sidecar(path)))):
            raise MediaFileNotFound(file_id)
        return path

    def _is_file(self, path: str) -> bool:
        """Tell whether ``path`` leads to a regular file without leaving the root."""
        try:
            stat = os.stat(path)  # noqa: PTH116 - text paths: a hot path of every read
        except (FileNotFoundError, NotADirectoryError):
            return False
        return S_ISREG(stat.st_mode) and self._confinement.admits(path, identity_of(stat))

    def _names(self, folder_id: str, *, files: bool) -> list[str]:
        folder = self._root / folder_id
        if folder_id != ids.ROOT and not self._confinement.contains(folder):
            raise MediaFolderNotFound(folder_id)
        with _storage_errors(_folder(folder_id), "listed"):
            try:
                with os.scandir(folder) as listing:
                    names = [
                        entry.name
                        for entry in listing
                        if not entry.name.startswith(".")
                        and (entry.is_file() if files else self._is_folder(entry))
                    ]
            except (FileNotFoundError, NotADirectoryError):
                if folder_id == ids.ROOT:
                    return []
                raise MediaFolderNotFound(folder_id) from None
        return sorted(names)

    def _is_folder(self, entry: os.DirEntry[str]) -> bool:
        # A linked folder (d_type tells, without a system call) only if it stays inside;
        # linked files are checked when read.
        return entry.is_dir() and (not entry.is_symlink() or self._confinement.contains(entry.path))

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
        return removed + remove_debris(self._root / ".uploads", min_age=_STALE_UPLOAD_SECONDS)

    def add_file(
        self, file_id: str, upload: Upload, meta: Mapping[str, Any], *, replace: bool
    ) -> MediaFile:
        path = self._inside(self._root / file_id, _file(file_id))
        with self._lock.held(), _storage_errors(_file(file_id), "written"):
            if os.path.lexists(path):
                if not replace or not path.is_file():
                    raise Conflict(f"{_file(file_id)} already exists.")
                remove_atomically(path)  # the file vanishes at once
            data = _dump(meta)
            stored = _load_mapping(data.decode("utf-8"))
            write_atomic(_sidecar(path), data)
            self._place_upload(upload, path)
            fsync_dir(path.parent)
        return MediaFile(id=file_id, meta=stored)

    def _place_upload(self, upload: Upload, path: Path) -> None:
        if isinstance(upload, TempUpload):
            # Received privately; in place, it is a file like any other the umask rules.
            upload.path.chmod(new_file_mode())
            fsync_file(upload.path)
            try:
                upload.path.replace(path)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                self._copy_into_place(upload.path, path)
                upload.path.unlink()
            return
        # Another Upload gives its bytes only through head(): read them whole.
        write_atomic(path, upload.head(upload.size))

    def _copy_into_place(self, source: Path, target: Path) -> None:
        temporary = hidden_twin(target, "tmp")
        try:
            shutil.copyfile(source, temporary)
            fsync_file(temporary)
            temporary.replace(target)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise

    def update_meta(
        self, file_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> MediaFile:
        with self._lock.held():
            current = self._meta(file_id)
            if current is None:
                raise MediaFileNotFound(file_id)
            changed = change(current)
            path = self._inside(self._root / file_id, _file(file_id))
            with _storage_errors(f"The metadata of {_file(file_id)}", "written"):
                data = _dump(changed)
                # Return what a later file() will read (tuples come back as lists, ...).
                stored = _load_mapping(data.decode("utf-8"))
                write_atomic(_sidecar(path), data)
            return MediaFile(id=file_id, meta=stored)

    def move_file(self, file_id: str, new_id: str) -> MediaFile:
        with self._lock.held():
            source, target, meta = self._transfer_start(file_id, new_id)
            with _storage_errors(_file(file_id), "moved"):
                source.replace(target)
                fsync_dir(target.parent)
                fsync_dir(source.parent)
                _sidecar(source).unlink(missing_ok=True)
            return MediaFile(id=new_id, meta=meta)

    def copy_file(self, file_id: str, new_id: str) -> MediaFile:
        with self._lock.held():
            source, target, meta = self._transfer_start(file_id, new_id)
            with _storage_errors(_file(file_id), "copied"):
                self._copy_into_place(source, target)
                fsync_dir(target.parent)
            return MediaFile(id=new_id, meta=meta)

    def _transfer_start(self, file_id: str, new_id: str) -> tuple[Path, Path, Meta]:
        """Check a move or copy, write the target's sidecar; return paths and metadata."""
        meta = self._meta(file_id)
        if meta is None:
            raise MediaFileNotFound(file_id)
        source = self._inside(self._root / file_id, _file(file_id))
        target = self._inside(self._root / new_id, _file(new_id))
        with _storage_errors(_file(new_id), "written"):
            if os.path.lexists(target):
                raise Conflict(f"{_file(new_id)} already exists.")
            write_atomic(_sidecar(target), _dump(meta))
        return source, target, meta

    def delete_file(self, file_id: str) -> None:
        with self._lock.held():
            path = self._inside(self._require(file_id), _file(file_id))
            with _storage_errors(_file(file_id), "deleted"):
                path.unlink()
                fsync_dir(path.parent)
                _sidecar(path).unlink(missing_ok=True)

    # -- folders --------------------------------------------------------------------

    def create_folder(self, folder_id: str) -> None:
        folder = self._inside(self._root / folder_id, _folder(folder_id))
        with self._lock.held(), _storage_errors(_folder(folder_id), "created"):
            try:
                folder.mkdir(parents=True)
            except FileExistsError:
                raise Conflict(f"{_folder(folder_id)} already exists.") from None
            fsync_dir(folder.parent)

    def move_folder(self, folder_id: str, new_id: str) -> None:
        with self._lock.held():
            source, target = self._folder_transfer_start(folder_id, new_id)
            with _storage_errors(_folder(folder_id), "moved"):
                target.parent.mkdir(parents=True, exist_ok=True)
                source.replace(target)
                fsync_dir(target.parent)
                fsync_dir(source.parent)

    def copy_folder(self, folder_id: str, new_id: str) -> None:
        with self._lock.held():
            source, target = self._folder_transfer_start(folder_id, new_id)
            with _storage_errors(_folder(folder_id), "copied"):
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

    def _folder_transfer_start(self, folder_id: str, new_id: str) -> tuple[Path, Path]:
        source = self._root / folder_id
        if not self.folder_exists(folder_id):
            raise MediaFolderNotFound(folder_id)
        target = self._inside(self._root / new_id, _folder(new_id))
        if os.path.lexists(target):
            raise Conflict(f"{_folder(new_id)} already exists.")
        return source, target

    def delete_folder(self, folder_id: str) -> None:
        with self._lock.held():
            if not self.folder_exists(folder_id):
                raise MediaFolderNotFound(folder_id)
            folder = self._root / folder_id
            with _storage_errors(_folder(folder_id), "deleted"):
                remove_atomically(folder)  # a linked folder: the link goes, not its target
