"""Swap staged content into a project folder so that a crash half-way can be undone.

An import or a migration fills a hidden staging folder (``<project>/.import-<hex>`` or
``.migrate-<hex>``), then renames its content folders over the live ones, the live ones
going aside into the staging folder, and last writes the settings file. Those are
several renames: a process killed between two of them would leave the project half old,
half new. So before the first rename the swap writes its plan (which names it moves,
which of them existed on each side) and the old settings into the staging folder, and
after the last step a ``committed`` mark. ``recover_swaps``, run when ``flextype serve``
starts, finishes what a killed swap left: with the mark it only removes the staging
folder; without it, it puts every live name back as it was, then removes the folder.
A staging folder whose owner still runs holds a lock, and is left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from flextype_adapters.atomic import fsync_dir, write_atomic
from flextype_adapters.file_lock import ProcessLock, try_lock

__all__ = ["STAGING_NAME", "FolderSwap", "recover_swaps"]

STAGING_NAME = re.compile(r"\.(?:import|migrate)-[0-9a-f]{12}")
"""The names of staging folders in a project folder."""

_LOCK = ".lock"
_PLAN = ".plan.json"
_OLD_SETTINGS = ".old-settings"
_COMMITTED = ".committed"
_ASIDE = ".aside"


class FolderSwap:
    """The staging folder ``staging`` of the project folder ``live``, locked while in use.

    Create it, fill ``staging`` with the new content under the names it will have in
    ``live``, then ``commit``. ``close`` removes the staging folder (after a failed or
    abandoned commit too: the live project is then as it was).
    """

    def __init__(self, live: Path, staging: Path) -> None:
        self.live = live
        self.staging = staging
        staging.mkdir()
        self._lock = contextlib.ExitStack()
        self._lock.enter_context(ProcessLock(staging / _LOCK).held())

    def commit(self, names: Sequence[str], settings_name: str, settings: bytes | None) -> None:
        """Move the staged ``names`` over the live ones, then write the settings file.

        A name the staging folder lacks leaves the live project without it. If a step
        fails, the steps done are undone and the error raised. If the process dies, the
        next ``recover_swaps`` undoes them, unless the swap got as far as its mark.
        """
        plan = {
            "names": [
                {
                    "name": name,
                    "live": os.path.lexists(self.live / name),
                    "staged": os.path.lexists(self.staging / name),
                }
                for name in names
            ],
            "settings": settings_name if settings is not None else None,
        }
        settings_path = self.live / settings_name
        if settings is not None:
            with contextlib.suppress(FileNotFoundError):
                write_atomic(self.staging / _OLD_SETTINGS, settings_path.read_bytes(), private=True)
        write_atomic(self.staging / _PLAN, json.dumps(plan).encode("utf-8"))
        (self.staging / _ASIDE).mkdir()
        try:
            for name in names:
                for source, target in (
                    (self.live / name, self.staging / _ASIDE / name),
                    (self.staging / name, self.live / name),
                ):
                    if os.path.lexists(source):
                        # A name may be nested (media/.blobs): its parent may be missing.
                        target.parent.mkdir(parents=True, exist_ok=True)
                        source.rename(target)
            fsync_dir(self.live)
            if settings is not None:
                write_atomic(settings_path, settings, private=True)
            write_atomic(self.staging / _COMMITTED, b"")
        except BaseException:
            _undo(self.live, self.staging)
            raise

    def close(self) -> None:
        """Remove the staging folder and release it."""
        try:
            shutil.rmtree(self.staging, ignore_errors=True)
        finally:
            self._lock.close()


def recover_swaps(project: Path) -> int:
    """Finish every swap a killed process left in ``project``; return how many.

    A committed swap's staging folder is removed; an uncommitted one's steps are undone
    first, so the live project is as it was before it began. Staging folders still
    locked by a running import or migration are left alone.
    """
    recovered = 0
    try:
        found = [e.path for e in os.scandir(project) if STAGING_NAME.fullmatch(e.name)]
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for path in found:
        staging = Path(path)
        with try_lock(staging / _LOCK) as ours:
            if not ours:
                continue  # an import or a migration is running there
            if not (staging / _COMMITTED).exists():
                _undo(project, staging)
        shutil.rmtree(staging, ignore_errors=True)
        recovered += 1
    return recovered


def _undo(live: Path, staging: Path) -> None:
    """Put back every live name the plan in ``staging`` names, and the old settings."""
    try:
        plan = json.loads((staging / _PLAN).read_bytes())
    except FileNotFoundError:
        return  # the swap never began: the live project was not touched
    aside = staging / _ASIDE
    for step in plan["names"]:
        name = step["name"]
        # The staged version moved in (it is no longer in the staging folder): out again.
        if step["staged"] and not os.path.lexists(staging / name) and os.path.lexists(live / name):
            (live / name).rename(staging / name)
        if step["live"] and os.path.lexists(aside / name) and not os.path.lexists(live / name):
            (aside / name).rename(live / name)
    if plan["settings"] is not None:
        with contextlib.suppress(FileNotFoundError):
            old = (staging / _OLD_SETTINGS).read_bytes()
            write_atomic(live / plan["settings"], old, private=True)
    fsync_dir(live)
