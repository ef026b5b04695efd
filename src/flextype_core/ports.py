"""The ports: what the domain core needs from the outside world, as Protocols.

Adapters implement these structurally (no inheritance); mypy checks conformance where a
concrete adapter is passed for a port. Every method states its contract: results, order,
and the domain errors it raises. The two storage ports have modules of their own
(``entry_port``, ``token_port``) and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, BinaryIO, Protocol

from flextype_core.entry_port import EntryStore, Fields, SearchIndex, SecretStore
from flextype_core.model import MediaFile
from flextype_core.token_port import TokenStore

__all__ = [
    "Clock",
    "DerivativeCache",
    "EntryStore",
    "Fields",
    "HostResolver",
    "IdFactory",
    "ImageProcessor",
    "MediaStore",
    "PasswordHasher",
    "SearchIndex",
    "SecretStore",
    "StagedUpload",
    "TokenStore",
]


class Clock(Protocol):
    """The current time."""

    def now(self) -> int:
        """Return the current Unix time in whole seconds."""
        ...


class IdFactory(Protocol):
    """Fresh random identifiers."""

    def uuid(self) -> str:
        """Return a new random (version 4) UUID in its canonical text form."""
        ...

    def token(self) -> str:
        """Return 32 random lowercase hex characters (128 bits)."""
        ...

    def secret(self) -> bytes:
        """Return 24 random bytes from a cryptographically secure source (a signing key)."""
        ...


class HostResolver(Protocol):
    """Name resolution (DNS), for the checks of where webhooks may be sent."""

    def resolve(self, host: str, port: int) -> list[str]:
        """Return the IP addresses (text form) ``host`` resolves to; a literal resolves to itself.

        Raises:
            OSError: the name does not resolve.
        """
        ...


class PasswordHasher(Protocol):
    """One-way hashing of secrets such as access tokens."""

    def hash(self, secret: str) -> str:
        """Return a salted hash of ``secret`` (bcrypt ``$2y$``/``$2b$`` form)."""
        ...

    def verify(self, secret: str, hashed: str) -> bool:
        """Tell whether ``secret`` matches ``hashed``; False for a malformed hash.

        Takes as long as ``hashed``'s cost says: check ``cost_of`` first for a hash a
        client made.
        """
        ...

    @property
    def cost(self) -> int:
        """The work factor of the hashes ``hash`` makes (bcrypt: log2 of its rounds)."""
        ...

    def cost_of(self, hashed: str) -> int | None:
        """Return the work factor ``hashed`` was made with; None if it is malformed."""
        ...


class StagedUpload(Protocol):
    """An upload being received, staged where its ``MediaStore`` chose (``MediaStore.stage``).

    The entrypoint writes the bytes in as they arrive, never holding them whole, then
    hands the upload to the core, whose checks (name, size, the type sniffed from
    ``head``) run before ``MediaStore.add_file`` makes it visible. Until ``add_file``
    takes it, staged bytes are nobody's file: no read of the store sees them. Leaving
    the ``with`` block aborts it, so a refused, failed or abandoned upload leaves nothing
    behind (after ``add_file`` took it, abort does nothing).
    """

    @property
    def size(self) -> int:
        """The number of bytes written so far."""
        ...

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data``, all of it.

        Raises:
            StorageError: it cannot be staged (a full disk, say).
        """
        ...

    def finish(self) -> None:
        """End the writing: the staged bytes become durable where they wait.

        ``add_file`` finishes an upload that was not; no ``write`` may follow.

        Raises:
            StorageError: it cannot be made durable.
        """
        ...

    def head(self, length: int) -> bytes:
        """Return the first ``length`` bytes written (fewer if there are fewer)."""
        ...

    def abort(self) -> None:
        """Discard the staged bytes; nothing once ``add_file`` took them, or twice."""
        ...

    def __enter__(self) -> StagedUpload:
        """Return the upload itself."""
        ...

    def __exit__(self, *exc_info: object) -> None:
        """Abort the upload (see ``abort``)."""
        ...


