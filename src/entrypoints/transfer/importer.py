"""``flextype import``: an archive into a project's driver, all or nothing.

The archive is read once, front to back. Every member is checked as it comes (names,
ids, tokens, media against the index) and written into a staging project with the
target's driver, through its stores. Only when the manifest, the last member, has
matched every member's digest and the counts does ``Staging.commit`` swap the staged
content in. Any failure before (a truncated or changed archive, a bad item late in
it, a full disk) removes the staging folder: the project is as it was. On postgres the
entries and tokens go into the project's database in one transaction (``Staging``).

Webhooks are installed last (``webhook_carry``), at the head of the log the content
comes with: the archive's, or, from an archive that has none (version 1, made before
webhooks went into archives), the project's own, kept.

Media in a bucket (``media.driver: s3``) have no folder to swap in: they are written
into the live bucket, which must hold no media yet, and on failure the files and
folders written are removed again (``BucketMedia``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from dependency_injector import providers

from flextype_core import ids
from flextype_core.archive import (
    Counts,
    EntryRecord,
    Header,
    Manifest,
    MediaFileRecord,
    MediaFolderRecord,
    MediaRecord,
    WebhookRecord,
    check_entry,
    check_header,
    check_manifest,
    check_media,
    check_token,
    check_webhook,
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
from flextype_core.ports import MediaStore
from flextype_entrypoints.container import build_container
from flextype_entrypoints.project import Project, open_project
from flextype_entrypoints.settings import Settings, load_settings
from flextype_entrypoints.transfer.bucket_import import BucketMedia, require_no_media
from flextype_entrypoints.transfer.progress import Advance, ProgressBars, no_progress
from flextype_entrypoints.transfer.settings_file import imported_settings_text
from flextype_entrypoints.transfer.staging import MEDIA, Staging, content_names
from flextype_entrypoints.transfer.stream import ArchiveReader, Member
from flextype_entrypoints.transfer.webhook_carry import (
    Carried,
    install_webhooks,
    live_webhooks,
)

__all__ = ["ENTRIES_PER_WRITE", "import_archive", "require_empty"]

ENTRIES_PER_WRITE = 10_000
"""Entries handed to the store's all-or-none ``create`` at once: a TinyDB file is
rewritten whole by each call, so the fewer the better, within memory."""

Fields = dict[str, Any]


class _Import:
    """The state of one import: what was read so far, written into ``staging``."""

    def __init__(self, staging: Staging, bars: ProgressBars, media: BucketMedia | None) -> None:
        self._staging = staging
        container = staging.project.container
        self._entries = container.entry_store()
        self._tokens = container.token_store()
        self._media: MediaStore = container.media_store() if media is None else media.store
        self._bucket = media
        self._bars = bars
        self.header: Header | None = None
        self.manifest: Manifest | None = None
        self.settings: dict[str, Any] = {}
        self._counts = dict.fromkeys(Counts.__struct_fields__, 0)
        self._pending: dict[str, Fields] = {}
        self._next_entries = 1
        self._files: dict[str, MediaFileRecord] | None = None
        self.webhooks: dict[str, WebhookRecord] | None = None
        """The archive's webhooks; None when it has no webhooks member."""
        self._received: set[str] = set()
        self._advance_entries: Advance = no_progress
        self._advance_media: Advance = no_progress
        self._handlers: dict[str, Callable[[Member], None]] = {
            "header": self._header,
            "settings": self._settings,
            "tokens": self._token_lines,
            "webhooks": self._webhook_lines,
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

    def _webhook_lines(self, member: Member) -> None:
        # Kept to install last: their position is the log's head once all else is written.
        self.webhooks = {}
        for record in decode_lines(member.name, member.read_json(), WebhookRecord):
            check_webhook(record)
            if record.webhook.id in self.webhooks:
                raise InvalidArchive(f"The archive holds webhook {shown(record.webhook.id)} twice.")
            self.webhooks[record.webhook.id] = record
            self._count(webhooks=1)

    def install_webhooks(self) -> None:
        """Install the archive's webhooks, or the project's own if it has no such member."""
        if self.webhooks is None:
            carried = live_webhooks(self._staging)
        else:
            carried = [Carried(record=record) for record in self.webhooks.values()]
        install_webhooks(self._staging, carried)

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
                    if self._bucket is not None:
                        self._bucket.folders_of(record.id)
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
            if self._bucket is None:
                self._media.add_file(file_id, upload, record.meta, replace=False)
            else:
                self._bucket.add_file(file_id, upload, record.meta)
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
    """Refuse a project that holds entries, media or webhooks.

    Its tokens are replaced anyway (every new project has one); a webhook's secret is
    nowhere else.

    Raises:
        Conflict: naming the way out (a new project, or ``--replace``).
    """
    media = project.container.media_store()
    if (
        project.container.entry_store().has_descendants(ids.ROOT)
        or media.files(ids.ROOT)
        or media.folders(ids.ROOT)
        or project.container.webhook_store().all()
    ):
        raise Conflict(
            f"The project {project.path} is not empty: it holds entries, media files or "
            "webhooks. "
            f"Import into a new project (flextype init PATH --no-demo), or pass --replace "
            "to replace its content."
        )


def import_archive(path: Path, source: BinaryIO, *, replace: bool, bars: ProgressBars) -> Counts:
    """Load the archive read from ``source`` into the project at ``path``; return its counts.

    The project keeps its driver, its ``storage`` settings and its secrets; its entries,
    tokens, webhooks, media and other settings become the archive's (an archive without
    webhooks, of version 1, leaves the project's own). Every webhook starts at the head
    of the project's change log as the import leaves it. Media in a bucket are
    written into it (it must hold none), and removed again if the import fails.

    Raises:
        BadRequest: the project keeps its entries in postgres and its media in a bucket.
        Conflict: the project is not empty and ``replace`` is false, or its bucket
            holds media.
        InvalidArchive: the archive is refused (truncated, changed, unsafe...).
        StorageError: writing failed (a full disk...).
        Either way nothing was changed.
    """
    current = load_settings(path, os.environ)
    if current.media.driver == "s3" and current.storage.driver == "postgres":
        # Its media rows would be the transaction's, the blobs the live bucket's: an
        # undo for that pair is not written (nor tested) yet. Before any connection.
        raise BadRequest(
            "import cannot write media into a bucket (media.driver: s3) with "
            "storage.driver: postgres: import into a project whose media are on disk "
            "(media.driver: local)"
        )
    with open_project(path) as target:
        current = target.settings
        if current.media.driver == "s3":  # first: require_empty would name --replace
            require_no_media(path, target.container.media_store())
        if not replace:
            require_empty(target)
    if current.media.driver != "s3":
        return _imported(path, source, current, bars, None)
    # The live project's store: the bucket, with the lock its servers take.
    live = build_container(path, os.environ, settings=current)
    # What it writes is the new content, which comes with a new change log (``Staging``).
    live.change_log.override(providers.Object(None))
    try:
        bucket = BucketMedia(live.media_store())
        return _imported(path, source, current, bars, bucket)
    finally:
        live.shutdown_resources()


def _imported(
    path: Path,
    source: BinaryIO,
    current: Settings,
    bars: ProgressBars,
    bucket: BucketMedia | None,
) -> Counts:
    """Run the import into a staging project; wrap an error in one that says so."""
    driver = current.storage.driver
    left: list[str] = []
    try:
        with Staging(path, driver, "import", current) as staging:
            state = _Import(staging, bars, bucket)
            try:
                reader = ArchiveReader(source)
                for member in reader.members():
                    state.take(member)
                counts = state.finish(reader)
                state.install_webhooks()
                settings = imported_settings_text(path, state.settings)
                names = content_names(driver) if bucket else [*content_names(driver), MEDIA]
                staging.commit(names, settings)
            except BaseException:
                if bucket is not None:
                    left = bucket.remove()
                raise
    except InvalidArchive as exc:
        raise InvalidArchive(f"{exc.message} {_nothing(left)}") from exc
    except StorageError as exc:
        raise StorageError(f"{exc.message} {_nothing(left)}") from exc
    except ServiceUnavailable as exc:
        raise ServiceUnavailable(f"{exc.message} {_nothing(left)}") from exc
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise StorageError(f"The import failed: {reason}. {_nothing(left)}") from exc
    return counts


def _nothing(left: list[str]) -> str:
    """Say that nothing was imported, or which media of the bucket could not be removed."""
    if not left:
        return "Nothing was imported."
    more = f" (and {len(left) - 1} more)" if len(left) > 1 else ""
    return (
        f"Nothing else was imported, but the media {shown(left[0])}{more} could not be "
        "removed from the bucket: delete them."
    )
