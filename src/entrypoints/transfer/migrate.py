"""``flextype migrate``: a project's entries and tokens into another driver, then switch to it.

The content is copied through the stores into a staging project with the new driver,
read back and compared, swapped into the project folder, and only then does
``storage.driver`` change in the settings file: the switch is the last step, so a
failure anywhere before leaves the project on its old driver, as it was. Between the
file drivers media stay where they are (both keep them as files in ``media/``); to or
from postgres (metadata and folders as rows, bytes as blobs) they are copied through
the two stores too (``media_copy``). The old driver's content stays until
``--delete-source``. Into postgres, the copy is one transaction of the database,
committed just before the switch (``Staging``). Webhooks go too (with their secrets and
delivery logs), each restarted at the head of the log the project has after the switch
(``webhook_carry``): even between yaml and tinydb, which share their file, since the
content swapped in starts a new change log.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import msgspec

from flextype_core import ids
from flextype_core.errors import BadRequest, Conflict, StorageError, shown
from flextype_core.model import Entry, Token
from flextype_entrypoints.container import build_container
from flextype_entrypoints.database import database_kinds, require_current_schema
from flextype_entrypoints.driver_check import find_mismatch, store_kinds
from flextype_entrypoints.project import Project
from flextype_entrypoints.settings import Settings, load_settings
from flextype_entrypoints.transfer.importer import ENTRIES_PER_WRITE
from flextype_entrypoints.transfer.media_copy import (
    BLOBS_NAME,
    MediaTree,
    copy_media,
    keep_blobs,
    media_tree,
    remove_local_media,
)
from flextype_entrypoints.transfer.progress import ProgressBars
from flextype_entrypoints.transfer.readable import refuse_unreadable
from flextype_entrypoints.transfer.settings_file import read_settings_text, switched_driver_text
from flextype_entrypoints.transfer.staging import (
    MEDIA,
    Staging,
    clear_stores,
    content_names,
    remove_content,
    remove_webhook_files,
)
from flextype_entrypoints.transfer.webhook_carry import (
    Carried,
    carried_from,
    carried_from_file,
    clear_webhooks,
    install_webhooks,
)

__all__ = ["DRIVERS", "Migrated", "migrate_project"]

DRIVERS = ("yaml", "tinydb", "postgres")
"""What ``--to`` accepts."""


class Migrated(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    target: str
    entries: int
    tokens: int
    webhooks: int
    media_files: int
    deleted_source: bool


def _encoded(entries: Sequence[Entry]) -> list[bytes]:
    # Encoded, so that 1, 1.0 and true differ, as Python's == would not tell.
    return [msgspec.json.encode((e.id, e.fields)) for e in entries]


def _settings_for(path: Path, driver: str, database_url: str | None) -> Settings:
    """The project's settings with ``driver`` selected (and ``database_url``, if given).

    Raises:
        BadRequest: postgres without a database URL anywhere.
    """
    settings = load_settings(path, {**os.environ, "FLEXTYPE_STORAGE__DRIVER": driver})
    if database_url is not None:
        database = msgspec.structs.replace(settings.storage.postgres, url=database_url)
        storage = msgspec.structs.replace(settings.storage, postgres=database)
        settings = msgspec.structs.replace(settings, storage=storage)
    if driver == "postgres" and not settings.storage.postgres.url:
        raise BadRequest(
            "--to postgres needs --database-url postgresql://USER:PASSWORD@HOST:PORT/DATABASE "
            "(or storage.postgres.url in flextype.yaml)."
        )
    return settings


def _opened(path: Path, settings: Settings) -> Project:
    return Project(path, build_container(path, os.environ, settings=settings), settings)


def _check_target_free(path: Path, settings: Settings) -> None:
    target = settings.storage.driver
    with _opened(path, settings) as other:
        container = other.container
        if target == "postgres":
            kinds = database_kinds(container)()
        else:
            kinds = store_kinds(container.entry_store(), container.token_store())
    if not kinds:
        return
    if target == "postgres":
        where = f"the database schema {settings.storage.postgres.schema}"
    else:
        names = ", ".join(f"{n}/" if "." not in n else n for n in content_names(target))
        where = f"{target} content ({names})"
    raise Conflict(
        f"The project already holds {where}, from an earlier migrate? Pass --replace to "
        "overwrite it, or remove it first."
    )


def _copy(
    staging: Staging, entries: Sequence[Entry], tokens: Sequence[Token], bars: ProgressBars
) -> None:
    container = staging.project.container
    entry_store, token_store = container.entry_store(), container.token_store()
    advance = bars.task("entries", len(entries))
    for start in range(0, len(entries), ENTRIES_PER_WRITE):
        chunk = entries[start : start + ENTRIES_PER_WRITE]
        entry_store.create({e.id: e.fields for e in chunk})
        advance(len(chunk))
    advance = bars.task("tokens", len(tokens))
    for token in tokens:
        token_store.create(token)
        advance(1)
    advance = bars.task("verify", len(entries) + len(tokens))
    copied = entry_store.descendants(ids.ROOT, None)
    if _encoded(copied) != _encoded(entries):
        raise StorageError("The entries read back from the new driver differ from the old.")
    if token_store.list() != list(tokens):
        raise StorageError("The tokens read back from the new driver differ from the old.")
    advance(len(entries) + len(tokens))


def _copy_webhooks(staging: Staging, carried: list[Carried], bars: ProgressBars) -> None:
    """Install ``carried`` in the staged project (the last write), read back and compare."""
    advance = bars.task("webhooks", len(carried))
    install_webhooks(staging, carried)
    if carried_from(staging.project.container.webhook_store()) != carried:
        raise StorageError("The webhooks read back from the new driver differ from the old.")
    advance(len(carried))


def _source_driver(path: Path, target: Settings) -> str:
    """Return the driver whose content moves to ``target``'s driver.

    That is ``storage.driver``; or, when ``storage.driver`` was already switched to the
    target by hand and the content is still in another driver's files (the mismatch
    every command warns of, naming this command), that other driver.
    """
    configured = load_settings(path, os.environ).storage.driver
    driver = target.storage.driver
    if driver != configured:
        return configured
    with _opened(path, target) as project:
        selected = database_kinds(project.container) if driver == "postgres" else None
        found = find_mismatch(path, driver, selected)
    if found is None:
        raise BadRequest(f"The project already uses the {shown(driver)} driver.")
    return found.other


def migrate_project(
    path: Path,
    target: str,
    *,
    replace: bool,
    delete_source: bool,
    bars: ProgressBars,
    database_url: str | None = None,
) -> Migrated:
    """Move the project's entries, tokens, webhooks (and media) to ``target``; switch to it.

    Args:
        path: the project folder.
        target: ``yaml``, ``tinydb`` or ``postgres``.
        replace: overwrite content the target driver already holds.
        delete_source: remove the old driver's content once switched.
        bars: where progress goes.
        database_url: with ``target`` postgres, the database (written to the settings
            file as ``storage.postgres.url``); by default the settings' own.

    Raises:
        BadRequest: ``target`` is the current driver, postgres without a database URL,
            or postgres on either side with the media in a bucket (``media.driver: s3``).
        Conflict: ``target``'s content is already there (an earlier migrate) and
            ``replace`` is false.
        StorageError: a write failed or the copy reads back different. Nothing changed.
        DatabaseError: a database does not answer, or its schema is another version's.
    """
    target_settings = _settings_for(path, target, database_url)
    if target_settings.media.driver == "s3" and "postgres" in (
        target,
        load_settings(path, os.environ).storage.driver,
    ):
        # The two keep a bucket's media apart (records as objects, or rows), in the
        # one bucket the live project uses: no staging to swap in, nothing to compare.
        raise BadRequest(
            "migrate cannot move media kept in a bucket (media.driver: s3) to or from "
            "postgres: use flextype export, then flextype import into a project on the "
            "other driver"
        )
    source = _source_driver(path, target_settings)
    with _opened(path, _settings_for(path, source, None)) as project:
        require_current_schema(project.container, path)
        if not replace:
            _check_target_free(path, target_settings)
        entry_store = project.container.entry_store()
        token_store = project.container.token_store()
        media_store = project.container.media_store()
        # Only postgres keeps media otherwise than the file drivers do.
        media_moves = "postgres" in (source, target)
        with ExitStack() as held:
            # Writers of the old driver wait until the switch: nothing written meanwhile
            # can be left behind.
            held.enter_context(entry_store.exclusive())
            held.enter_context(token_store.exclusive())
            held.enter_context(media_store.exclusive())
            entries = entry_store.descendants(ids.ROOT, None)
            tokens = token_store.list()
            media = media_tree(media_store) if media_moves else MediaTree([], [])
            refuse_unreadable(entry_store, token_store, media_store, [ids.ROOT, *media.folders])
            if source == "postgres":
                webhooks = carried_from(project.container.webhook_store())
            else:
                webhooks = carried_from_file(path)
            with Staging(path, target, "migrate", target_settings) as staging:
                _copy(staging, entries, tokens, bars)
                names = list(content_names(target))
                if media_moves:
                    copy_media(media_store, staging.project.container.media_store(), media, bars)
                    names.append(BLOBS_NAME if target == "postgres" else MEDIA)
                _copy_webhooks(staging, webhooks, bars)
                if source == "postgres" and not delete_source:
                    keep_blobs(path / MEDIA, staging.path / MEDIA)
                text = switched_driver_text(
                    read_settings_text(path), target, database_url=database_url
                )
                staging.commit(names, text.encode("utf-8"))
            if delete_source and source == "postgres":
                # Committed as the block ends (the blobs went aside with the swap).
                clear_stores(entry_store, token_store, media_store)
                clear_webhooks(project.container.webhook_store())
    if delete_source and source != "postgres":
        remove_content(path, source)
        if target == "postgres":
            remove_local_media(path / MEDIA)
            remove_webhook_files(path)
    return Migrated(
        source=source,
        target=target,
        entries=len(entries),
        tokens=len(tokens),
        webhooks=len(webhooks),
        media_files=len(media.files),
        deleted_source=delete_source,
    )
