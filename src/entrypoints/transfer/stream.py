"""Project archives as gzip-compressed tar streams: written and read once, front to back.

Neither side seeks, so an archive can go through a pipe (``--out -``, ``import -``), and
neither holds more than one JSON member (or 1 MiB of a media file) in memory. Every
member's SHA-256 is computed on the way through.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import zlib
from collections.abc import Iterator
from types import TracebackType
from typing import IO, TYPE_CHECKING, BinaryIO

from flextype_core.archive import MANIFEST, Digest, member_kind
from flextype_core.errors import InvalidArchive, shown
from flextype_core.ports import StagedUpload
from flextype_entrypoints.transfer.progress import Advance

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

__all__ = ["MAX_JSON_MEMBER", "ArchiveReader", "ArchiveWriter", "Member"]

_CHUNK = 1 << 20
MAX_JSON_MEMBER = 256 << 20
"""The largest JSON member an import reads into memory (one entries member, say)."""
_COMPRESS_LEVEL = 6
"""gzip's own default: level 9 takes about twice as long for a few per cent less."""
_DAMAGE = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


def _damaged(exc: BaseException) -> InvalidArchive:
    reason = str(exc) or exc.__class__.__name__
    return InvalidArchive(f"The archive is truncated or damaged ({reason}).")


class _Hashing(io.RawIOBase):
    """A readable stream that hashes and counts what passes through it."""

    def __init__(self, source: IO[bytes], advance: Advance | None) -> None:
        super().__init__()
        self._source = source
        self._advance = advance
        self.hash = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._source.read(size)
        except _DAMAGE as exc:
            raise _damaged(exc) from exc
        self.hash.update(data)
        self.count += len(data)
        if self._advance is not None and data:
            self._advance(len(data))
        return data

    def digest(self) -> Digest:
        return Digest(size=self.count, sha256=self.hash.hexdigest())


class _Output(io.RawIOBase):
    """Passes writes on to ``out`` until ``cut``, then drops them."""

    def __init__(self, out: BinaryIO) -> None:
        super().__init__()
        self._target: BinaryIO | None = out

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer) -> int:
        if self._target is None:
            return memoryview(data).nbytes
        return self._target.write(data)

    def flush(self) -> None:
        if self._target is not None:
            self._target.flush()

    def cut(self) -> None:
        self._target = None


class ArchiveWriter:
    """Write members one after another; ``finish`` writes the manifest and ends the archive.

    A context manager: leaving the block by an error abandons the archive (nothing more
    is written). ``out`` is left open: the caller owns it (a temporary file renamed into
    place, or standard output).
    """

    def __init__(self, out: BinaryIO, *, created_at: int) -> None:
        self._out = _Output(out)
        self._gzip = gzip.GzipFile(
            fileobj=self._out, mode="wb", compresslevel=_COMPRESS_LEVEL, mtime=created_at
        )
        # "w", not "w|": tarfile writes front to back either way, and its "w|" stream
        # object would try to finish the archive when collected after a failure.
        self._tar = tarfile.open(fileobj=self._gzip, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        self._created_at = created_at
        self.digests: dict[str, Digest] = {}

    def add(self, name: str, data: bytes) -> None:
        """Add a member holding ``data``."""
        self.add_stream(name, io.BytesIO(data), len(data))

    def add_stream(
        self, name: str, source: BinaryIO, size: int, advance: Advance | None = None
    ) -> None:
        """Add a member of ``size`` bytes read from ``source`` (``advance`` per chunk).

        Raises:
            OSError: ``source`` ends before ``size`` bytes.
        """
        info = tarfile.TarInfo(name)
        info.size = size
        info.mtime = self._created_at
        info.mode = 0o600
        hashing = _Hashing(source, advance)
        self._tar.addfile(info, hashing)
        self.digests[name] = hashing.digest()

    def finish(self, manifest: bytes) -> None:
        """Add the manifest (the last member) and end the tar and gzip streams."""
        self.add(MANIFEST, manifest)
        self._tar.close()
        self._gzip.close()

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            # The output is thrown away: nothing more reaches it (when the gzip object
            # is collected it writes its trailer, and the write that failed may fail again).
            self._out.cut()


class Member:
    """A member being read: its name, kind (``flextype_core.archive.member_kind``), size."""

    def __init__(self, name: str, kind: str, size: int, stream: _Hashing) -> None:
        self.name = name
        self.kind = kind
        self.size = size
        self._stream = stream

    def read_json(self) -> bytes:
        """Return the whole content of a JSON member.

        Raises:
            InvalidArchive: it is larger than ``MAX_JSON_MEMBER``.
        """
        if self.size > MAX_JSON_MEMBER:
            raise InvalidArchive(
                f"Member {shown(self.name)} is {self.size} bytes, more than the "
                f"{MAX_JSON_MEMBER} an import reads at once."
            )
        return self._stream.read(self.size)

    def copy_to(self, target: StagedUpload, advance: Advance | None = None) -> None:
        """Write the content into ``target`` in chunks, calling ``advance`` with each size."""
        while True:
            data = self._stream.read(_CHUNK)
            if not data:
                return
            target.write(data)
            if advance is not None:
                advance(len(data))


class ArchiveReader:
    """Iterate an archive's members, refusing unsafe names and anything but regular files.

    ``digests`` holds the size and SHA-256 of every member read so far; a member's is
    complete once the iteration moves past it.
    """

    def __init__(self, source: BinaryIO) -> None:
        # gzip's own reader, not tarfile's "r|gz": it checks the trailer's CRC and
        # length, so even a cut in the last bytes is found (``members`` reads to the end).
        self._gzip = gzip.GzipFile(fileobj=source, mode="rb")
        try:
            self._tar = tarfile.open(  # noqa: SIM115 - closed with the source by the caller
                fileobj=self._gzip, mode="r|"
            )
        except _DAMAGE as exc:
            raise InvalidArchive(
                "The archive is not a gzip-compressed tar file, or it is truncated or "
                f"damaged ({str(exc) or exc.__class__.__name__})."
            ) from exc
        self.digests: dict[str, Digest] = {}

    def members(self) -> Iterator[Member]:
        """Yield each member in archive order.

        Raises:
            InvalidArchive: the stream is truncated or damaged, a member has an unsafe
                or unknown name, appears twice, or is not a regular file.
        """
        while True:
            try:
                info = self._tar.next()
            except _DAMAGE as exc:
                raise _damaged(exc) from exc
            if info is None:
                self._read_to_the_end()
                return
            kind = member_kind(info.name)
            if not info.isreg():
                raise InvalidArchive(f"Member {shown(info.name)} is not a regular file.")
            if info.name in self.digests:
                raise InvalidArchive(f"The archive holds member {shown(info.name)} twice.")
            extracted = self._tar.extractfile(info)
            if extracted is None:  # pragma: no cover - regular files always extract
                raise InvalidArchive(f"Member {shown(info.name)} cannot be read.")
            stream = _Hashing(extracted, None)
            yield Member(info.name, kind, info.size, stream)
            while stream.read(_CHUNK):  # what the reader left, for the digest
                pass
            self.digests[info.name] = stream.digest()

    def _read_to_the_end(self) -> None:
        """Read past the tar's end blocks to the gzip trailer, which checks the whole."""
        try:
            while self._gzip.read(_CHUNK):
                pass
        except _DAMAGE as exc:
            raise _damaged(exc) from exc
