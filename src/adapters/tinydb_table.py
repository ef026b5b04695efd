"""One TinyDB table read and written as a whole: the base of the TinyDB stores.

The file itself (atomic rewrites, re-reads when it changed, locks): ``tinydb_file``.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator
from typing import Any

from tinydb import TinyDB
from tinydb.storages import Storage

from flextype_adapters.debris import remove_debris
from flextype_adapters.entry_index import next_generation
from flextype_adapters.tinydb_file import AtomicJSONStorage
from flextype_core.errors import StorageError, shown

__all__ = ["TinyDBTable"]


_fallback_locks: weakref.WeakKeyDictionary[Storage, threading.RLock] = weakref.WeakKeyDictionary()
_fallback_guard = threading.Lock()


def _storage_lock(storage: Storage) -> threading.RLock:
    """Return the one lock shared by every store of the database behind ``storage``."""
    if isinstance(storage, AtomicJSONStorage):
        return storage.lock
    # Any other storage (a MemoryStorage in a test, say) gets a lock of its own here.
    with _fallback_guard:
        return _fallback_locks.setdefault(storage, threading.RLock())


class TinyDBTable:
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

    def check(self) -> None:
        """Read the table: the file is read and parsed again only if it changed."""
        with self._lock:
            self._docs()

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

    def _name_of_file(self) -> str:
        """The database file, to tell apart warnings about several projects."""
        if isinstance(self._storage, AtomicJSONStorage):
            return str(self._storage.path)
        return f"storage {id(self._storage)}"

    def _table(self) -> dict[str, Any]:
        return (self._storage.read() or {}).get(self._name, {})

    def _read_afresh(self) -> None:
        """Parse the file on the next read (call it inside ``_transaction``)."""
        if isinstance(self._storage, AtomicJSONStorage):
            self._storage.forget()

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
