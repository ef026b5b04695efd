"""Notice content kept by the other storage driver, which the selected driver cannot see."""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["TINYDB_FILE", "driver_mismatch", "stored_kinds"]

TINYDB_FILE = "db.json"
_KINDS = ("entries", "tokens")
_MAX_PARSED = 1 << 20
"""A db.json larger than this holds content; smaller ones are parsed to see which."""


def stored_kinds(project: Path, driver: str) -> frozenset[str]:
    """Return which of ``entries`` and ``tokens`` the files of ``driver`` hold any of.

    Cheap on any project size: one directory listing that stops at the first visible
    name per YAML folder (hidden names are locks, the index and leftovers), and for
    TinyDB a parse of ``db.json`` only when it is small.
    """
    if driver == "tinydb":
        return _tinydb_kinds(project / TINYDB_FILE)
    found = set()
    if _has_visible(project / "entries", suffix=""):
        found.add("entries")
    if _has_visible(project / "tokens", suffix=".yaml"):
        found.add("tokens")
    return frozenset(found)


def driver_mismatch(project: Path, driver: str) -> str | None:
    """Return a warning when ``driver`` holds no entries (or tokens) and the other does.

    After ``storage.driver`` was switched by hand, the API shows an empty site; this
    names the command that moves the content. Content in both drivers (a migration that
    kept its source) is no mismatch.
    """
    other = "yaml" if driver == "tinydb" else "tinydb"
    missing = [k for k in _KINDS if k in stored_kinds(project, other)]
    if missing:
        here = stored_kinds(project, driver)
        missing = [k for k in missing if k not in here]
    if not missing:
        return None
    what = " and ".join(missing)
    where = ", ".join(f"{k}/" for k in missing) if other == "yaml" else TINYDB_FILE
    return (
        f"storage.driver is {driver}, but the {what} are stored by the {other} driver "
        f"({where}), so none of them is served. Move them with: "
        f"flextype migrate --to {driver} (or set storage.driver back to {other})"
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
