"""Crash-safe file writes: every file the adapters write goes through ``write_atomic``."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["fsync_dir", "fsync_file", "fsync_tree", "write_atomic"]


def write_atomic(path: Path, data: bytes) -> os.stat_result:
    """Replace ``path`` with ``data`` so that a crash leaves the old file or the new one.

    The bytes go to a temporary file in the same directory (so the rename stays on one
    file system), are fsync'd, renamed over ``path``, and the directory is fsync'd so the
    rename itself survives a power cut. Parent directories are created as needed.

    Returns:
        The written file's status, taken before the rename (which keeps its device,
        inode, size and modification time): a later edit by anyone else differs from it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as tmp_file:
            tmp_file.write(data)
            tmp_file.flush()
            os.fsync(tmp_file.fileno())
            status = os.fstat(tmp_file.fileno())
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)
    return status


def fsync_file(path: Path) -> None:
    """Flush a file's contents to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    """Flush a directory's entries (renames, creations, deletions) to disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Flush every file and directory under ``root`` (itself included) to disk.

    For a tree copied into a hidden staging name: once this returns, renaming it into
    place publishes contents that survive a power cut, not empty or partial files.
    """
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            if not path.is_symlink():
                fsync_file(path)
        fsync_dir(Path(folder))
