"""The storage adapters the contract and parity suites run on, and how to break an entry.

The stores are named by their fixtures (``tests/integration/conftest.py``): a new
driver joins every suite by adding its fixture's name here (and a way to break an entry
by hand to ``damage_entry``).
"""

from __future__ import annotations

import json
from typing import Any

from flextype_adapters.indexed_yaml_files import IndexedYamlFilesEntryStore
from flextype_adapters.postgres.entries import PostgresEntryStore
from flextype_adapters.tinydb_store import AtomicJSONStorage, TinyDBEntryStore
from flextype_adapters.yaml_files import ENTRY_FILE, YamlFilesEntryStore
from flextype_core.ports import EntryStore
from tests.unit.fakes import FakeEntryStore

ENTRY_STORES = ("fake_store", "yaml_store", "indexed_yaml_store", "tinydb_store", "pg_store")
"""EntryStore fixtures. The first, the in-memory fake, is the parity suite's reference."""

TOKEN_STORES = ("fake_token_store", "yaml_token_store", "tinydb_token_store", "pg_token_store")
"""TokenStore fixtures."""


def damage_entry(store: EntryStore, entry_id: str) -> None:
    """Make a stored entry unreadable, as an edit by hand that breaks it would.

    Each medium its own way: a YAML file that does not parse, a TinyDB document whose
    fields are no mapping, a PostgreSQL row whose body is no JSON, the fake's own switch.
    """
    if isinstance(store, FakeEntryStore):
        store.damage(entry_id)
    elif isinstance(store, YamlFilesEntryStore | IndexedYamlFilesEntryStore):
        (store._root / entry_id / ENTRY_FILE).write_bytes(b"title: [unclosed\n")
        if isinstance(store, IndexedYamlFilesEntryStore):
            store.sweep_now()  # an edit by hand is found by the sweep
    elif isinstance(store, TinyDBEntryStore):
        storage = store._storage
        assert isinstance(storage, AtomicJSONStorage)
        data: dict[str, Any] = json.loads(storage.path.read_text(encoding="utf-8"))
        for doc in data["entries"].values():
            if doc["id"] == entry_id:
                doc["fields"] = ["not", "an", "object"]
        by_hand = storage.path.with_name("by-hand.json")
        by_hand.write_text(json.dumps(data), encoding="utf-8")
        by_hand.replace(storage.path)
    elif isinstance(store, PostgresEntryStore):
        store._db.run(
            lambda tx: tx.execute(
                "UPDATE entries SET body = %s WHERE id = %s", [b"not json", entry_id]
            )
        )
    else:
        raise NotImplementedError(f"damage_entry: no way to break an entry of {store!r}")
