"""The read side of the media store: files with their sidecars, folders, content, hashes.

A file ``a/b.png`` exists only while both it and its sidecar ``a/.b.png.meta.yaml`` do
(``local_media`` writes them so): every listing and lookup here checks both. Names
starting with ``.`` are never files or folders. A symbolic link leading out of the media
directory is never followed (``flextype_adapters.confine``): what lies behind it does
not exist here.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from stat import S_ISREG
from typing import Any, BinaryIO

import msgspec

from flextype_adapters.confine import Confinement, Identity, identity_of
from flextype_adapters.file_cache import ParsedFileCache
from flextype_adapters.log_limit import warn_limited
from flextype_adapters.yaml_codec import load_mapping as _load_mapping
from flextype_adapters.yaml_codec import storage_errors as _storage_errors
from flextype_core import ids
from flextype_core.errors import (
    InvalidId,
    MediaFileNotFound,
    MediaFolderNotFound,
    StorageError,
    shown,
)
from flextype_core.model import MediaFile

__all__ = ["SIDECAR_SUFFIX", "LocalMediaReader", "Meta", "file_named", "folder_named", "sidecar"]

Meta = dict[str, Any]

SIDECAR_SUFFIX = ".meta.yaml"
"""File ``b.png``'s metadata is ``.b.png.meta.yaml`` beside it."""
_META_DECODER = msgspec.json.Decoder(dict[str, Any])
_HASHES_KEPT = 10_000


def sidecar(path: Path) -> Path:
    """The metadata file of the media file ``path``."""
    return path.with_name(f".{path.name}{SIDECAR_SUFFIX}")


def _parse_meta(data: bytes) -> bytes:
    """Parse a sidecar; keep it as JSON, which decodes far faster than YAML parses."""
    return msgspec.json.encode(_load_mapping(data.decode("utf-8-sig")))


def file_named(file_id: str) -> str:
    """``File 'a/b.png'``: the subject of a message about a file."""
    return f"File {shown(file_id)}"


def folder_named(folder_id: str) -> str:
    """``Folder 'a'``: the subject of a message about a folder."""
    return f"Folder {shown(folder_id)}"


def _valid(parse: Callable[[object], str], candidate: str) -> bool:
    try:
        parse(candidate)
    except InvalidId:
        return False
    return True


class LocalMediaReader:
    """The MediaStore's reads over the media directory ``root`` (``LocalMediaStore`` writes).

    Every call reads the disk, so files added by hand with a sidecar are seen at once;
    sidecars are parsed once per version of the file, content hashes made once per
    version of the content.
    """

    def __init__(self, root: Path) -> None:
        self._root = root
        self._root_text = str(root) + os.sep
        self._confinement = Confinement(root)
        self._parsed: ParsedFileCache[bytes] = ParsedFileCache(confinement=self._confinement)
        self._hashes: OrderedDict[str, tuple[Identity, str]] = OrderedDict()
        self._hash_lock = threading.Lock()

    def file(self, file_id: str) -> MediaFile:
        meta = self._meta(file_id)
        if meta is None:
            raise MediaFileNotFound(file_id)
        return MediaFile(id=file_id, meta=meta)

    def files(self, folder_id: str) -> list[MediaFile]:
        return self.listing(folder_id)[0]

    def listing(self, folder_id: str) -> tuple[list[MediaFile], list[str]]:
        found = []
        unreadable = []
        for file_id in self._file_ids(folder_id):
            try:
                meta = self._meta(file_id)
            except StorageError as exc:
                warn_limited(
                    f"media:{self._root}:{file_id}",
                    "%s It is left out of listings.",
                    exc.message,
                )
                unreadable.append(file_id)
                continue
            if meta is not None:  # None: no sidecar, or gone since the listing
                found.append(MediaFile(id=file_id, meta=meta))
        return found, unreadable

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
        with _storage_errors(file_named(file_id), "read"):
            try:
                return path.read_bytes()
            except (FileNotFoundError, NotADirectoryError):
                raise MediaFileNotFound(file_id) from None

    def open(self, file_id: str) -> BinaryIO:
        path = self._require(file_id)
        with _storage_errors(file_named(file_id), "read"):
            try:
                return path.open("rb")
            except (FileNotFoundError, NotADirectoryError):
                raise MediaFileNotFound(file_id) from None

    def url(self, file_id: str, expires: int) -> str | None:
        """None: the files are served by the server that reads them."""
        return None

    def content_hash(self, file_id: str) -> str:
        # A hit costs one stat (the sidecar was checked when the hash was made), and no
        # pathlib: this is the hot path of cached images.
        known = self.known_hash(file_id)
        if known is not None:
            return known
        path = self._root / file_id
        key = self._key(file_id)
        with _storage_errors(file_named(file_id), "read"):
            try:
                identity = identity_of(os.stat(key))  # noqa: PTH116 - as known_hash's
            except (FileNotFoundError, NotADirectoryError):
                raise MediaFileNotFound(file_id) from None
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

    def known_hash(self, file_id: str) -> str | None:
        """The hash made before, if a ``stat`` shows the file unchanged since."""
        key = self._key(file_id)
        try:
            identity = identity_of(os.stat(key))  # noqa: PTH116 - the hot path of cached images
        except OSError:
            return None
        with self._hash_lock:
            known = self._hashes.get(key)
            if known is None or known[0] != identity:
                return None
            self._hashes.move_to_end(key)
        return known[1]

    def _key(self, file_id: str) -> str:
        # A checked file id has no empty, "." or ".." part: joining is what pathlib gives.
        return self._root_text + file_id

    def _meta(self, file_id: str) -> Meta | None:
        """Return the file's metadata, or None unless both the file and its sidecar exist."""
        path = self._root / file_id
        if not self._is_file(str(path)):
            return None
        with _storage_errors(f"The metadata of {file_named(file_id)}", "read"):
            encoded = self._parsed.get(str(sidecar(path)), _parse_meta)
        if encoded is None:
            return None
        # Decoded per call: every caller gets its own copy of nested values.
        meta: Meta = _META_DECODER.decode(encoded)
        return meta

    def _require(self, file_id: str) -> Path:
        path = self._root / file_id
        if not (self._is_file(str(path)) and self._is_file(str(sidecar(path)))):
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
        with _storage_errors(folder_named(folder_id), "listed"):
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
