"""EntryStore and TokenStore over one TinyDB JSON file (``<project>/db.json``).

The file itself (atomic rewrites, re-reads when it changed, locks): ``tinydb_file``.
Each store reads and writes its table as a whole, one storage write per operation
(``tinydb_table``); the token store lives in ``tinydb_tokens`` and is re-exported here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from tinydb import TinyDB

from flextype_adapters import entry_changes
from flextype_adapters.change_records import ChangeRecords, RefusedChanges
from flextype_adapters.entry_index import EntryIndex, ids_in_range
from flextype_adapters.entry_moves import check_free
from flextype_adapters.log_limit import warn_limited
from flextype_adapters.tinydb_file import AtomicJSONStorage, open_tinydb, storage_errors
from flextype_adapters.tinydb_table import TinyDBTable
from flextype_adapters.tinydb_tokens import TinyDBTokenStore
from flextype_core import ids
from flextype_core.changes import NewChange, entry_etag
from flextype_core.errors import Conflict, EntryNotFound, StorageError, shown
from flextype_core.model import Entry, Selection
from flextype_core.query import Collections, Query
from flextype_core.query.collections import Searcher

__all__ = ["AtomicJSONStorage", "TinyDBEntryStore", "TinyDBTokenStore", "open_tinydb"]

Fields = dict[str, Any]

_ENTRIES = "entries"


class _EntryDoc(msgspec.Struct):
    """How an entry is stored: ``{"id": "<entry id>", "fields": {...}}``."""

    id: str
    fields: dict[str, Any]


class TinyDBEntryStore(TinyDBTable):
    """EntryStore over the ``entries`` table: one document per entry.

    Args:
        db: the database, from ``open_tinydb``; share it with a ``TinyDBTokenStore``.
        changes: the change log each write appends to (``entry_changes``), in the
            write's transaction once the file is written; None: none. What it refuses
            is logged by the next write (``RefusedChanges``).
    """

    def __init__(self, db: TinyDB, *, changes: ChangeRecords | None = None) -> None:
        super().__init__(db, _ENTRIES, key="id", kind="entry")
        self._change_log = changes
        self._refused = RefusedChanges("entry")
        # Per version of the table: every readable entry, and the ids of the others.
        self._entries: tuple[int, EntryIndex, list[str]] | None = None
        self._collections = Collections(self)

    def set_search(self, search: Searcher | None) -> None:
        """Answer searches with ``search`` (``SearchIndex.search``); None scans the entries."""
        self._collections.set_search(search)

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

    def unreadable(self, entry_id: str, depth: int | None) -> list[str]:
        with self._lock:
            return ids_in_range(self._readable_and_broken()[1], entry_id, depth)

    def select(self, parent: str, query: Query) -> Selection:
        # Kept per version of the table: a warm query decodes and indexes nothing.
        return self._collections.select(parent, query)

    def _entry_index(self) -> EntryIndex:
        return self._readable_and_broken()[0]

    def _readable_and_broken(self) -> tuple[EntryIndex, list[str]]:
        """Every readable entry decoded once per version of the table, ids sorted.

        One that cannot be decoded is left out (``get`` names the problem), logged, and
        its id listed second.
        """
        docs = self._docs()
        if self._entries is None or self._entries[0] != self._generation:
            entries, broken = [], []
            for entry_id, (_, doc) in docs.items():
                try:
                    entries.append(self._decode(entry_id, doc, copy_fields=False))
                except StorageError as exc:
                    broken.append(entry_id)
                    warn_limited(
                        f"entry:{self._name_of_file()}:{entry_id}",
                        "%s It is left out of collections.",
                        exc.message,
                    )
            self._entries = (self._generation, EntryIndex(entries), sorted(broken))
        return self._entries[1], self._entries[2]

    def create(self, entries: Mapping[str, Fields]) -> None:
        with self._transaction():
            self._insert(entries)
            if self._change_log is not None:
                self._log(entry_changes.created(entries))

    def _insert(self, entries: Mapping[str, Fields]) -> None:
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
            if self._change_log is not None:
                self._log(entry_changes.updated(entry_id, fields))
            return self.get(entry_id)

    def move(
        self, entry_id: str, new_id: str, *, expect: Callable[[Entry], None] | None = None
    ) -> None:
        with self._transaction():
            check_free(self, entry_id, new_id, expect)
            table = dict(self._table())
            moved: dict[str, Any] = {}
            for doc_id, doc in table.items():
                if ids.is_within(doc["id"], entry_id):
                    table[doc_id] = {**doc, "id": ids.rebase(doc["id"], entry_id, new_id)}
                    moved[doc["id"]] = doc
            self._write(table)
            if self._change_log is not None:
                order = entry_changes.subtree_order(entry_id, True, moved.keys() - {entry_id})
                subtree = [(i, self._fields_or_none(i, moved[i])) for i in order]
                self._log(entry_changes.moved(subtree, entry_id, new_id))

    def copy(
        self,
        entry_id: str,
        new_id: str,
        renew: Callable[[Fields], Fields],
        *,
        expect: Callable[[Entry], None] | None = None,
    ) -> Entry:
        with self._transaction():
            check_free(self, entry_id, new_id, expect)
            index, broken = self._readable_and_broken()
            broken_below = ids_in_range(broken, entry_id, None)
            if broken_below:
                raise StorageError(
                    f"Entry {shown(entry_id)} cannot be copied: {len(broken_below)} entries "
                    f"below it cannot be read, such as {shown(broken_below[0])}."
                )
            copies = {new_id: renew(self.get(entry_id).fields)}
            for entry in index.below(entry_id, None):
                # A deep copy: the index's fields are shared, renew may change what it gets.
                copies[ids.rebase(entry.id, entry_id, new_id)] = renew(copy.deepcopy(entry.fields))
            self._insert(copies)
            if self._change_log is not None:
                self._log(entry_changes.copied(copies, entry_id, new_id))
            return self.get(new_id)

    def delete(
        self, entry_id: str, *, expect: Callable[[Entry | None], None] | None = None
    ) -> None:
        with self._transaction():
            table = self._table()
            docs = self._docs()  # validates every document's id before we rely on doc["id"]
            kept = {k: d for k, d in table.items() if not ids.is_within(d["id"], entry_id)}
            if len(kept) == len(table):
                raise EntryNotFound(entry_id)
            if expect is not None:
                expect(self.get(entry_id) if entry_id in docs else None)
            self._write(kept)
            if self._change_log is not None:
                gone = {d["id"] for k, d in table.items() if k not in kept} - {entry_id}
                order = entry_changes.subtree_order(entry_id, entry_id in docs, gone)
                self._log(entry_changes.deleted(order))

    def _log(self, changes: list[NewChange]) -> None:
        """Append a write's changes, in its transaction (after those refused before)."""
        if self._change_log is not None:
            self._refused.append(self._change_log, changes, self._etag_now)

    def _etag_now(self, entry_id: str) -> str | None:
        """The entry's etag as the table holds it now; None if there is no such entry."""
        found = self._docs().get(entry_id)
        if found is None:
            return None
        return entry_etag(entry_id, self._decode(entry_id, found[1], copy_fields=False).fields)

    def _fields_or_none(self, entry_id: str, doc: Any) -> Fields | None:
        """The stored fields of a document; None if it cannot be decoded."""
        try:
            return self._decode(entry_id, doc, copy_fields=False).fields
        except StorageError:
            return None

    def _decode(self, entry_id: str, doc: Any, *, copy_fields: bool = True) -> Entry:
        with storage_errors(f"Entry {shown(entry_id)} cannot be read"):
            stored = msgspec.convert(doc, type=_EntryDoc)
        # A deep copy for callers who may change the fields: the cache must not change
        # with them. The index's own entries are shared read-only and need none.
        fields = copy.deepcopy(stored.fields) if copy_fields else stored.fields
        return Entry(id=entry_id, fields=fields)
