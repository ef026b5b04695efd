"""MediaService: the rules for media files, their metadata and their folders, over a MediaStore."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from flextype_core import ids, sniff
from flextype_core.errors import (
    BadRequest,
    Conflict,
    MediaFileNotFound,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    UnsupportedMediaType,
    ValidationFailed,
    shown,
)
from flextype_core.etags import check_if_match
from flextype_core.media_folders import MEDIA_URL, MediaFolders, file_url
from flextype_core.model import MediaContent, MediaFile, Page, PageMeta
from flextype_core.ports import Clock, ImageProcessor, MediaStore, StagedUpload
from flextype_core.query import IndexedItems, parse_options, select_from, shape

__all__ = ["HEAD_BYTES", "MANAGED_META", "MEDIA_URL", "MediaService", "file_url", "public_file"]

MANAGED_META = frozenset({"id", "url", "type", "filesize", "uploaded_on", "width", "height"})
"""Metadata only the server sets: the meta API cannot add, change or delete them."""

HEAD_BYTES = 256 * 1024
"""How much of an upload is read to check its type and its image size (a JPEG's size
comes after its EXIF and ICC segments, which may be large)."""

Meta = dict[str, Any]


def public_file(file: MediaFile) -> dict[str, Any]:
    """Return a file as the API shows it: its metadata plus ``id`` and ``url``."""
    return {**file.meta, "id": file.id, "url": file_url(file.id)}


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


class MediaService(MediaFolders):
    """Upload, fetch, list, move, copy and delete media files; edit metadata; manage folders.

    Args:
        store: where files, sidecars and folders live.
        clock: the time source of ``uploaded_on``.
        images: reads the width and height of uploaded images; None leaves them out.
        accept_file_types: the extensions an upload may have (``jpg``, ``png``, ...),
            compared exactly, ignoring case.
        max_file_size: the largest upload accepted, in bytes.
        redirect_expires: when set, ``content`` answers a URL of the store valid this many
            seconds (``MediaStore.url``) rather than the bytes, where the store has one.
    """

    def __init__(
        self,
        store: MediaStore,
        clock: Clock,
        images: ImageProcessor | None,
        *,
        accept_file_types: Sequence[str],
        max_file_size: int,
        redirect_expires: int | None = None,
    ) -> None:
        super().__init__(store)
        self._redirect_expires = redirect_expires
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

    def content(self, file_id: object) -> MediaContent:
        """Return what the file's ``url`` serves: a stream of its bytes, or a redirect.

        A redirect only with ``redirect_expires`` set and a store that gives URLs; the
        caller closes the stream.

        Raises:
            InvalidId: ``file_id`` is not a valid file id.
            MediaFileNotFound: there is no such file.
        """
        media_id = ids.parse_file_id(file_id)
        meta = self._store.file(media_id).meta
        media_type = meta.get("type")
        size = meta.get("filesize")
        found = MediaContent(
            media_type=media_type if isinstance(media_type, str) else "application/octet-stream",
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        )
        if self._redirect_expires is not None:
            url = self._store.url(media_id, self._redirect_expires)
            if url is not None:
                return msgspec.structs.replace(found, redirect=url)
        return msgspec.structs.replace(found, stream=self._store.open(media_id))

    def collection(self, folder_id: object, options: Mapping[str, Any]) -> Page:
        """Return the files of a folder, filtered as entry collections are.

        ``options[find][depth]`` reaches into subfolders (1, the default, is the folder's
        own files); the other options are those of ``EntriesService.query``. Items are
        public files (metadata, ``id``, ``url``) in id order before sorting. Files whose
        metadata cannot be read are left out and named in ``meta.unreadable``.

        Raises:
            InvalidId: ``folder_id`` is not a valid folder id.
            BadRequest: a malformed option, or ``options[method]`` (media has none).
            MediaFolderNotFound: there is no such folder.
        """
        folder = ids.parse_folder_id(folder_id)
        query = parse_options(options)
        if query.method is not None:
            raise BadRequest(f"options[method]: unknown method {shown(query.method)}.")
        found, unreadable = self._files_below(folder, query.depth, query.min_depth)
        items = IndexedItems([public_file(f) for f in sorted(found, key=lambda f: f.id)])
        selected = select_from(query, items)
        meta = PageMeta(
            total=len(selected),
            offset=query.offset,
            limit=query.limit,
            unreadable=tuple(sorted(unreadable)),
        )
        return Page(data=shape(query, selected), meta=meta)

    def _files_below(
        self, folder: str, depth: int | None, min_depth: int
    ) -> tuple[list[MediaFile], list[str]]:
        """The files at the levels asked for, and the ids of those that cannot be read."""
        found: list[MediaFile] = []
        unreadable: list[str] = []
        level, current = 1, [folder]
        while current and (depth is None or level <= depth):
            if level >= min_depth:
                for each in current:
                    files, broken = self._store.listing(each)
                    found.extend(files)
                    unreadable.extend(broken)
            current = [child for each in current for child in self._store.folders(each)]
            level += 1
        return found, unreadable

    def stage(self) -> StagedUpload:
        """Begin receiving an upload (``MediaStore.stage``): write it in, then ``upload`` it.

        Use it as a ``with`` block: leaving it discards the bytes unless ``upload``
        stored them, so a refused upload leaves nothing behind.
        """
        return self._store.stage()

    def upload(
        self,
        folder_id: object,
        file_name: object,
        upload: StagedUpload,
        *,
        replace: bool = False,
        if_match: str | None = None,
    ) -> dict[str, Any]:
        """Store a staged upload in a folder (created if missing) and return the new file.

        Every check runs before the store makes the file visible; the upload is
        finished (made durable) outside the store's lock.

        The name is made safe (``ids.safe_file_name``); the answer's ``id`` is the final
        one. The metadata holds ``title`` (the name without its extension),
        ``description`` (""), ``type`` (MIME), ``filesize``, ``uploaded_on`` and, for an
        image whose size can be read, ``width`` and ``height``. Replacing a file gives it
        fresh metadata. ``if_match`` (an ``If-Match`` header) asks to replace the file
        whose metadata it names, checked in the same step as the write.

        Raises:
            InvalidId: ``folder_id`` is not a valid folder id, or no safe name is left.
            UnsupportedMediaType: the extension is not accepted, or the content is not
                what the extension says.
            PayloadTooLarge: the upload is larger than ``max_file_size``.
            Conflict: the file exists and ``replace`` is false (and no ``if_match``).
            PreconditionFailed: ``if_match`` names no current file at that id.
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
        upload.finish()
        with self._store.exclusive():
            if if_match is not None:
                try:
                    current = self._store.file(file_id)
                except MediaFileNotFound:
                    raise PreconditionFailed(
                        f"File {shown(file_id)} does not exist (If-Match: {shown(if_match)})."
                    ) from None
                _check_meta(if_match, current)
            added = self._store.add_file(
                file_id, upload, meta, replace=replace or if_match is not None
            )
        return public_file(added)

    def move(
        self, file_id: object, new_id: object, *, if_match: str | None = None
    ) -> dict[str, Any]:
        """Move a file and its metadata to ``new_id`` (its folder is created if missing).

        ``if_match`` (an ``If-Match`` header) is checked against the file as ``fetch``
        shows it, in the same step as the write; so for every file and folder write.

        Raises:
            InvalidId: either id is not a valid file id.
            BadRequest: ``new_id`` has another extension (the content was checked
                against the old one).
            MediaFileNotFound: there is no file ``file_id``.
            Conflict: ``new_id`` is taken.
            PreconditionFailed: ``if_match`` does not name the current file.
        """
        source, target = self._source_and_target(file_id, new_id)
        with self._store.exclusive():
            self._check_file(source, if_match)
            return public_file(self._store.move_file(source, target))

    def copy(
        self, file_id: object, new_id: object, *, if_match: str | None = None
    ) -> dict[str, Any]:
        """Copy a file and its metadata to ``new_id``; return the copy.

        Raises:
            As ``move``.
        """
        source, target = self._source_and_target(file_id, new_id)
        with self._store.exclusive():
            self._check_file(source, if_match)
            return public_file(self._store.copy_file(source, target))

    def delete(self, file_id: object, *, if_match: str | None = None) -> None:
        """Delete a file and its metadata.

        Raises:
            InvalidId: ``file_id`` is not a valid file id.
            MediaFileNotFound: there is no such file.
            PreconditionFailed: as for ``move``.
        """
        media_id = ids.parse_file_id(file_id)
        with self._store.exclusive():
            self._check_file(media_id, if_match)
            self._store.delete_file(media_id)

    def _check_file(self, file_id: str, if_match: str | None) -> None:
        if if_match is not None:
            _check_meta(if_match, self._store.file(file_id))

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

    def add_meta(
        self, file_id: object, field: object, value: Any, *, if_match: str | None = None
    ) -> dict[str, Any]:
        """Add a metadata field; return the file.

        Raises:
            InvalidId: ``file_id`` is not a valid file id.
            ValidationFailed: ``field`` is empty, not a string, or managed by the server.
            MediaFileNotFound: there is no such file.
            Conflict: the field exists (``update_meta`` changes it).
            PreconditionFailed: as for ``move``.
        """
        name = _meta_field(field)

        def add(meta: Meta) -> Meta:
            if name in meta:
                raise Conflict(f"Field {shown(name)} already exists; change it instead.")
            return {**meta, name: value}

        return self._change_meta(file_id, add, if_match)

    def update_meta(
        self, file_id: object, field: object, value: Any, *, if_match: str | None = None
    ) -> dict[str, Any]:
        """Change an existing metadata field; return the file.

        Raises:
            InvalidId, ValidationFailed, MediaFileNotFound: as for ``add_meta``.
            NotFound: the file has no such field (``add_meta`` adds it).
            PreconditionFailed: as for ``move``.
        """
        name = _meta_field(field)

        def update(meta: Meta) -> Meta:
            _require_field(meta, name, file_id)
            return {**meta, name: value}

        return self._change_meta(file_id, update, if_match)

    def delete_meta(
        self, file_id: object, field: object, *, if_match: str | None = None
    ) -> dict[str, Any]:
        """Remove a metadata field; return the file.

        Raises:
            As ``update_meta``.
        """
        name = _meta_field(field)

        def delete(meta: Meta) -> Meta:
            _require_field(meta, name, file_id)
            return {k: v for k, v in meta.items() if k != name}

        return self._change_meta(file_id, delete, if_match)

    def _change_meta(
        self, file_id: object, change: Callable[[Meta], Meta], if_match: str | None
    ) -> dict[str, Any]:
        media_id = ids.parse_file_id(file_id)

        def checked(meta: Meta) -> Meta:
            if if_match is not None:
                _check_meta(if_match, MediaFile(id=media_id, meta=meta))
            return change(meta)

        return public_file(self._store.update_meta(media_id, checked))


def _check_meta(if_match: str, file: MediaFile) -> None:
    check_if_match(if_match, public_file(file), f"File {shown(file.id)}")


def _require_field(meta: Meta, name: str, file_id: object) -> None:
    if name not in meta:
        raise NotFound(f"File {shown(str(file_id))} has no field {shown(name)}.")
