"""MediaService: the rules for media files, their metadata and their folders, over a MediaStore."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flextype_core import ids, sniff
from flextype_core.errors import (
    BadRequest,
    Conflict,
    MediaFolderNotFound,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
    shown,
)
from flextype_core.model import MediaFile, Page, PageMeta
from flextype_core.ports import Clock, ImageProcessor, MediaStore, Upload
from flextype_core.query import IndexedItems, parse_options, select_from, shape

__all__ = ["HEAD_BYTES", "MANAGED_META", "MEDIA_URL", "MediaService", "file_url", "public_file"]

MANAGED_META = frozenset({"id", "url", "type", "filesize", "uploaded_on", "width", "height"})
"""Metadata only the server sets: the meta API cannot add, change or delete them."""

MEDIA_URL = "/media"
"""Where the web server serves ``<project>/media``: URLs are relative to the site."""

HEAD_BYTES = 256 * 1024
"""How much of an upload is read to check its type and its image size (a JPEG's size
comes after its EXIF and ICC segments, which may be large)."""

Meta = dict[str, Any]


def file_url(media_id: str) -> str:
    """Return the site-relative URL of a media file or folder (never a path on disk)."""
    return f"{MEDIA_URL}/{media_id}" if media_id else MEDIA_URL


def public_file(file: MediaFile) -> dict[str, Any]:
    """Return a file as the API shows it: its metadata plus ``id`` and ``url``."""
    return {**file.meta, "id": file.id, "url": file_url(file.id)}


def _public_folder(folder_id: str) -> dict[str, Any]:
    return {"id": folder_id, "url": file_url(folder_id)}


def _join(folder_id: str, name: str) -> str:
    return f"{folder_id}/{name}" if folder_id else name


def _extension(name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    return extension.lower() if dot and stem else ""


def _meta_field(field: object) -> str:
    if not isinstance(field, str) or field == "":
        raise ValidationFailed("'field' must be a non-empty string.", details=["field"])
    if field in MANAGED_META:
        raise ValidationFailed(
            f"Field {shown(field)} is managed by the server and cannot be written.",
            details=[field],
        )
    return field


class MediaService:
    """Upload, fetch, list, move, copy and delete media files; edit metadata; manage folders.

    Args:
        store: where files, sidecars and folders live.
        clock: the time source of ``uploaded_on``.
        images: reads the width and height of uploaded images; None leaves them out.
        accept_file_types: the extensions an upload may have (``jpg``, ``png``, ...),
            compared exactly, ignoring case.
        max_file_size: the largest upload accepted, in bytes.
    """

    def __init__(
        self,
        store: MediaStore,
        clock: Clock,
        images: ImageProcessor | None,
        *,
        accept_file_types: Sequence[str],
        max_file_size: int,
    ) -> None:
        self._store = store
        self._clock = clock
        self._images = images
        self._accepted = frozenset(
            t.strip().lower().removeprefix(".") for t in accept_file_types if t.strip(" .")
        )
        self._max_file_size = max_file_size

    @property
    def max_file_size(self) -> int:
        """The largest upload accepted, in bytes (an entrypoint may stop reading past it)."""
        return self._max_file_size

    @property
    def accept_file_types(self) -> frozenset[str]:
        """The accepted extensions, lower case, without dots."""
        return self._accepted

    # -- files ----------------------------------------------------------------------

    def fetch(self, file_id: object) -> dict[str, Any]:
        """Return one file's metadata with its ``id`` and ``url``.

        Raises:
            InvalidId: ``file_id`` is not a valid file id.
            MediaFileNotFound: there is no such file.
        """
        return public_file(self._store.file(ids.parse_file_id(file_id)))

    def content(self, file_id: object) -> tuple[bytes, str]:
        """Return the file's bytes and MIME type (what ``url`` serves).

        Raises:
            InvalidId: ``file_id`` is not a valid file id.
            MediaFileNotFound: there is no such file.
        """
        media_id = ids.parse_file_id(file_id)
        meta = self._store.file(media_id).meta
        media_type = meta.get("type")
        return self._store.read(media_id), media_type if isinstance(media_type, str) else (
            "application/octet-stream"
        )

    def collection(self, folder_id: object, options: Mapping[str, Any]) -> Page:
        """Return the files of a folder, filtered as entry collections are.

        ``options[find][depth]`` reaches into subfolders (1, the default, is the folder's
        own files); the other options are those of ``EntriesService.query``. Items are
        public files (metadata, ``id``, ``url``) in id order before sorting.

        Raises:
            InvalidId: ``folder_id`` is not a valid folder id.
            BadRequest: a malformed option, or ``options[method]`` (media has none).
            MediaFolderNotFound: there is no such folder.
        """
        folder = ids.parse_folder_id(folder_id)
        query = parse_options(options)
        if query.method is not None:
            raise BadRequest(f"options[method]: unknown method {shown(query.method)}.")
        found = self._files_below(folder, query.depth, query.min_depth)
        items = IndexedItems([public_file(f) for f in sorted(found, key=lambda f: f.id)])
        selected = select_from(query, items)
        meta = PageMeta(total=len(selected), offset=query.offset, limit=query.limit)
        return Page(data=shape(query, selected), meta=meta)

    def _files_below(self, folder: str, depth: int | None, min_depth: int) -> list[MediaFile]:
        found: list[MediaFile] = []
        level, current = 1, [folder]
        while current and (depth is None or level <= depth):
            if level >= min_depth:
                for each in current:
                    found.extend(self._store.files(each))
            current = [child for each in current for child in self._store.folders(each)]
            level += 1
        return found

    def upload(
        self, folder_id: object, file_name: object, upload: Upload, *, replace: bool = False
    ) -> dict[str, Any]:
        """Store an upload in a folder (created if missing) and return the new file.

        The name is made safe (``ids.safe_file_name``); the answer's ``id`` is the final
        one. The metadata holds ``title`` (the name without its extension),
        ``description`` (""), ``type`` (MIME), ``filesize``, ``uploaded_on`` and, for an
        image whose size can be read, ``width`` and ``height``. Replacing a file gives it
        fresh metadata.

        Raises:
            InvalidId: ``folder_id`` is not a valid folder id, or no safe name is left.
            UnsupportedMediaType: the extension is not accepted, or the content is not
                what the extension says.
            PayloadTooLarge: the upload is larger than ``max_file_size``.
            Conflict: the file exists and ``replace`` is false.
        """
        folder = ids.parse_folder_id(folder_id)
        if not isinstance(file_name, str):
            raise BadRequest(f"The file name must be a string, got {type(file_name).__name__}.")
        name = ids.safe_file_name(file_name)
        extension = _extension(name)
        if extension not in self._accepted:
            raise UnsupportedMediaType(
                f"Files of type {shown(extension)} are not accepted; accepted: "
                + ", ".join(sorted(self._accepted))
                + "."
            )
        if upload.size > self._max_file_size:
            raise PayloadTooLarge(
                f"The file is {upload.size} bytes; at most {self._max_file_size} are accepted."
            )
        head = upload.head(HEAD_BYTES)
        mime = sniff.detect(head, extension)
        if mime is None:
            raise UnsupportedMediaType(
                f"The content of {shown(name)} is not a {shown(extension)} file."
            )
        file_id = ids.parse_file_id(_join(folder, name))
        meta: Meta = {
            "title": name[: -len(extension) - 1],
            "description": "",
            "type": mime,
            "filesize": upload.size,
            "uploaded_on": self._clock.now(),
        }
        size = self._images.probe(head) if self._images and mime.startswith("image/") else None
        if size is not None:
            meta["width"], meta["height"] = size
        return public_file(self._store.add_file(file_id, upload, meta, replace=replace))

    def move(self, file_id: object, new_id: object) -> dict[str, Any]:
        """Move a file and its metadata to ``new_id`` (its folder is created if missing).

        Raises:
            InvalidId: either id is not a valid file id.
            BadRequest: ``new_id`` has another extension (the content was checked
                against the old one).
            MediaFileNotFound: there is no file ``file_id``.
            Conflict: ``new_id`` is taken.
        """
        source, target = self._source_and_target(file_id, new_id)
        return public_file(self._store.move_file(source, target))

    def copy(self, file_id: object, new_id: object) -> dict[str, Any]:
        """Copy a file and its metadata to ``new_id``; return the copy.

        Raises:
            As ``move``.
        """
        source, target = self._source_and_target(file_id, new_id)
        return public_file(self._store.copy_file(source, target))

    def delete(self, file_id: object) -> None:
        """Delete a file and its metadata.

        Raises:
            InvalidId: ``file_id`` is not a valid file id.
            MediaFileNotFound: there is no such file.
        """
        self._store.delete_file(ids.parse_file_id(file_id))

    def _source_and_target(self, file_id: object, new_id: object) -> tuple[str, str]:
        source = ids.parse_file_id(file_id)
        target = ids.parse_file_id(new_id)
        if _extension(target) != _extension(source):
            raise BadRequest(
                f"File {shown(target)} must keep the extension of {shown(source)}: "
                "its content was checked against it."
            )
        return source, target

    # -- metadata -------------------------------------------------------------------

    def add_meta(self, file_id: object, field: object, value: Any) -> dict[str, Any]:
        """Add a metadata field; return the file.

        Raises:
            InvalidId: ``file_id`` is not a valid file id.
            ValidationFailed: ``field`` is empty, not a string, or managed by the server.
            MediaFileNotFound: there is no such file.
            Conflict: the field exists (``update_meta`` changes it).
        """
        name = _meta_field(field)

        def add(meta: Meta) -> Meta:
            if name in meta:
                raise Conflict(f"Field {shown(name)} already exists; change it instead.")
            return {**meta, name: value}

        return self._change_meta(file_id, add)

    def update_meta(self, file_id: object, field: object, value: Any) -> dict[str, Any]:
        """Change an existing metadata field; return the file.

        Raises:
            InvalidId, ValidationFailed, MediaFileNotFound: as for ``add_meta``.
            NotFound: the file has no such field (``add_meta`` adds it).
        """
        name = _meta_field(field)

        def update(meta: Meta) -> Meta:
            _require_field(meta, name, file_id)
            return {**meta, name: value}

        return self._change_meta(file_id, update)

    def delete_meta(self, file_id: object, field: object) -> dict[str, Any]:
        """Remove a metadata field; return the file.

        Raises:
            As ``update_meta``.
        """
        name = _meta_field(field)

        def delete(meta: Meta) -> Meta:
            _require_field(meta, name, file_id)
            return {k: v for k, v in meta.items() if k != name}

        return self._change_meta(file_id, delete)

    def _change_meta(self, file_id: object, change: Callable[[Meta], Meta]) -> dict[str, Any]:
        return public_file(self._store.update_meta(ids.parse_file_id(file_id), change))

    # -- folders --------------------------------------------------------------------

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

    def move_folder(self, folder_id: object, new_id: object) -> dict[str, Any]:
        """Move (rename) a folder and everything in it; return it at its new id.

        Raises:
            InvalidId: either id is not a valid folder id.
            BadRequest: either is the root, or ``new_id`` lies inside the folder.
            MediaFolderNotFound: there is no folder ``folder_id``.
            Conflict: ``new_id`` exists.
        """
        source, target = self._folder_source_and_target(folder_id, new_id, "move")
        self._store.move_folder(source, target)
        return _public_folder(target)

    def copy_folder(self, folder_id: object, new_id: object) -> dict[str, Any]:
        """Copy a folder and everything in it; return the copy.

        Raises:
            As ``move_folder``.
        """
        source, target = self._folder_source_and_target(folder_id, new_id, "copy")
        self._store.copy_folder(source, target)
        return _public_folder(target)

    def delete_folder(self, folder_id: object) -> None:
        """Delete a folder and everything in it.

        Raises:
            InvalidId: ``folder_id`` is not a valid folder id.
            BadRequest: it is the root.
            MediaFolderNotFound: there is no such folder.
        """
        folder = ids.parse_folder_id(folder_id)
        if folder == ids.ROOT:
            raise BadRequest("The root folder cannot be deleted.")
        self._store.delete_folder(folder)

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


def _require_field(meta: Meta, name: str, file_id: object) -> None:
    if name not in meta:
        raise NotFound(f"File {shown(str(file_id))} has no field {shown(name)}.")
