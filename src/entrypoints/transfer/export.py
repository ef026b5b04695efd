"""``flextype export``: a whole project, whatever its driver, into one archive stream."""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import msgspec

import flextype_core
from flextype_adapters.atomic import open_atomic
from flextype_core import ids
from flextype_core.archive import (
    ENTRIES_PER_MEMBER,
    FORMAT,
    FORMAT_VERSION,
    HEADER,
    MEDIA_INDEX,
    SETTINGS,
    TOKENS,
    WEBHOOKS,
    Counts,
    EntryRecord,
    Header,
    Manifest,
    MediaFileRecord,
    MediaFolderRecord,
    WebhookRecord,
    encode_lines,
    entries_member,
    inexact,
    media_file_member,
)
from flextype_core.errors import BadRequest, WebhookNotFound, shown
from flextype_core.model import Entry
from flextype_core.ports import MediaStore
from flextype_core.webhook_port import WebhookStore
from flextype_entrypoints.project import Project
from flextype_entrypoints.transfer.progress import ProgressBars
from flextype_entrypoints.transfer.readable import refuse_unreadable
from flextype_entrypoints.transfer.settings_file import exported_settings
from flextype_entrypoints.transfer.stream import ArchiveWriter

__all__ = ["export_project", "export_to_path"]


def _stored_size(store: MediaStore, file_id: str, recorded: object) -> int:
    """The size of a file's bytes as stored.

    On disk the file's own (exact even if a sidecar edited by hand says otherwise); a
    bucket's stream cannot seek, but its objects never change after their metadata
    recorded their size; without one, the bytes are counted.
    """
    with store.open(file_id) as stream:
        if stream.seekable():
            return stream.seek(0, io.SEEK_END)
        if isinstance(recorded, int) and not isinstance(recorded, bool):
            return recorded
        size = 0
        while chunk := stream.read(1024 * 1024):
            size += len(chunk)
        return size


def _media_listing(store: MediaStore) -> tuple[list[MediaFolderRecord], list[MediaFileRecord]]:
    """Every folder and file below the media root, each file with its size as stored."""
    folders: list[MediaFolderRecord] = []
    files: list[MediaFileRecord] = []
    pending = [ids.ROOT]
    while pending:
        folder = pending.pop()
        for file in store.files(folder):
            size = _stored_size(store, file.id, file.meta.get("filesize"))
            why = inexact(file.meta)
            if why is not None:
                raise BadRequest(
                    f"The metadata of file {shown(file.id)} cannot be exported: "
                    f"field {why.lstrip('.')}."
                )
            files.append(MediaFileRecord(id=file.id, size=size, meta=file.meta))
        children = store.folders(folder)
        folders.extend(MediaFolderRecord(id=child) for child in children)
        pending.extend(children)
    folders.sort(key=lambda f: f.id)
    files.sort(key=lambda f: f.id)
    return folders, files


def _entry_records(entries: Sequence[Entry]) -> list[EntryRecord]:
    records = []
    for entry in entries:
        why = inexact(entry.fields)
        if why is not None:
            raise BadRequest(
                f"Entry {shown(entry.id)} cannot be exported: field {why.lstrip('.')}."
            )
        records.append(EntryRecord(id=entry.id, fields=entry.fields))
    return records


def webhook_records(store: WebhookStore) -> list[WebhookRecord]:
    """Every webhook with its signing secret, oldest first (one deleted meanwhile is not)."""
    records = []
    for hook in store.all():
        try:
            records.append(WebhookRecord(webhook=hook, secret=store.secret(hook.id)))
        except WebhookNotFound:
            continue
    return records


def export_project(project: Project, out: BinaryIO, bars: ProgressBars) -> Counts:
    """Write ``project`` as an archive (``flextype_core.archive``) to ``out``; return its counts.

    Writers of the project wait while it runs (the stores' ``exclusive`` blocks), so the
    archive is one consistent state; readers go on. Webhooks go with their signing
    secrets (not their delivery logs, nor where they stand in this project's change log).

    Raises:
        BadRequest: a value has no exact JSON form (a NaN, bytes...): nothing is kept.
    """
    container = project.container
    entry_store, token_store = container.entry_store(), container.token_store()
    media_store = container.media_store()
    with ExitStack() as held:
        for store in (entry_store, token_store, media_store):
            held.enter_context(store.exclusive())
        entries = entry_store.descendants(ids.ROOT, None)
        tokens = token_store.list()
        webhooks = webhook_records(container.webhook_store())
        folders, files = _media_listing(media_store)
        refuse_unreadable(
            entry_store, token_store, media_store, [ids.ROOT, *(f.id for f in folders)]
        )
        header = Header(
            format=FORMAT,
            format_version=FORMAT_VERSION,
            flextype_py=flextype_core.__version__,
            created_at=int(time.time()),
            source_driver=project.settings.storage.driver,
            counts=Counts(
                entries=len(entries),
                tokens=len(tokens),
                media_files=len(files),
                media_folders=len(folders),
                media_bytes=sum(f.size for f in files),
                webhooks=len(webhooks),
            ),
        )
        advance_entries = bars.task("entries", len(entries))
        advance_media = bars.task("media bytes", header.counts.media_bytes)
        writer = held.enter_context(ArchiveWriter(out, created_at=header.created_at))
        writer.add(HEADER, msgspec.json.encode(header))
        writer.add(SETTINGS, msgspec.json.encode(exported_settings(project.path)))
        writer.add(TOKENS, encode_lines(tokens))
        writer.add(WEBHOOKS, encode_lines(webhooks))
        for number, start in enumerate(range(0, len(entries), ENTRIES_PER_MEMBER), start=1):
            chunk = entries[start : start + ENTRIES_PER_MEMBER]
            writer.add(entries_member(number), encode_lines(_entry_records(chunk)))
            advance_entries(len(chunk))
        writer.add(MEDIA_INDEX, encode_lines([*folders, *files]))
        for file in files:
            with media_store.open(file.id) as stream:
                writer.add_stream(media_file_member(file.id), stream, file.size, advance_media)
        manifest = Manifest(**msgspec.structs.asdict(header), members=writer.digests)
        writer.finish(msgspec.json.encode(manifest))
    return header.counts


def export_to_path(project: Project, path: Path, bars: ProgressBars) -> Counts:
    """``export_project`` into the file ``path``, replaced atomically, mode 0600.

    The archive holds the tokens' hashes and the webhooks' signing secrets. A failed
    export leaves no file (and an existing one untouched) at ``path``.

    Raises:
        BadRequest: ``path``'s folder does not exist, or as ``export_project``.
    """
    if not path.parent.is_dir():
        raise BadRequest(f"Cannot write {path}: there is no folder {path.parent}.")
    with open_atomic(path, private=True) as out:
        return export_project(project, out, bars)
