"""``flextype migrate``: a project's entries and tokens into another driver, then switch to it.

The content is copied through the stores into a staging project with the new driver,
read back and compared, swapped into the project folder, and only then does
``storage.driver`` change in the settings file: the switch is the last step, so a
failure anywhere before leaves the project on its old driver, as it was. Media stay
where they are (both drivers keep them in ``media/``). The old driver's content stays
until ``--delete-source``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import msgspec

import flextype_core
from flextype_core import ids
from flextype_core.errors import BadRequest, Conflict, StorageError, shown
from flextype_core.model import Entry, Token
from flextype_entrypoints.driver_check import driver_mismatch
from flextype_entrypoints.project import open_project
from flextype_entrypoints.transfer.importer import ENTRIES_PER_WRITE
from flextype_entrypoints.transfer.progress import ProgressBars
from flextype_entrypoints.transfer.readable import refuse_unreadable
from flextype_entrypoints.transfer.settings_file import read_settings_text, switched_driver_text
from flextype_entrypoints.transfer.staging import Staging, content_names, remove_content

__all__ = ["DRIVERS", "Migrated", "migrate_project"]

DRIVERS = ("yaml", "tinydb", "postgres")
"""What ``--to`` accepts; postgres is refused until its driver exists."""


class Migrated(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    target: str
    entries: int
    tokens: int
    deleted_source: bool


def _encoded(entries: Sequence[Entry]) -> list[bytes]:
    # Encoded, so that 1, 1.0 and true differ, as Python's == would not tell.
    return [msgspec.json.encode((e.id, e.fields)) for e in entries]


def _check_target_free(path: Path, target: str) -> None:
    with open_project(path, driver=target) as other:
        entries = other.container.entry_store().has_descendants(ids.ROOT)
        tokens = other.container.token_store().list()
    if entries or tokens:
        names = ", ".join(f"{n}/" if "." not in n else n for n in content_names(target))
        raise Conflict(
            f"The project already holds {target} content ({names}), from an earlier "
            "migrate? Pass --replace to overwrite it, or remove it first."
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


def _source_driver(path: Path, target: str) -> str:
    """Return the driver whose content moves to ``target``.

    That is ``storage.driver``; or, when ``storage.driver`` was already switched to
    ``target`` by hand and the content is still in the other driver's files (the
    mismatch every command warns of, naming this command), that other driver.
    """
    with open_project(path) as project:
        configured = project.settings.storage.driver
    if target != configured:
        return configured
    if driver_mismatch(path, configured) is None:
        raise BadRequest(f"The project already uses the {shown(target)} driver.")
    return "yaml" if configured == "tinydb" else "tinydb"


def migrate_project(
    path: Path, target: str, *, replace: bool, delete_source: bool, bars: ProgressBars
) -> Migrated:
    """Move the project's entries and tokens to the ``target`` driver and switch to it.

    Raises:
        BadRequest: ``target`` is the current driver, or not available (postgres).
        Conflict: ``target``'s content is already there (an earlier migrate) and
            ``replace`` is false.
        StorageError: a write failed or the copy reads back different. Nothing changed.
    """
    if target == "postgres":
        raise BadRequest(
            f"The postgres driver is not available in flextype-py {flextype_core.__version__} "
            "yet; --to takes yaml or tinydb."
        )
    source = _source_driver(path, target)
    with open_project(path, driver=source) as project:
        if not replace:
            _check_target_free(path, target)
        entry_store = project.container.entry_store()
        token_store = project.container.token_store()
        with ExitStack() as held:
            # Writers of the old driver wait until the switch: nothing written meanwhile
            # can be left behind.
            held.enter_context(entry_store.exclusive())
            held.enter_context(token_store.exclusive())
            entries = entry_store.descendants(ids.ROOT, None)
            tokens = token_store.list()
            refuse_unreadable(entry_store, token_store, None, ())
            with Staging(path, target, "migrate") as staging:
                _copy(staging, entries, tokens, bars)
                settings = switched_driver_text(read_settings_text(path), target)
                staging.commit(content_names(target), settings.encode("utf-8"))
    if delete_source:
        remove_content(path, source)
    return Migrated(
        source=source,
        target=target,
        entries=len(entries),
        tokens=len(tokens),
        deleted_source=delete_source,
    )
