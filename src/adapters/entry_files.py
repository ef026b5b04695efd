"""The files of an entry's folder: which one holds the entry, how it parses, and the walk.

Entry ``a/b`` is the folder ``a/b`` under the entries root, holding ``entry.yaml`` (what
every write produces) or, in a project from Flextype, ``entry.md`` (YAML front matter
and a body). A file is known by its identity (inode, size, mtime): one replaced or
edited has another, which is how the caches and the index tell a change. Symbolic links
leading out of the root are never followed (``flextype_adapters.confine``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from stat import S_ISLNK, S_ISREG
from typing import Any

import msgspec

from flextype_adapters.confine import Confinement, identity_of
from flextype_adapters.flextype_dates import with_flextype_dates
from flextype_adapters.log_limit import warn_limited
from flextype_adapters.yaml_codec import load_front_matter, load_mapping
from flextype_core import ids
from flextype_core.errors import InvalidId, StorageError

__all__ = [
    "ENTRY_FILE",
    "ENTRY_PARSERS",
    "LEGACY_ENTRY_FILE",
    "FileIdentity",
    "entry_file_identity",
    "walk_entry_files",
    "warn_unreadable",
]

ENTRY_FILE = "entry.yaml"
"""What every write produces: the entry's fields as one YAML mapping."""
LEGACY_ENTRY_FILE = "entry.md"
"""Flextype's front matter format, read when a folder has no ``entry.yaml``."""

FileIdentity = tuple[int, int, int]
"""(inode, size, mtime in ns) of an entry file."""


def _parse_fields(data: bytes, _: int) -> bytes:
    """Parse an entry file; keep it as JSON, which decodes far faster than YAML parses."""
    return msgspec.json.encode(load_mapping(data.decode("utf-8-sig")))


def _parse_flextype_fields(data: bytes, mtime_ns: int) -> bytes:
    """Parse Flextype's entry.md as Flextype answered it: its dates in Unix seconds."""
    fields: dict[str, Any] = load_front_matter(data.decode("utf-8-sig"))
    return msgspec.json.encode(with_flextype_dates(fields, mtime_ns // 1_000_000_000))


ENTRY_PARSERS = (
    (ENTRY_FILE, _parse_fields),
    (LEGACY_ENTRY_FILE, _parse_flextype_fields),
)
"""Each entry file's name and parser (bytes, mtime in ns -> fields as JSON), in the
order a read tries them."""


def entry_file_identity(folder: str, confinement: Confinement) -> FileIdentity | None:
    """Return the identity of the entry file in ``folder``; None if it holds no entry.

    That of the file ``get`` reads first (``entry.yaml``, else ``entry.md``), even when
    it is no regular file (``get`` then fails), provided one of them is one (``exists``).
    A file that is a symbolic link leading out of ``confinement`` counts as missing (so
    does it for ``get``); links in ``folder``'s own path are the caller's to check.
    """
    first: FileIdentity | None = None
    for name in (ENTRY_FILE, LEGACY_ENTRY_FILE):
        path = os.path.join(folder, name)  # noqa: PTH118
        try:
            # lstat, not stat: as cheap, and it tells a link, whose target is checked.
            stat = os.lstat(path)
            if S_ISLNK(stat.st_mode):
                stat = os.stat(path)  # noqa: PTH116
                if not confinement.admits(path, identity_of(stat)):
                    continue
        except (FileNotFoundError, NotADirectoryError):
            continue
        if first is None:
            first = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if S_ISREG(stat.st_mode):
            return first
    return None


def walk_entry_files(
    entry_id: str, base: str, depth: int | None, confinement: Confinement
) -> Iterator[tuple[str, FileIdentity]]:
    """Yield (id, identity of its entry file) for each entry below ``entry_id``, unordered.

    ``base`` is the folder of ``entry_id``, known to lie inside the root; ``depth`` None
    is every level. Text paths and one ``stat`` per folder: a 100k-entry walk spends its
    time here.
    """
    if depth is not None and depth < 1:
        return
    try:
        with os.scandir(base) as listing:
            # A link (d_type tells, no system call) is followed only if it stays inside.
            folders = [
                e.path
                for e in listing
                if not e.name.startswith(".")
                and e.is_dir()
                and (not e.is_symlink() or confinement.contains(e.path))
            ]
    except (FileNotFoundError, NotADirectoryError):
        return
    for folder in folders:
        name = os.path.basename(folder)  # noqa: PTH119
        child_id = f"{entry_id}/{name}" if entry_id else name
        # A folder whose name is no valid id cannot be addressed: skip its subtree
        # (this also bounds a walk through a symlink loop).
        if not _is_entry_id(child_id):
            continue
        identity = entry_file_identity(folder, confinement)
        if identity is not None:
            yield child_id, identity
        yield from walk_entry_files(
            child_id, folder, None if depth is None else depth - 1, confinement
        )


def _is_entry_id(candidate: str) -> bool:
    try:
        ids.parse_entry_id(candidate)
    except InvalidId:
        return False
    return True


def warn_unreadable(root: str, entry_id: str, error: StorageError) -> None:
    """Log (at most once a minute) that an entry is left out of a listing, and why."""
    warn_limited(
        f"entry:{root}:{entry_id}",
        "%s It is left out of collections.",
        error.message,
    )
