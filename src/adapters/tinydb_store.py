"""EntryStore and TokenStore over one TinyDB JSON file (``<project>/db.json``).

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
import copy
import json
import os
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec
from tinydb import TinyDB
from tinydb.storages import Storage

from flextype_adapters.atomic import write_atomic
from flextype_adapters.debris import remove_debris
from flextype_adapters.entry_index import EntryIndex, next_generation
from flextype_adapters.file_lock import ProcessLock
from flextype_core import ids
from flextype_core.errors import Conflict, EntryNotFound, StorageError, TokenNotFound, shown
from flextype_core.model import CallCount, Entry, Token

__all__ = ["AtomicJSONStorage", "TinyDBEntryStore", "TinyDBTokenStore", "open_tinydb"]

Fields = dict[str, Any]
Tables = dict[str, dict[str, Any]]
"""TinyDB's raw layout: table name -> document id (a decimal string) -> document."""

_ENTRIES = "entries"
_TOKENS = "tokens"


@contextlib.contextmanager
def _storage_errors(what: str) -> Iterator[None]:
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
        with self.lock, _storage_errors(f"The database {self.path.name} cannot be read"):
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
            with _storage_errors(f"The database {self.path.name} cannot be written"):
                write_atomic(self.path, _serialise(data))
                # Safe to pair the new signature with ``data``: our flock keeps every other
                # writer of this file out until we are done.
                self._cache = (_signature(self.path.stat()), data)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the thread lock and an exclusive lock on the file for a read-change-write.

        Re-entrant: nested transactions of one thread take the file lock only once.
        """
        with self.lock, self._file_lock.held():
            yield


def _signature(stat: os.stat_result) -> tuple[int, int, int]:
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


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


_fallback_locks: weakref.WeakKeyDictionary[Storage, threading.RLock] = weakref.WeakKeyDictionary()
_fallback_guard = threading.Lock()


def _storage_lock(storage: Storage) -> threading.RLock:
    """Return the one lock shared by every store of the database behind ``storage``."""
    if isinstance(storage, AtomicJSONStorage):
        return storage.lock
    # Any other storage (a MemoryStorage in a test, say) gets a lock of its own here.
    with _fallback_guard:
        return _fallback_locks.setdefault(storage, threading.RLock())


class _Table:
    """One table read and written as a whole, with an index by a document's key field."""

    def __init__(self, db: TinyDB, name: str, key: str, kind: str) -> None:
        self._storage = db.storage
        self._name = name
        self._key = key
        self._kind = kind
        self._lock = _storage_lock(self._storage)
        self._indexed: dict[str, Any] | None = None
        self._index: dict[str, tuple[str, Any]] = {}
        self._generation = next_generation()
        """Changes whenever the table is read anew or written: the table's version."""

    def exclusive(self) -> contextlib.AbstractContextManager[object]:
        """Hold off every other writer of the database (both tables, every process)."""
        return self._transaction()

    def remove_debris(self) -> int:
        """Remove the temporary files interrupted writes of the database file left.

        Only the database's own (``.db.json.<8>.tmp``): its folder is the project's,
        where other tools may keep temporary files of theirs.
        """
        if not isinstance(self._storage, AtomicJSONStorage):
            return 0
        path = self._storage.path
        with self._transaction():
            return remove_debris(path.parent, recursive=False, prefix=f".{path.name}.")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        if isinstance(self._storage, AtomicJSONStorage):
            with self._storage.transaction():
                yield
        else:
            with self._lock:
                yield

    def _table(self) -> dict[str, Any]:
        return (self._storage.read() or {}).get(self._name, {})

    def _docs(self) -> dict[str, tuple[str, Any]]:
        """Return key -> (document id, raw document), rebuilt only when the table changed."""
        table = self._table()
        if table is not self._indexed:
            index: dict[str, tuple[str, Any]] = {}
            for doc_id, doc in table.items():
                key = doc.get(self._key) if isinstance(doc, dict) else None
                if not isinstance(key, str):
                    raise StorageError(
                        f"The {self._name} table is damaged: document {shown(doc_id)} has no "
                        f"{self._kind} id."
                    )
                if key in index:
                    raise StorageError(f"{self._kind.capitalize()} {shown(key)} is stored twice.")
                index[key] = (doc_id, doc)
            self._index, self._indexed = index, table
            self._generation = next_generation()
        return self._index

    def _write(self, table: dict[str, Any]) -> None:
        """Write the database with this table replaced: one storage write."""
        self._storage.write({**(self._storage.read() or {}), self._name: table})

    def _next_doc_id(self, table: dict[str, Any]) -> int:
        # TinyDB's own rule (one more than the largest), so TinyDB tools keep working.
        return max((int(k) for k in table if k.isdecimal()), default=0) + 1


