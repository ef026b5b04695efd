"""The DerivativeCache port over files: ``<project>/cache/images/<key[:2]>/<key>``."""

from __future__ import annotations

import re
from pathlib import Path

from flextype_adapters.atomic import write_atomic
from flextype_adapters.debris import remove_debris

__all__ = ["DiskDerivativeCache"]

_KEY = re.compile(r"[0-9a-f]{64}")
_STALE_SECONDS = 3600.0


class DiskDerivativeCache:
    """Derivatives as files, one per key, fanned out by the key's first two characters.

    Files are replaced atomically, so a reader sees a whole derivative or none. Nothing
    is evicted here: deleting the folder (or any file in it) is always safe.

    Args:
        root: the cache folder, normally ``<project>/cache/images``.
    """

    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, key: str) -> Path:
        # Keys come from the core (SHA-256 hex); anything else must not become a path.
        if not _KEY.fullmatch(key):
            raise ValueError(f"Not a derivative cache key: {key!r}")
        return self._root / key[:2] / key

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def put(self, key: str, data: bytes) -> None:
        write_atomic(self._path(key), data)

    def remove_debris(self) -> int:
        """Remove temporary files of interrupted writes (idle an hour: writers take no lock)."""
        return remove_debris(self._root, min_age=_STALE_SECONDS)
