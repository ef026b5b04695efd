"""``SecretStore`` of the file drivers: one 0600 file per secret in ``<project>/secrets/``.

The first process to need a secret writes 32 random bytes to a temporary file, fsyncs
it and links it to its name: ``link`` fails when the name exists, so exactly one
process makes it, and no process ever reads a half-written file. Every later read (any
process) gets the same bytes. The folder is outside ``cache/``: wiping the cache keeps
every cursor valid.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import threading
from pathlib import Path

from flextype_adapters.atomic import PRIVATE_MODE, fsync_dir, hidden_name
from flextype_core.errors import StorageError

__all__ = ["SECRETS_FOLDER", "FileSecretStore"]

SECRETS_FOLDER = "secrets"
_SIZE = 32
_NAME = re.compile(r"^[a-z0-9_]{1,64}$")


class FileSecretStore:
    """Secrets kept as files in ``folder`` (created 0700 when missing)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._lock = threading.Lock()
        self._known: dict[str, bytes] = {}

    def secret(self, name: str) -> bytes:
        """Return the secret ``name``: 32 random bytes made on first use and kept.

        Raises:
            StorageError: the file exists but does not hold 32 bytes (edited by hand).
        """
        if not _NAME.match(name):
            raise ValueError(f"not a secret name: {name!r}")
        with self._lock:
            known = self._known.get(name)
            if known is None:
                known = self._known[name] = self._read_or_make(name)
            return known

    def _read_or_make(self, name: str) -> bytes:
        path = self._folder / f"{name}.key"
        if not path.exists():
            self._make(path)
        value = path.read_bytes()
        if len(value) != _SIZE:
            raise StorageError(f"The secret file secrets/{name}.key is damaged: delete it.")
        return value

    def _make(self, path: Path) -> None:
        self._folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(hidden_name(path.name, f"{secrets.token_hex(4)}.tmp"))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(secrets.token_bytes(_SIZE))
                stream.flush()
                os.fsync(stream.fileno())
            # link() fails if another process made it first: theirs wins.
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
            fsync_dir(path.parent)
        finally:
            tmp.unlink(missing_ok=True)