class _EntryDoc(msgspec.Struct):
    """How an entry is stored: ``{"id": "<entry id>", "fields": {...}}``."""

    id: str
    fields: dict[str, Any]


class TinyDBEntryStore(_Table):
    """EntryStore over the ``entries`` table: one document per entry.

    Args:
        db: the database, from ``open_tinydb``; share it with a ``TinyDBTokenStore``.
    """

    def __init__(self, db: TinyDB) -> None:
        super().__init__(db, _ENTRIES, key="id", kind="entry")
        self._entries: tuple[int, EntryIndex] | None = None

    def get(self, entry_id: str) -> Entry:
        with self._lock:
            docs = self._docs()
            if entry_id not in docs:
                raise EntryNotFound(entry_id)
            return self._decode(entry_id, docs[entry_id][1])

    def cached(self, entry_id: str) -> Entry | None:
        # Never waits: a writer holds the lock while it serialises the whole database.
        if not isinstance(self._storage, AtomicJSONStorage) or not self._lock.acquire(
            blocking=False
        ):
            return None
        try:
            tables = self._storage.unchanged()
            if tables is None or tables.get(_ENTRIES, {}) is not self._indexed:
                return None  # the file changed, or the index needs a rebuild
            found = self._index.get(entry_id)
            return None if found is None else self._decode(entry_id, found[1], copy_fields=False)
        finally:
            self._lock.release()

    def exists(self, entry_id: str) -> bool:
        with self._lock:
            return entry_id in self._docs()

    def has_descendants(self, entry_id: str) -> bool:
        with self._lock:
            return self._entry_index().has_below(entry_id)

    def version(self) -> int:
        with self._lock:
            self._docs()
            return self._generation

    def descendants(self, entry_id: str, depth: int | None) -> list[Entry]:
        """Entries below ``entry_id``, shared with the index: callers must not change them."""
        with self._lock:
            return self._entry_index().below(entry_id, depth)

    def _entry_index(self) -> EntryIndex:
        """Every entry decoded once per version of the table, ids sorted."""
        docs = self._docs()
        if self._entries is None or self._entries[0] != self._generation:
            entries = [self._decode(i, doc, copy_fields=False) for i, (_, doc) in docs.items()]
            self._entries = (self._generation, EntryIndex(entries))
        return self._entries[1]

    def create(self, entries: Mapping[str, Fields]) -> None:
        with self._transaction():
            docs = self._docs()
            taken = [i for i in entries if i in docs]
            if taken:
                raise Conflict(f"Entry '{taken[0]}' already exists.")
            if not entries:
                return
            table = dict(self._table())
            doc_id = self._next_doc_id(table)
            for n, (entry_id, fields) in enumerate(entries.items()):
                # A copy: the written data becomes the read cache, which callers must not reach.
                table[str(doc_id + n)] = {"id": entry_id, "fields": copy.deepcopy(dict(fields))}
            self._write(table)

    def update(self, entry_id: str, change: Callable[[Fields], Fields]) -> Entry:
        with self._transaction():
            current = self.get(entry_id)
            fields = copy.deepcopy(change(current.fields))
            doc_id = self._docs()[entry_id][0]
            self._write({**self._table(), doc_id: {"id": entry_id, "fields": fields}})
            return self.get(entry_id)

    def move(self, entry_id: str, new_id: str) -> None:
        with self._transaction():
            if not self.exists(entry_id):
                raise EntryNotFound(entry_id)
            if self.exists(new_id) or self.has_descendants(new_id):
                raise Conflict(f"Entry '{new_id}' already exists.")
            table = dict(self._table())
            for doc_id, doc in table.items():
                if ids.is_within(doc["id"], entry_id):
                    table[doc_id] = {**doc, "id": ids.rebase(doc["id"], entry_id, new_id)}
            self._write(table)

    def delete(self, entry_id: str) -> None:
        with self._transaction():
            table = self._table()
            self._docs()  # validates every document's id before we rely on doc["id"]
            kept = {k: d for k, d in table.items() if not ids.is_within(d["id"], entry_id)}
            if len(kept) == len(table):
                raise EntryNotFound(entry_id)
            self._write(kept)

    def _decode(self, entry_id: str, doc: Any, *, copy_fields: bool = True) -> Entry:
        with _storage_errors(f"Entry {shown(entry_id)} cannot be read"):
            stored = msgspec.convert(doc, type=_EntryDoc)
        # A deep copy for callers who may change the fields: the cache must not change
        # with them. The index's own entries are shared read-only and need none.
        fields = copy.deepcopy(stored.fields) if copy_fields else stored.fields
        return Entry(id=entry_id, fields=fields)