class MediaStore(Protocol):
    """Media files, each with its metadata (a sidecar, a table row), and their folders.

    A file id is a folder id (``""`` for the root) plus a file name; folder ids follow
    the entry id rules; both are validated before they reach a store. A file and its
    metadata move, copy and delete together: a file exists only with its metadata, and a
    crash never makes one visible without the other. ``meta`` mappings are copies: a
    caller may change what it gets without changing what is stored.
    """

    def file(self, file_id: str) -> MediaFile:
        """Return the file's metadata.

        Raises:
            MediaFileNotFound: there is no such file.
        """
        ...

    def files(self, folder_id: str) -> list[MediaFile]:
        """Return the files directly in the folder, ordered by id in code-point order.

        Files whose metadata cannot be read are left out (``listing`` names them).

        Raises:
            MediaFolderNotFound: there is no such folder (the root always exists).
        """
        ...

    def listing(self, folder_id: str) -> tuple[list[MediaFile], list[str]]:
        """Return ``files``' answer and the ids of the files it leaves out, in one pass.

        The second list names, in id order, the files whose metadata cannot be read.

        Raises:
            MediaFolderNotFound: there is no such folder (the root always exists).
        """
        ...

    def folders(self, folder_id: str) -> list[str]:
        """Return the ids of the folders directly in the folder, in code-point order.

        Raises:
            MediaFolderNotFound: there is no such folder (the root always exists).
        """
        ...

    def folder_exists(self, folder_id: str) -> bool:
        """Tell whether the folder exists (the root always does)."""
        ...

    def stage(self) -> StagedUpload:
        """Begin an upload: bytes written to it wait where this store keeps them.

        Where that is (a hidden folder beside the media, a multipart upload of an object
        store) is the store's choice; the caller only writes, then ``add_file`` or aborts.

        Raises:
            StorageError: no upload can be begun (the media folder cannot be written).
        """
        ...

    def add_file(
        self, file_id: str, upload: StagedUpload, meta: Mapping[str, Any], *, replace: bool
    ) -> MediaFile:
        """Store the upload as ``file_id`` with ``meta``; create missing folders.

        ``upload`` comes from this store's ``stage``. On success the store has taken
        its bytes (its ``abort`` does nothing now); on an error it is left as it was,
        for the caller to abort.

        Returns:
            The stored file, its ``meta`` as a later ``file`` call reads it.

        Raises:
            Conflict: a file ``file_id`` exists (or something else holds its name) and
                ``replace`` is false.
        """
        ...

    def update_meta(
        self, file_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> MediaFile:
        """Replace the metadata with ``change(current)`` as one step; return the file.

        Raises:
            MediaFileNotFound: there is no such file.
            Any error ``change`` raises, with nothing written.
        """
        ...

    def move_file(self, file_id: str, new_id: str) -> MediaFile:
        """Move the file and its sidecar (creating missing folders); return it at its new id.

        Raises:
            MediaFileNotFound: there is no file ``file_id``.
            Conflict: ``new_id`` is taken.
        """
        ...

    def copy_file(self, file_id: str, new_id: str) -> MediaFile:
        """Copy the file and its sidecar; return the copy (same errors as ``move_file``)."""
        ...

    def delete_file(self, file_id: str) -> None:
        """Delete the file and its sidecar.

        Raises:
            MediaFileNotFound: there is no such file.
        """
        ...

    def create_folder(self, folder_id: str) -> None:
        """Create the folder (and missing parents).

        Raises:
            Conflict: it exists.
        """
        ...

    def move_folder(self, folder_id: str, new_id: str) -> None:
        """Move a folder and everything in it (creating missing parents of ``new_id``).

        Neither id is the root, and ``new_id`` is not inside ``folder_id``.

        Raises:
            MediaFolderNotFound: there is no folder ``folder_id``.
            Conflict: ``new_id`` exists.
        """
        ...

    def copy_folder(self, folder_id: str, new_id: str) -> None:
        """Copy a folder and everything in it (same errors as ``move_folder``)."""
        ...

    def delete_folder(self, folder_id: str) -> None:
        """Delete a folder and everything in it.

        Raises:
            MediaFolderNotFound: there is no such folder.
        """
        ...

    def read(self, file_id: str) -> bytes:
        """Return the file's content.

        Raises:
            MediaFileNotFound: there is no such file.
        """
        ...

    def open(self, file_id: str) -> BinaryIO:
        """Return the file's content as a binary stream from its start; the caller closes it.

        For content too large to hold in memory: an export streams every file.

        Raises:
            MediaFileNotFound: there is no such file.
        """
        ...

    def url(self, file_id: str, expires: int) -> str | None:
        """Return a URL serving the file's content for ``expires`` seconds, or None.

        The URL needs no credentials and answers the content with the file's MIME type
        (an object store's presigned GET); None: the store has no such URL (the server
        streams the content itself, and learns then whether the file exists).

        Raises:
            MediaFileNotFound: (a store giving URLs) there is no such file.
        """
        ...

    def content_hash(self, file_id: str) -> str:
        """Return the SHA-256 (hex) of the file's content, recomputed when it changed.

        Raises:
            MediaFileNotFound: there is no such file.
        """
        ...

    def known_hash(self, file_id: str) -> str | None:
        """Return ``content_hash`` if the store can tell it from memory, else None.

        Cheap enough for an event loop: no waiting on the network, a lock or a read of
        the content (a ``stat`` or a tiny local file at most). Never a hash the content
        no longer has; None whenever unsure (never looked up, changed since, missing).
        """
        ...

    def exclusive(self) -> AbstractContextManager[object]:
        """Hold off every other writer of the media files and folders for a ``with`` block.

        Other threads and processes wait; the store's own calls inside the block go on
        (the lock is re-entrant). The core wraps a check and the write it guards in one
        block (``If-Match``, then the move), so no other write comes in between.
        """
        ...


class ImageProcessor(Protocol):
    """Decoding, transforming and encoding images."""

    def probe(self, head: bytes) -> tuple[int, int] | None:
        """Return (width, height) read from an image file's first bytes, None if unknown."""
        ...

    def render(
        self, source: bytes, params: Mapping[str, Any], limits: Mapping[str, int]
    ) -> tuple[bytes, str]:
        """Return (encoded bytes, MIME type) of ``source`` transformed by ``params``.

        ``params`` are already validated Glide parameters: ``msgspec.to_builtins`` of a
        ``flextype_core.images.ImageParams`` (every key present, defaults included);
        ``limits`` holds ``max_width``, ``max_height`` and ``max_source_pixels``. The
        output is never wider or higher than the limits and carries no EXIF metadata.

        Raises:
            UnsupportedMediaType: ``source`` is not a decodable image.
            PayloadTooLarge: the source has more pixels than ``max_source_pixels``
                (checked before decoding).
            BadRequest: ``crop`` starts outside the (oriented) source.
        """
        ...


class DerivativeCache(Protocol):
    """Encoded derivative images (resized, converted...), by a key naming source and params.

    Keys are 64 lowercase hex characters. A cache may forget entries at any time; it never
    returns bytes stored under another key, or part of an entry.
    """

    def get(self, key: str) -> bytes | None:
        """Return the bytes stored under ``key``, or None if there are none."""
        ...

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing what was there; readers see all or nothing."""
        ...
