"""A hidden project inside a project: imports and migrations write there, then swap it in.

Writes go through the staged project's stores (the same adapters the project uses), so
every driver is filled the same way. Nothing of the real project changes until
``commit``: it renames the staged content folders and files over the live ones (the
live ones go aside, into the staging folder) and writes the settings file, undoing the
renames if any step fails. Leaving the ``with`` block removes the staging folder and
what went aside.

With a file driver the staged stores log no change: ``commit`` removes the project's
change log (``changes.sqlite3``), so the content swapped in starts a new log, with a new
epoch that tells followers of the old one to list everything again (410). The
webhooks' file (``webhooks.sqlite3``) is swapped too: the staged one holds the webhooks
carried over (``webhook_carry``), each at the new log's head; without any, the live one
goes aside and the project has none.

With the postgres driver the entries, tokens and media rows are not files: the staged
project's stores are the database's, inside one transaction that first empties them
(the media's blobs are files, written in the staging folder's ``media/.blobs``). Readers
(of every server) see the old content until ``commit`` commits it, just before the
media and the settings file are swapped; leaving the block without ``commit`` rolls
it back.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

from dependency_injector import providers

from flextype_adapters.atomic import remove_atomically
from flextype_adapters.folder_swap import FolderSwap
from flextype_adapters.sqlite_changes import CHANGES_FILES
from flextype_adapters.sqlite_webhooks import DATABASE_FILES as WEBHOOK_FILES
from flextype_core import ids
from flextype_core.ports import EntryStore, MediaStore, TokenStore
from flextype_entrypoints.container import build_container
from flextype_entrypoints.database import migrate_database
from flextype_entrypoints.project import Project, open_project
from flextype_entrypoints.settings import SETTINGS_FILE, Settings

__all__ = [
    "MEDIA",
    "WEBHOOK_FILES",
    "Staging",
    "clear_stores",
    "content_names",
    "remove_content",
    "remove_webhook_files",
]

MEDIA = "media"
_CONTENT = {"yaml": ("entries", "tokens"), "tinydb": ("db.json",), "postgres": ()}
_LOCKS = {"yaml": (), "tinydb": (".db.json.lock",), "postgres": ()}
"""Lock files beside a driver's content (the YAML driver's are inside its folders)."""


def content_names(driver: str) -> tuple[str, ...]:
    """Return the names in a project folder that hold a driver's entries and tokens."""
    return _CONTENT[driver]


def remove_content(project: Path, driver: str) -> None:
    """Remove a file driver's entries and tokens from a project folder (media stay).

    Each vanishes at once (``remove_atomically``); a content folder that is a link (to
    another disk) is removed as a link, what it leads to is left alone. (A database's
    content goes with ``clear_stores``.)
    """
    for name in (*content_names(driver), *_LOCKS[driver]):
        live = project / name
        if os.path.lexists(live):
            remove_atomically(live)


def remove_webhook_files(project: Path) -> None:
    """Remove the file drivers' webhook store from a project folder.

    SQLite's companions first: a write-ahead log left behind would be read into the
    next database of that name.
    """
    for name in reversed(WEBHOOK_FILES):
        (project / name).unlink(missing_ok=True)


def clear_stores(entries: EntryStore, tokens: TokenStore, media: MediaStore | None) -> None:
    """Delete every entry, token (and media file and folder) of the stores.

    In their ``exclusive`` blocks, so that it happens at once.
    """
    tops = {entry.id.split("/", 1)[0] for entry in entries.descendants(ids.ROOT, None)}
    for top in sorted(tops):
        entries.delete(top)
    for token in tokens.list():
        tokens.delete(token.token)
    if media is not None:
        for folder in media.folders(ids.ROOT):
            media.delete_folder(folder)
        for file in media.listing(ids.ROOT)[0]:
            media.delete_file(file.id)


class _AbandonedError(Exception):
    """Leaves a database transaction that was not committed: it rolls back."""


class Staging:
    """A staging project at ``<project>/.<purpose>-<hex>`` opened with ``driver``.

    Args:
        project: the live project folder.
        driver: the storage driver the staged content is written with.
        purpose: ``import`` or ``migrate``, part of the folder's name.
        settings: with ``postgres``, the settings whose database is written (its
            tables are created if need be); the file drivers take the defaults.
    """

    def __init__(
        self, project: Path, driver: str, purpose: str, settings: Settings | None = None
    ) -> None:
        self.live = project
        self.path = project / f".{purpose}-{uuid.uuid4().hex[:12]}"
        self.driver = driver
        self._swap = FolderSwap(project, self.path)
        self._transaction = ExitStack()
        self._open = False
        try:
            for name in (*content_names(driver), MEDIA):
                if "." not in name:  # a folder, not db.json
                    (self.path / name).mkdir()
            if driver == "postgres":
                if settings is None:
                    raise ValueError("Staging on postgres needs the database's settings")
                container = build_container(self.path, os.environ, settings=settings)
                self.project: Project = Project(self.path, container, settings)
            else:
                self.project = open_project(self.path, driver=driver)
                # Not one change per entry staged: the content comes with a new log.
                self.project.container.change_log.override(providers.Object(None))
            self._open = True
            if driver == "postgres":
                self._begin()
        except BaseException:
            self._close(None, None, None)
            raise

    def _begin(self) -> None:
        """Open the database's transaction: its writers wait, its old content goes."""
        container = self.project.container
        migrate_database(container)
        entries, tokens = container.entry_store(), container.token_store()
        media = container.media_store()
        self._transaction.enter_context(entries.exclusive())
        self._transaction.enter_context(tokens.exclusive())
        self._transaction.enter_context(media.exclusive())
        clear_stores(entries, tokens, media)

    def new_head(self) -> int:
        """The head the project's change log will have once ``commit`` is done.

        A file driver's content comes with a new log: 0. On postgres the log goes on:
        this transaction's changes are appended now, under the change-log lock, which it
        then holds to its commit, so no other writer's change can come between, and the
        head read now is the one after the commit. Call it once every other write of the
        staged content is done.
        """
        if self.driver != "postgres":
            return 0
        container = self.project.container
        with container.postgres_database().exclusive("changes") as tx:  # this transaction
            tx.flush()
        log = container.change_log()
        assert log is not None  # postgres always has one
        return log.head()

    def close_project(self) -> None:
        """Close the staged project (flush, close files) before ``commit``."""
        if self._open:
            self._open = False
            self.project.close()

    def commit(self, names: Sequence[str], settings: bytes | None) -> None:
        """Swap the staged ``names`` in for the live ones, then write ``settings``.

        A name the staging folder lacks leaves the live project without it. If any step
        fails, the steps done are undone and the error is raised: the live project is
        as it was. If the process is killed meanwhile, ``flextype serve`` (through
        ``flextype_adapters.folder_swap.recover_swaps``) undoes them when it starts.
        """
        self._transaction.close()  # the database's content first: see the module's note
        self.close_project()
        if self.driver != "postgres":  # the old log goes aside: a new one starts
            names = [*names, *CHANGES_FILES, *WEBHOOK_FILES]
        self._swap.commit(names, SETTINGS_FILE, settings)

    def __enter__(self) -> Staging:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close(exc_type, exc, tb)

    def _close(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is None:  # left without commit and without an error: still no commit
                exc_type, exc, tb = _AbandonedError, _AbandonedError(), None
            self._transaction.__exit__(exc_type, exc, tb)
        finally:
            try:
                self.close_project()
            finally:
                self._swap.close()