class TinyDBTokenStore(_Table):
    """TokenStore over the ``tokens`` table: one document per token, as its Struct fields.

    Args:
        db: the database, from ``open_tinydb``; share it with a ``TinyDBEntryStore``.
    """

    def __init__(self, db: TinyDB) -> None:
        super().__init__(db, _TOKENS, key="token", kind="token")

    def get(self, token_id: str) -> Token:
        with self._lock:
            docs = self._docs()
            if token_id not in docs:
                raise TokenNotFound(token_id)
            return self._decode(token_id, docs[token_id][1])

    def list(self) -> list[Token]:
        with self._lock:
            docs = self._docs()
            return [self._decode(i, docs[i][1]) for i in sorted(docs)]

    def create(self, token: Token) -> None:
        with self._transaction():
            if token.token in self._docs():
                raise Conflict(f"Token '{token.token}' already exists.")
            table = self._table()
            doc_id = str(self._next_doc_id(table))
            self._write({**table, doc_id: msgspec.to_builtins(token)})

    def update(self, token_id: str, change: Callable[[Token], Token]) -> Token:
        with self._transaction():
            changed = change(self.get(token_id))
            self._put(token_id, changed)
            return changed

    def move(self, token_id: str, new_id: str, modified_at: int) -> Token:
        with self._transaction():
            token = self.get(token_id)
            if new_id in self._docs():
                raise Conflict(f"Token '{new_id}' already exists.")
            moved = msgspec.structs.replace(token, token=new_id, modified_at=modified_at)
            self._put(token_id, moved)
            return moved

    def delete(self, token_id: str) -> None:
        with self._transaction():
            docs = self._docs()
            if token_id not in docs:
                raise TokenNotFound(token_id)
            # No decoding: a token too damaged to read can still be deleted.
            doc_id = docs[token_id][0]
            self._write({k: d for k, d in self._table().items() if k != doc_id})

    def add_calls(self, counts: Mapping[str, CallCount]) -> None:
        with self._transaction():
            docs = self._docs()
            table = dict(self._table())
            for token_id, count in counts.items():
                if token_id in docs:
                    doc_id, doc = docs[token_id]
                    token = self._decode(token_id, doc)
                    table[doc_id] = msgspec.to_builtins(token.counted(count))
            if any(token_id in docs for token_id in counts):
                self._write(table)

    def _put(self, token_id: str, token: Token) -> None:
        """Store ``token`` in the document that holds ``token_id``: one write."""
        doc_id = self._docs()[token_id][0]
        self._write({**self._table(), doc_id: msgspec.to_builtins(token)})

    def _decode(self, token_id: str, doc: Any) -> Token:
        with _storage_errors(f"Token {shown(token_id)} cannot be read"):
            return msgspec.convert(doc, type=Token)
