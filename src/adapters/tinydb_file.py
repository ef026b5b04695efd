"""The TinyDB JSON file (``<project>/db.json``): written atomically, re-read when it changed.

Durability: every write is a full rewrite of the file. The whole database is serialised to
JSON, written to a temporary file in the same directory, fsync'd, renamed over
``db.json``, and the directory is fsync'd (``flextype_adapters.atomic.write_atomic``). When a call
returns, its change survives a kill -9 or a power cut, and a crash at any moment leaves
either the old file or the new one, never a half-written one. TinyDB's
``CachingMiddleware`` is deliberately not used: it would acknowledge writes it has not
made. The price is that a write costs time proportional to the size of the whole
database, so this driver suits small to medium projects. Operations on many entries
(creating several, moving or deleting a subtree) and a flush of token call counts are
each one write.

Reads: the parsed file is kept in memory together with the file's
``(st_mtime_ns, st_size, st_ino)``; every read checks that signature first and re-reads
the file when it changed, so an edit made by another process or by hand is seen on the
next call. (An in-place edit that keeps the size and lands within the file system's
timestamp granularity of the previous write could go unseen; replacing the file, as
every writer here does, always gets a new inode.)

Concurrency: all operations of the stores sharing one database run under one
``threading.RLock`` (TinyDB itself is not thread-safe). Every read-change-write also
holds an exclusive ``flock`` on ``.db.json.lock`` next to the file, so several server
processes never lose one another's writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
from tinydb import TinyDB
from tinydb.storages import Storage

from flextype_adapters.atomic import write_atomic
from flextype_adapters.file_lock import ProcessLock
from flextype_core.errors import StorageError

__all__ = ["AtomicJSONStorage", "Tables", "open_tinydb", "storage_errors"]

Tables = dict[str, dict[str, Any]]
"""TinyDB's raw layout: table name -> document id (a decimal string) -> document."""


@contextlib.contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Turn OS, JSON and decoding failures into ``StorageError`` that starts with ``what``.

    This is the one place such errors are translated. Messages never carry ``str(exc)``
    of an ``OSError``: it holds the absolute path, which must not reach a client.
    """
    try:
        yield
    except OSError as exc:
        raise StorageError(f"{what}: {exc.strerror or type(exc).__name__}.") from exc
    except ValueError as exc:  # json, UTF-8 and msgspec.ValidationError (a ValueError)
        raise StorageError(f"{what}: {exc}.") from exc


class AtomicJSONStorage(Storage):
    """TinyDB storage over a JSON file, written atomically and re-read only when it changed.

    Args:
        path: the database file; it is created by the first write, not by opening.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.lock = threading.RLock()
        """Serialises every operation on this database within the process."""
        self._cache: tuple[tuple[int, int, int], Tables] | None = None
        self._file_lock = ProcessLock(path.with_name(f".{path.name}.lock"))

    def read(self) -> Tables | None:
        """Return the database (shared: callers must not change it), None if empty.

        Raises:
            StorageError: the file cannot be read or is not a TinyDB JSON document.
        """
        with self.lock, storage_errors(f"The database {self.path.name} cannot be read"):
            try:
                file = self.path.open("rb")
            except FileNotFoundError:
                self._cache = None
                return None
            with file:
                # The signature comes from the open file, so it describes the bytes read.
                signature = _signature(os.fstat(file.fileno()))
                if self._cache is not None and self._cache[0] == signature:
                    return self._cache[1]
                raw = file.read()
            if not raw:
                return None
            tables = _check_layout(json.loads(raw.decode("utf-8-sig")), self.path.name)
            if self._cache is not None:
                tables = _kept_where_unchanged(tables, self._cache[1])
            self._cache = (signature, tables)
            return tables

    def unchanged(self) -> Tables | None:
        """Return the database as last read if the file is still that one, else None.

        One ``stat``: never reads the file, nor waits for a writer.
        """
        cache = self._cache
        if cache is None:
            return None
        try:
            signature = _signature(self.path.stat())
        except OSError:
            return None
        return cache[1] if cache[0] == signature else None

    def write(self, data: Tables) -> None:
        """Replace the whole file with ``data``, durably, before returning.

        Raises:
            StorageError: the file cannot be written; it is left as it was.
        """
        with self.transaction():
            # Forget the cache first: TinyDB's own table code edits the dict that ``read``
            # returned before writing it, and a failed write must not leave that edit behind.
            self._cache = None
            with storage_errors(f"The database {self.path.name} cannot be written"):
                # Readable by its owner only: it holds the tokens' access token hashes.
                write_atomic(self.path, _serialise(data), private=True)
                # Safe to pair the new signature with ``data``: our flock keeps every other
                # writer of this file out until we are done.
                self._cache = (_signature(self.path.stat()), data)

    def forget(self) -> None:
        """Make the next ``read`` parse the file, whatever its signature says.

        For counts read under the file lock: a signature of (mtime, size, inode) can
        repeat when another process's two quick writes reuse an inode within one tick
        of the file system's clock. The tables read before are kept for that parse to
        compare with: those found unchanged stay the same objects, so what the stores
        derived from them (the entries' indexes, the entries held in memory) stays too.
        """
        with self.lock:
            if self._cache is not None:
                self._cache = (_NO_SIGNATURE, self._cache[1])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the thread lock and an exclusive lock on the file for a read-change-write.

        Re-entrant: nested transactions of one thread take the file lock only once.
        """
        with self.lock, self._file_lock.held():
            yield


def _signature(stat: os.stat_result) -> tuple[int, int, int]:
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


_NO_SIGNATURE = (-1, -1, -1)
"""No file has it: the tables cached under it are only compared with, never returned."""
_EXACT = msgspec.json.Encoder()


def _kept_where_unchanged(tables: Tables, before: Tables) -> Tables:
    """Return ``tables``, each that holds what it held ``before`` replaced by that object.

    The stores key what they derive from a table on its identity (``_Table._docs``): a
    re-read that changed only the tokens must not make the entries look new. Compared
    as JSON, so that 1, 1.0 and true differ (Python's ``==`` takes them as equal).
    """
    kept = dict(tables)
    for name, table in tables.items():
        old = before.get(name)
        if old is not None and _same_json(old, table):
            kept[name] = old
    return kept


def _same_json(a: object, b: object) -> bool:
    try:
        return _EXACT.encode(a) == _EXACT.encode(b)
    except (TypeError, msgspec.EncodeError):  # what a caller wrote may be no JSON
        return False


def _check_layout(value: object, name: str) -> Tables:
    if not isinstance(value, dict) or not all(isinstance(t, dict) for t in value.values()):
        raise StorageError(f"The database {name} is damaged: expected an object of tables.")
    return value


def _serialise(data: Tables) -> bytes:
    # allow_nan=False keeps the file strict JSON that any other tool can read.
    try:
        return json.dumps(data, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate has no UTF-8 form; escaped as \udXXX it is valid JSON and
        # still reads back as the same string.
        return json.dumps(data, ensure_ascii=True, allow_nan=False).encode("utf-8")


def open_tinydb(path: Path) -> TinyDB:
    """Open the TinyDB database at ``path`` (usually ``<project>/db.json``).

    Nothing is read or created until first used; a missing or empty file is an empty
    database. Close it with ``db.close()``.
    """
    return TinyDB(path, storage=AtomicJSONStorage)
