"""What interrupted writes leave behind, found by name and removed.

A write killed half-way leaves only hidden names that readers skip: ``write_atomic``'s
temporary files (``.<name>.<8 random>.tmp``), hidden twins being filled or emptied
(``.<name>.<12 hex>.tmp`` / ``.deleted``), YAML subtree copies being staged
(``.staging-<32 hex>``) and partly received uploads (``.upload-*``). Nothing reads them,
but they hold disk space until removed here.

Call ``remove_debris`` while holding the writers' lock of the tree, so nothing removed
belongs to a write in progress; where writers work without that lock (uploads being
received, derivative images being cached), pass a ``min_age`` that no write lasts.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

__all__ = ["DEBRIS_NAME", "remove_debris"]

DEBRIS_NAME = re.compile(
    r"\.staging-[0-9a-f]{32}"
    r"|\..+\.[0-9a-f]{12}\.(?:deleted|tmp)"
    r"|\..+\.[a-z0-9_]{8}\.tmp"
    r"|\.upload-[a-z0-9_]{8}"
)
"""The names our writers give to work in progress (and nothing else they write)."""


def remove_debris(
    folder: Path, *, recursive: bool = True, min_age: float = 0.0, prefix: str = ""
) -> int:
    """Remove every file or folder under ``folder`` whose name is ``DEBRIS_NAME``.

    Args:
        folder: where to look (missing: nothing to do).
        recursive: look in subfolders too, but never in hidden ones (``.git``,
            ``media/.uploads``): our writers leave debris only beside what they write.
        min_age: leave what was modified less than this many seconds ago.
        prefix: remove only names that start with it as well.

    Returns:
        How many files and folders were removed.
    """
    removed = 0
    now = time.time()
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            listing = list(os.scandir(current))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in listing:
            is_dir = entry.is_dir(follow_symlinks=False)
            if entry.name.startswith(prefix) and DEBRIS_NAME.fullmatch(entry.name):
                if min_age and now - entry.stat(follow_symlinks=False).st_mtime < min_age:
                    continue
                if is_dir:
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    Path(entry.path).unlink(missing_ok=True)
                removed += 1
            elif is_dir and recursive and not entry.name.startswith("."):
                pending.append(Path(entry.path))
    return removed
