"""Notice content kept by another storage driver, which the selected driver cannot see."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from flextype_core import ids
from flextype_core.ports import EntryStore, TokenStore

__all__ = [
    "TINYDB_FILE",
    "Mismatch",
    "driver_mismatch",
    "find_mismatch",
    "store_kinds",
    "stored_kinds",
]

TINYDB_FILE = "db.json"
_KINDS = ("entries", "tokens")
_FILE_DRIVERS = ("yaml", "tinydb")
_MAX_PARSED = 1 << 20
"""A db.json larger than this holds content; smaller ones are parsed to see which."""

Kinds = Callable[[], frozenset[str]]


class Mismatch(NamedTuple):
    """The selected driver lacks ``missing`` (entries, tokens), which ``other``'s files hold."""

    driver: str
    other: str
    missing: tuple[str, ...]


def stored_kinds(project: Path, driver: str) -> frozenset[str]:
    """Return which of ``entries`` and ``tokens`` the files of ``driver`` hold any of.

    Cheap on any project size: one directory listing that stops at the first visible
    name per YAML folder (hidden names are locks, the index and leftovers), and for
    TinyDB a parse of ``db.json`` only when it is small. A driver without files in the
    project folder (postgres) holds none there.
    """
    if driver == "tinydb":
        return _tinydb_kinds(project / TINYDB_FILE)
    if driver != "yaml":
        return frozenset()
    found = set()
    if _has_visible(project / "entries", suffix=""):
        found.add("entries")
    if _has_visible(project / "tokens", suffix=".yaml"):
        found.add("tokens")
    return frozenset(found)


def store_kinds(entries: EntryStore, tokens: TokenStore) -> frozenset[str]:
    """Return which of ``entries`` and ``tokens`` two stores hold any of (a database's)."""
    found = set()
    if entries.has_descendants(ids.ROOT):
        found.add("entries")
    if tokens.list():
        found.add("tokens")
    return frozenset(found)


def find_mismatch(project: Path, driver: str, selected: Kinds | None = None) -> Mismatch | None:
    """Return what ``driver`` lacks and another driver's files hold, if anything.

    A file driver is compared with the other file driver. The postgres driver is
    compared with both, and asks ``selected`` (what the database holds: a round trip)
    only when some files hold content, so a project without them never waits for it.
    Content in both places (a migration that kept its source) is no mismatch.
    """
    others = [d for d in _FILE_DRIVERS if d != driver]
    if driver in _FILE_DRIVERS:
        others = others[:1]
    for other in others:
        there = [k for k in _KINDS if k in stored_kinds(project, other)]
        if not there:
            continue
        here = selected() if selected is not None else stored_kinds(project, driver)
        missing = tuple(k for k in there if k not in here)
        return Mismatch(driver, other, missing) if missing else None
    return None


def driver_mismatch(project: Path, driver: str, selected: Kinds | None = None) -> str | None:
    """Return a warning when ``driver`` holds no entries (or tokens) and another does.

    After ``storage.driver`` was switched by hand, the API shows an empty site; this
    names the command that moves the content. ``selected``: as ``find_mismatch``.
    """
    found = find_mismatch(project, driver, selected)
    if found is None:
        return None
    what = " and ".join(found.missing)
    where = TINYDB_FILE if found.other == "tinydb" else ", ".join(f"{k}/" for k in found.missing)
    return (
        f"storage.driver is {driver}, but the {what} are stored by the {found.other} driver "
        f"({where}), so none of them is served. Move them with: "
        f"flextype migrate --to {driver} (or set storage.driver back to {found.other})"
    )


def _has_visible(folder: Path, *, suffix: str) -> bool:
    try:
        with os.scandir(folder) as found:
            return any(not e.name.startswith(".") and e.name.endswith(suffix) for e in found)
    except OSError:  # no folder (the other driver never wrote one) or unreadable
        return False


def _tinydb_kinds(path: Path) -> frozenset[str]:
    try:
        size = path.stat().st_size
        if size > _MAX_PARSED:
            return frozenset(_KINDS)
        tables = json.loads(path.read_bytes())
    except (OSError, ValueError):  # no file, or not JSON: nothing we can show either
        return frozenset()
    if not isinstance(tables, dict):
        return frozenset()
    return frozenset(k for k in _KINDS if isinstance(tables.get(k), dict) and tables[k])
