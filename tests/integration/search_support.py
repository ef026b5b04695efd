"""File stores answering searches through their SQLite FTS5 index, as the container wires them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from flextype_adapters.indexed_yaml_files import IndexedYamlFilesEntryStore
from flextype_adapters.sqlite_changes import CHANGES_FILE, SqliteChangeLog
from flextype_adapters.sqlite_search import SEARCH_FILE, SqliteSearchIndex
from flextype_adapters.tinydb_store import TinyDBEntryStore, open_tinydb
from flextype_adapters.yaml_files import YamlFilesEntryStore
from flextype_core import EntriesService
from tests.unit.fakes import FixedClock, SequenceIdFactory

FILE_KINDS = ("yaml", "indexed_yaml", "tinydb")
"""The file stores that search through the index."""

Store = YamlFilesEntryStore | IndexedYamlFilesEntryStore | TinyDBEntryStore


class Searched(NamedTuple):
    """A project folder's store, its change log and index, and a service over them."""

    folder: Path
    store: Store
    log: SqliteChangeLog
    search_index: SqliteSearchIndex
    entries: EntriesService

    def ids(self, q: str, **search: Any) -> list[str]:
        """The ids a search of every entry finds, in the answer's order."""
        options = {"find": {"depth": "all"}, "search": {"q": q, **search}}
        return [item["id"] for item in self.entries.query("", options).data]


@contextlib.contextmanager
def searched(kind: str, folder: Path, *, strict: bool = True) -> Iterator[Searched]:
    """A ``kind`` store in ``folder`` (a project folder) searching through its index.

    ``strict``: an index that cannot answer raises (no scan standing in for it).
    """
    folder.mkdir(parents=True, exist_ok=True)
    log = SqliteChangeLog(folder / CHANGES_FILE)
    db = None
    store: Store
    if kind == "yaml":
        store = YamlFilesEntryStore(folder / "entries", changes=log)
    elif kind == "indexed_yaml":
        store = IndexedYamlFilesEntryStore(folder / "entries", changes=log)
    else:
        db = open_tinydb(folder / "db.json")
        store = TinyDBEntryStore(db, changes=log)
    index = SqliteSearchIndex(folder / SEARCH_FILE, store, log, scan_on_failure=not strict)
    store.set_search(index.search)
    service = EntriesService(store, FixedClock(), SequenceIdFactory())
    try:
        yield Searched(folder, store, log, index, service)
    finally:
        index.close()
        log.close()
        if db is not None:
            db.close()


@contextlib.contextmanager
def unlogged(kind: str, folder: Path) -> Iterator[Store]:
    """A ``kind`` store in ``folder`` that writes without any change log or index."""
    if kind == "yaml":
        yield YamlFilesEntryStore(folder / "entries")
    elif kind == "indexed_yaml":
        yield IndexedYamlFilesEntryStore(folder / "entries")
    else:
        db = open_tinydb(folder / "db.json")
        try:
            yield TinyDBEntryStore(db)
        finally:
            db.close()
