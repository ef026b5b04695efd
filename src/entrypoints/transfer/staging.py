"""A hidden project inside a project: imports and migrations write there, then swap it in.

Writes go through the staged project's stores (the same adapters the project uses), so
every driver is filled the same way. Nothing of the real project changes until
``commit``: it renames the staged content folders and files over the live ones (the
live ones go aside, into the staging folder) and writes the settings file, undoing the
renames if any step fails. Leaving the ``with`` block removes the staging folder and
what went aside.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from flextype_adapters.atomic import remove_atomically
from flextype_adapters.folder_swap import FolderSwap
from flextype_entrypoints.project import Project, open_project
from flextype_entrypoints.settings import SETTINGS_FILE

__all__ = ["MEDIA", "Staging", "content_names", "remove_content"]

MEDIA = "media"
_CONTENT = {"yaml": ("entries", "tokens"), "tinydb": ("db.json",)}
_LOCKS = {"yaml": (), "tinydb": (".db.json.lock",)}
"""Lock files beside a driver's content (the YAML driver's are inside its folders)."""


def content_names(driver: str) -> tuple[str, ...]:
    """Return the names in a project folder that hold a driver's entries and tokens."""
    return _CONTENT[driver]


def remove_content(project: Path, driver: str) -> None:
    """Remove a driver's entries and tokens from a project folder (media stay).

    Each vanishes at once (``remove_atomically``); a content folder that is a link (to
    another disk) is removed as a link, what it leads to is left alone.
    """
    for name in (*content_names(driver), *_LOCKS[driver]):
        live = project / name
        if os.path.lexists(live):
            remove_atomically(live)


class Staging:
    """A staging project at ``<project>/.<purpose>-<hex>`` opened with ``driver``.

    Args:
        project: the live project folder.
        driver: the storage driver the staged content is written with.
        purpose: ``import`` or ``migrate``, part of the folder's name.
    """

    def __init__(self, project: Path, driver: str, purpose: str) -> None:
        self.live = project
        self.path = project / f".{purpose}-{uuid.uuid4().hex[:12]}"
        self._swap = FolderSwap(project, self.path)
        try:
            for name in (*content_names(driver), MEDIA):
                if "." not in name:  # a folder, not db.json
                    (self.path / name).mkdir()
            self.project: Project = open_project(self.path, driver=driver)
        except BaseException:
            self._swap.close()
            raise
        self._open = True

    def uploads(self) -> Path:
        """A folder on the media folder's file system for files to move into the media store."""
        folder = self.path / MEDIA / ".uploads"
        folder.mkdir(exist_ok=True)
        return folder

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
        self.close_project()
        self._swap.commit(names, SETTINGS_FILE, settings)

    def __enter__(self) -> Staging:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.close_project()
        finally:
            self._swap.close()
