"""``flextype import``: an archive into a project's driver, all or nothing.

The archive is read once, front to back. Every member is checked as it comes (names,
ids, tokens, media against the index) and written into a staging project with the
target's driver, through its stores. Only when the manifest, the last member, has
matched every member's digest and the counts does ``Staging.commit`` swap the staged
content in. Any failure before (a truncated or changed archive, a bad item late in
it, a full disk) removes the staging folder: the project is as it was. On postgres the
entries and tokens go into the project's database in one transaction (``Staging``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from flextype_core import ids
from flextype_core.archive import (
    Counts,
    EntryRecord,
    Header,
    Manifest,
    MediaFileRecord,
    MediaFolderRecord,
    MediaRecord,
    check_entry,
    check_header,
    check_manifest,
    check_media,
    check_token,
    decode,
    decode_lines,
    entries_member,
)
from flextype_core.errors import (
    BadRequest,
    Conflict,
    InvalidArchive,
    ServiceUnavailable,
    StorageError,
    shown,
)
from flextype_core.model import Token
from flextype_entrypoints.project import Project, open_project
from flextype_entrypoints.transfer.progress import Advance, ProgressBars, no_progress
from flextype_entrypoints.transfer.settings_file import imported_settings_text
from flextype_entrypoints.transfer.staging import MEDIA, Staging, content_names
from flextype_entrypoints.transfer.stream import ArchiveReader, Member

__all__ = ["ENTRIES_PER_WRITE", "import_archive", "require_empty"]

ENTRIES_PER_WRITE = 10_000
"""Entries handed to the store's all-or-none ``create`` at once: a TinyDB file is
rewritten whole by each call, so the fewer the better, within memory."""

Fields = dict[str, Any]


class _Import:
    """The state of one import: what was read so far, written into ``staging``."""

    def __init__(self, staging: Staging, bars: ProgressBars) -> None:
        self._staging = staging
        container = staging.project.container
        self._entries = container.entry_store()
        self._tokens = container.token_store()
        self._media = container.media_store()
        self._bars = bars
        self.header: Header | None = None
        self.manifest: Manifest | None = None
        self.settings: dict[str, Any] = {}
        self._counts = dict.fromkeys(Counts.__struct_fields__, 0)
        self._pending: dict[str, Fields] = {}
        self._next_entries = 1
        self._files: dict[str, MediaFileRecord] | None = None
        self._received: set[str] = set()
        self._advance_entries: Advance = no_progress
        self._advance_media: Advance = no_progress
        self._handlers: dict[str, Callable[[Member], None]] = {
            "header": self._header,
            "settings": self._settings,
            "tokens": self._token_lines,
            "entries": self._entry_lines,
            "media-index": self._media_index,
            "media-file": self._media_file,
            "manifest": self._manifest,
        }

    def take(self, member: Member) -> None:
        if self.manifest is not None:
            raise InvalidArchive(f"Member {shown(member.name)} comes after the manifest.")
        if self.header is None and member.kind != "header":
            raise InvalidArchive(
                "The archive does not start with its header: not a flextype-py archive."
            )
        self._handlers[member.kind](member)

    def _header(self, member: Member) -> None:
        if self.header is not None:
            raise InvalidArchive("The archive holds two headers.")
        header = decode(member.name, member.read_json(), Header)
        check_header(header)
        self.header = header
        self._advance_entries = self._bars.task("entries", header.counts.entries)
        self._advance_media = self._bars.task("media bytes", header.counts.media_bytes)

    def _settings(self, member: Member) -> None:
        self.settings = decode(member.name, member.read_json(), dict[str, Any])

    def _token_lines(self, member: Member) -> None:
        for token in decode_lines(member.name, member.read_json(), Token):
            check_token(token)
            try:
                self._tokens.create(token)
            except Conflict as exc:
                raise InvalidArchive(f"The archive holds a token twice: {exc}") from exc
            self._count(tokens=1)

    def _entry_lines(self, member: Member) -> None:
        expected = entries_member(self._next_entries)
        if member.name != expected:
            raise InvalidArchive(f"Member {shown(member.name)} comes where {expected} should.")
        self._next_entries += 1
        for record in decode_lines(member.name, member.read_json(), EntryRecord):
            check_entry(record, member.name)
            if record.id in self._pending:
                raise InvalidArchive(f"The archive holds entry {shown(record.id)} twice.")
            self._pending[record.id] = record.fields
        if len(self._pending) >= ENTRIES_PER_WRITE:
            self.flush_entries()

    def flush_entries(self) -> None:
        """Write the entries read and not yet written (all or none)."""
        if not self._pending:
            return
        try:
            self._entries.create(self._pending)
        except Conflict as exc:
            raise InvalidArchive(f"The archive holds an entry twice: {exc}") from exc
        self._count(entries=len(self._pending))
        self._advance_entries(len(self._pending))
        self._pending = {}

    def _media_index(self, member: Member) -> None:
        if self._files is not None:
            raise InvalidArchive("The archive holds two media indexes.")
        records: list[MediaRecord] = decode_lines(
            member.name,
            member.read_json(),
            MediaRecord,  # type: ignore[arg-type]
        )
        self._files = {}
        for record in sorted(records, key=lambda r: r.id):
            check_media(record)
            if isinstance(record, MediaFolderRecord):
                if not self._media.folder_exists(record.id):
                    self._media.create_folder(record.id)
                self._count(media_folders=1)
            elif record.id in self._files:
                raise InvalidArchive(f"The media index lists file {shown(record.id)} twice.")
            else:
                self._files[record.id] = record

    def _media_file(self, member: Member) -> None:
        file_id = member.name.removeprefix("media/files/")
        record = None if self._files is None else self._files.get(file_id)
        if record is None:
            raise InvalidArchive(f"Media file {shown(file_id)} is not in the media index.")
        if member.size != record.size:
            raise InvalidArchive(f"Media file {shown(file_id)} is not the size its index says.")
        with self._media.stage() as upload:
            member.copy_to(upload, self._advance_media)
            self._media.add_file(file_id, upload, record.meta, replace=False)
        self._received.add(file_id)
        self._count(media_files=1, media_bytes=record.size)

    def _manifest(self, member: Member) -> None:
        self.manifest = decode(member.name, member.read_json(), Manifest)

    def _count(self, **more: int) -> None:
        for name, amount in more.items():
            self._counts[name] += amount

    def finish(self, reader: ArchiveReader) -> Counts:
        """Write what is pending and check the whole archive against its manifest.

        Raises:
            InvalidArchive: no manifest (truncated), a digest or a count that differs.
        """
        self.flush_entries()
        if self.header is None:
            raise InvalidArchive("The archive is empty.")
        if self.manifest is None:
            raise InvalidArchive("The archive ends before its manifest: it is truncated.")
        check_manifest(self.header, self.manifest, reader.digests)
        missing = sorted(set(self._files or {}) - self._received)
        if missing:
            raise InvalidArchive(f"The archive lacks the bytes of media file {shown(missing[0])}.")
        counts = Counts(**self._counts)
        if counts != self.header.counts:
            raise InvalidArchive("The archive holds other counts than its header says.")
        return counts


def require_empty(project: Project) -> None:
    """Refuse a project that holds entries or media (its tokens are replaced anyway).

    Raises:
        Conflict: naming the way out (a new project, or ``--replace``).
    """
    media = project.container.media_store()
    if (
        project.container.entry_store().has_descendants(ids.ROOT)
        or media.files(ids.ROOT)
        or media.folders(ids.ROOT)
    ):
        raise Conflict(
            f"The project {project.path} is not empty: it holds entries or media files. "
            f"Import into a new project (flextype init PATH --no-demo), or pass --replace "
            "to replace its content."
        )


def import_archive(path: Path, source: BinaryIO, *, replace: bool, bars: ProgressBars) -> Counts:
    """Load the archive read from ``source`` into the project at ``path``; return its counts.

    The project keeps its driver, its ``storage`` settings and its secrets; its entries,
    tokens, media and other settings become the archive's.

    Raises:
        BadRequest: the project keeps its media in a bucket (``media.driver: s3``).
        Conflict: the project is not empty and ``replace`` is false.
        InvalidArchive: the archive is refused (truncated, changed, unsafe...).
        StorageError: writing failed (a full disk...).
        Either way nothing was changed.
    """
    with open_project(path) as target:
        current = target.settings
        driver = current.storage.driver
        if current.media.driver == "s3":
            # Staged media would be written into the live bucket: a failure would leave
            # them visible, and --replace would add to the media there, not replace them.
            raise BadRequest(
                "import cannot write media into a bucket (media.driver: s3): import "
                "into a project whose media are on disk (media.driver: local)"
            )
        if not replace:
            require_empty(target)
    try:
        with Staging(path, driver, "import", current) as staging:
            state = _Import(staging, bars)
            reader = ArchiveReader(source)
            for member in reader.members():
                state.take(member)
            counts = state.finish(reader)
            settings = imported_settings_text(path, state.settings)
            staging.commit([*content_names(driver), MEDIA], settings)
    except InvalidArchive as exc:
        raise InvalidArchive(f"{exc.message} Nothing was imported.") from exc
    except StorageError as exc:
        raise StorageError(f"{exc.message} Nothing was imported.") from exc
    except ServiceUnavailable as exc:
        raise ServiceUnavailable(f"{exc.message} Nothing was imported.") from exc
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise StorageError(f"The import failed: {reason}. Nothing was imported.") from exc
    return counts
