"""A snapshot of the YAML entry index on disk, so that a start parses only changed files.

Building the index parses every entry file (about 150 us each with libyaml: 15 s for
100k entries). The snapshot keeps, per entry, the identity of its file (inode, size,
mtime in ns) and its fields as JSON; a build takes the fields of every file whose
identity is unchanged from it and parses the rest. It is a cache: written whole and
atomically after a build, never read for anything but that, and ignored (then written
anew) when missing, unreadable, of another format version, or parsed by other rules
(``yaml_codec.PARSE_RULES``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from flextype_adapters.atomic import write_atomic
from flextype_adapters.entry_files import FileIdentity
from flextype_adapters.yaml_codec import PARSE_RULES

__all__ = ["SNAPSHOT_FILE", "Snapshot", "decoded_fields", "load_snapshot", "save_snapshot"]

SNAPSHOT_FILE = ".index"
"""In ``entries/``, hidden like the journal, so never taken for an entry."""

Snapshot = dict[str, tuple[FileIdentity, bytes]]
"""Entry id -> (identity of its file, its fields as JSON)."""

_VERSION = f"1/{PARSE_RULES}"
"""The layout of the file, and the rules the fields were parsed by: both must match."""


class _Stored(msgspec.Struct, array_like=True):
    version: str
    entries: Snapshot


_DECODER = msgspec.msgpack.Decoder(_Stored)
_FIELDS = msgspec.json.Decoder(dict[str, Any])
_ENCODER = msgspec.msgpack.Encoder()


def load_snapshot(path: Path) -> Snapshot:
    """Return the snapshot at ``path``; empty if there is none or it cannot be used."""
    try:
        stored = _DECODER.decode(path.read_bytes())
    except (OSError, msgspec.DecodeError):
        return {}
    return stored.entries if stored.version == _VERSION else {}


def save_snapshot(path: Path, entries: Mapping[str, tuple[FileIdentity, bytes]]) -> None:
    """Write the snapshot atomically; on failure leave things as they are (it is a cache)."""
    with contextlib.suppress(OSError):
        write_atomic(path, _ENCODER.encode(_Stored(version=_VERSION, entries=dict(entries))))


def decoded_fields(fields: bytes) -> dict[str, Any] | None:
    """A snapshot's fields of one entry; None if damaged (the file is parsed instead)."""
    try:
        return _FIELDS.decode(fields)
    except msgspec.DecodeError:
        return None
