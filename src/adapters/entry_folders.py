"""The folders of the YAML entry store: a new subtree renamed in whole, empty folders pruned."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path

from flextype_adapters.atomic import fsync_dir, write_atomic
from flextype_adapters.entry_files import ENTRY_FILE
from flextype_core import ids

__all__ = ["create_subtree", "new_subtree_root", "prune", "remove_empty_folders", "undo_create"]


def new_subtree_root(documents: Mapping[str, bytes], base: Path) -> str | None:
    """The id under which all of several new entries lie, if its folder is still free."""
    if len(documents) < 2:
        return None
    root = min(documents, key=len)
    if not all(ids.is_within(entry_id, root) for entry_id in documents):
        return None
    return None if (base / root).exists() else root


def create_subtree(base: Path, root: str, documents: Mapping[str, bytes]) -> None:
    """Write a whole new subtree (a copy) in a hidden staging folder, then rename it in.

    A crash leaves either no subtree or all of it: the rename is the one step that
    makes it appear. A crashed staging folder is hidden, so never read as entries.
    """
    stage = base / f".staging-{uuid.uuid4().hex}"
    staged = stage / root.rsplit("/", 1)[-1]
    try:
        for entry_id, data in documents.items():
            relative = entry_id[len(root) :].lstrip("/")
            write_atomic(staged / relative / ENTRY_FILE, data)
        target = base / root
        target.parent.mkdir(parents=True, exist_ok=True)
        staged.rename(target)
        fsync_dir(target.parent)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def remove_empty_folders(folder: Path) -> None:
    """Remove ``folder`` and the folders in it, as far as they hold nothing."""
    if not folder.is_dir():
        return
    for current, _, _ in os.walk(folder, topdown=False):
        with contextlib.suppress(OSError):  # not empty: it stays
            Path(current).rmdir()


def prune(base: Path, folder: Path) -> None:
    """Remove ``folder`` and its ancestors while they are empty, never ``base``."""
    while folder != base and base in folder.parents:
        try:
            folder.rmdir()
        except FileNotFoundError:
            pass
        except OSError:  # not empty: the folders above are not either
            return
        folder = folder.parent


def undo_create(base: Path, written: list[str]) -> None:
    """Remove the entry files a failed create wrote (best effort) and their empty folders."""
    for entry_id in written:
        folder = base / entry_id
        # Best effort: the error that stopped the create is the one to report.
        with contextlib.suppress(OSError):
            (folder / ENTRY_FILE).unlink(missing_ok=True)
        prune(base, folder)
