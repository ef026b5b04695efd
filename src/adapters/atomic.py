"""Crash-safe file writes and removals: every file the adapters write goes through here.

A file is written to a temporary twin and renamed over its name (``write_atomic``,
``open_atomic``); a file or folder is removed by renaming it to a hidden twin first
(``remove_atomically``). Either way a crash leaves the old state or the new one, plus
hidden debris at worst (``flextype_adapters.debris``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "PRIVATE_MODE",
    "fsync_dir",
    "fsync_file",
    "fsync_tree",
    "hidden_name",
    "hidden_twin",
    "new_file_mode",
    "open_atomic",
    "remove_atomically",
    "write_atomic",
]

PRIVATE_MODE = 0o600
"""Files holding secrets (settings, tokens): readable by their owner only."""
_NAME_KEPT = 128
"""Bytes of a name kept in the hidden names made from it: with our suffixes (at most
22 characters) they stay far below the 255 bytes a file name may have, whatever the
name's length, so whatever can be created can be deleted."""


def hidden_name(name: str, suffix: str) -> str:
    """Return ``.<name>.<suffix>``, ``name`` cut to 128 bytes: a hidden twin of ``name``.

    ``suffix`` holds the randomness that keeps twins apart; the name is kept only to
    tell a person whose twin it is. The cut falls between characters.
    """
    kept = name.encode("utf-8", "surrogateescape")[:_NAME_KEPT]
    return f".{kept.decode('utf-8', 'ignore')}.{suffix}"


def hidden_twin(path: Path, purpose: str) -> Path:
    """Return a new hidden name beside ``path``: ``.<name>.<12 hex>.<purpose>``.

    ``purpose`` is ``tmp`` (a twin being filled) or ``deleted`` (being emptied): what a
    crash leaves of either is debris.
    """
    return path.with_name(hidden_name(path.name, f"{uuid.uuid4().hex[:12]}.{purpose}"))


def write_atomic(path: Path, data: bytes, *, private: bool = False) -> os.stat_result:
    """Replace ``path`` with ``data`` so that a crash leaves the old file or the new one.

    The bytes go to a temporary file in the same directory (so the rename stays on one
    file system), are fsync'd, renamed over ``path``, and the directory is fsync'd so the
    rename itself survives a power cut. Parent directories are created as needed.

    The new file gets the mode the umask gives (0644 under the usual 022), as any file
    a program creates; ``private`` makes it 0600 (settings, tokens: they hold secrets).

    Returns:
        The written file's status, taken before the rename (which keeps its device,
        inode, size and modification time): a later edit by anyone else differs from it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_atomic(path, private=private) as stream:
        stream.write(data)
        stream.flush()
        status = os.fstat(stream.fileno())
    return status


def _new_temporary(path: Path, mode: int) -> tuple[int, Path]:
    """Create ``.<name>.<8 random>.tmp`` beside ``path`` (the kernel applies the umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        # 8 hex characters, as the names tempfile.mkstemp gave (debris.DEBRIS_NAME).
        tmp = path.with_name(hidden_name(path.name, f"{secrets.token_hex(4)}.tmp"))
        try:
            return os.open(tmp, flags, mode), tmp
        except FileExistsError:
            continue


def new_file_mode() -> int:
    """Return the mode the process's umask gives a new file (0o644 under 022).

    For files made by other means than ``open`` (an upload's temporary file, made
    private while it was received, then moved into place).
    """
    return 0o666 & ~_umask()


def _umask() -> int:
    try:
        # Linux tells it without changing it (os.umask can only set it).
        with open("/proc/self/status", encoding="ascii") as status:  # noqa: PTH123
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    # Elsewhere: set and restore it. A file made by another thread in between gets
    # the strictest mask, never a looser one.
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def fsync_file(path: Path) -> None:
    """Flush a file's contents to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_atomic(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` through a hidden temporary twin, synced, then renamed.

    Readers of ``target`` see the old file or the whole copy, never part of it; the twin
    is removed when the copy fails.
    """
    temporary = hidden_twin(target, "tmp")
    try:
        shutil.copyfile(source, temporary)
        fsync_file(temporary)
        temporary.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


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


@contextlib.contextmanager
def open_atomic(path: Path, *, private: bool = False) -> Iterator[BinaryIO]:
    """Write ``path`` through a stream, with ``write_atomic``'s guarantee and modes.

    For content too large to hold in memory (a project archive). The stream is a
    temporary file beside ``path``; when the block ends without error it is fsync'd and
    renamed over ``path``; when it raises, it is removed and ``path`` is left as it was.
    The folder must exist.
    """
    fd, tmp = _new_temporary(path, PRIVATE_MODE if private else 0o666)
    try:
        with os.fdopen(fd, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def remove_atomically(path: Path) -> None:
    """Make the file or folder ``path`` vanish at once, then remove what it held.

    It is renamed to a hidden twin first (the rename fsync'd): readers see a whole
    folder go at once, and a crash half-way through leaves only debris. A symbolic link
    is removed as a link: what it leads to is never touched.
    """
    trash = hidden_twin(path, "deleted")
    path.replace(trash)
    fsync_dir(path.parent)
    if trash.is_dir() and not trash.is_symlink():
        shutil.rmtree(trash)
    else:
        trash.unlink()
