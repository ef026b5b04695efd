"""Following ``meta.next`` while entries change: on every store, through EntriesService.

The walk over 1,000 entries, pages of 37, with creates, updates (of the sort key too)
and deletes between pages: every entry that stayed unchanged for the whole walk comes
exactly once and no entry comes twice (api.md section 10, cursor pagination), also one
updated after it came to a place after the cursor: the change log since the walk's
first page names it, and later pages leave it out (decision 217).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flextype_adapters.indexed_yaml_files import IndexedYamlFilesEntryStore
from flextype_adapters.postgres.changes import PostgresChangeLog
from flextype_adapters.postgres.entries import PostgresEntryStore
from flextype_adapters.sqlite_changes import SqliteChangeLog
from flextype_adapters.tinydb_store import TinyDBEntryStore, open_tinydb
from flextype_adapters.yaml_files import YamlFilesEntryStore
from flextype_core.changes import ChangeLog
from flextype_core.entries import EntriesService
from flextype_core.errors import BadRequest
from flextype_core.ports import EntryStore
from flextype_core.query.cursor import MemorySecrets
from tests.integration.stores import ENTRY_STORES
from tests.unit.fakes import FakeEntryStore, FixedClock, SequenceIdFactory
from tests.unit.feed_fakes import FakeChangeLog

ENTRIES = 1_000
PAGE = 37
TITLES = ["alpha", "Alpha", "beta", "Émile", "zèbre", "Zoe", "kelvin", "mu", "10", ""]


@pytest.fixture(params=ENTRY_STORES)
def store(request: pytest.FixtureRequest) -> EntryStore:
    entry_store: EntryStore = request.getfixturevalue(request.param)
    return entry_store


@pytest.fixture(params=ENTRY_STORES)
def logged(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[EntryStore, ChangeLog]]:
    """Each store with the change log its writes append to, as the container wires them."""
    if request.param == "fake_store":
        fake_log = FakeChangeLog()
        yield FakeEntryStore(changes=fake_log), fake_log
    elif request.param == "pg_store":
        database = request.getfixturevalue("pg_database")
        yield PostgresEntryStore(database), PostgresChangeLog(database)
    else:
        log = SqliteChangeLog(tmp_path / "changes.sqlite3")
        if request.param == "tinydb_store":
            db = open_tinydb(tmp_path / "db.json")
            yield TinyDBEntryStore(db, changes=log), log
            db.close()
        elif request.param == "yaml_store":
            yield YamlFilesEntryStore(tmp_path / "entries", changes=log), log
        else:
            yield IndexedYamlFilesEntryStore(tmp_path / "entries", changes=log), log
        log.close()


def _fields(rng: random.Random) -> dict[str, Any]:
    """Sort keys with ties, missing and null values, non-ASCII text and mixed numbers."""
    fields: dict[str, Any] = {"body": "x"}
    roll = rng.random()
    if roll < 0.8:
        fields["title"] = rng.choice(TITLES)
    elif roll < 0.9:
        fields["title"] = None
    roll = rng.random()
    if roll < 0.85:
        fields["n"] = rng.choice([rng.randint(-5, 40), rng.randint(0, 40) / 4])
    elif roll < 0.92:
        fields["n"] = None
    return fields


SORTS: dict[str, dict[str, Any]] = {
    "id": {},
    "title-desc": {"sort_by": {"key": "title", "direction": "DESC"}},
    "number": {"sort_by": [{"key": "n"}, {"key": "title", "direction": "DESC"}]},
}


@pytest.mark.parametrize("sort", list(SORTS))
def test_a_walk_while_entries_change_sees_no_entry_twice_and_each_unchanged_once(
    logged: tuple[EntryStore, ChangeLog], sort: str
) -> None:
    store, log = logged
    rng = random.Random(f"walk-{sort}")
    service = EntriesService(
        store, FixedClock(), SequenceIdFactory(), secrets=MemorySecrets(), changes=log
    )
    live = {f"w/e{n:04d}": _fields(rng) for n in range(ENTRIES)}
    store.create(live)
    unchanged = set(live)
    seen: set[str] = set()
    filters: dict[str, Any] = {**SORTS[sort], "limit": PAGE}
    created = 0
    pages = 0
    sizes: list[int] = []
    while True:
        page = service.query("w", {"filter": filters})
        assert page.meta is not None
        sizes.append(len(page.data))
        for item in page.data:
            assert item["id"] not in seen, f"{item['id']} came twice (page {pages})"
            seen.add(item["id"])
        pages += 1
        if page.meta.next is None:
            break
        filters = {**filters, "after": page.meta.next}
        for _ in range(3):  # creates, anywhere in the order
            created += 1
            new_id = f"w/{rng.choice('adnz')}{created:04d}"
            store.create({new_id: _fields(rng)})
            live[new_id] = {}
        for entry_id in rng.sample(sorted(live), 3):  # updates, the sort keys too
            service.update(entry_id, _fields(rng))
            unchanged.discard(entry_id)
        for entry_id in rng.sample(sorted(live), 3):
            service.delete(entry_id)
            del live[entry_id]
            unchanged.discard(entry_id)
        moved = rng.choice(sorted(live))  # a move: a new id, anywhere in the order
        service.move(moved, f"w/m{pages:04d}")
        live[f"w/m{pages:04d}"] = live.pop(moved)
        unchanged.discard(moved)
    missed = unchanged - set(seen)
    assert not missed, f"{len(missed)} unchanged entries never came, e.g. {sorted(missed)[:3]}"
    # The store is asked for more than `limit` to make up for those left out: full pages.
    assert sizes[:-1] == [PAGE] * (pages - 1), sizes
    assert pages >= len(unchanged) // PAGE


def test_keyset_pages_match_offset_pages_when_nothing_changes(store: EntryStore) -> None:
    rng = random.Random("still")
    service = EntriesService(store, FixedClock(), SequenceIdFactory(), secrets=MemorySecrets())
    store.create({f"s/e{n:03d}": _fields(rng) for n in range(120)})
    for sort in SORTS.values():
        whole = service.query("s", {"filter": sort}).data
        filters: dict[str, Any] = {**sort, "limit": 11}
        walked: list[dict[str, Any]] = []
        while True:
            page = service.query("s", {"filter": filters})
            assert page.meta is not None and page.meta.total == 120
            walked += page.data
            if page.meta.next is None:
                break
            filters = {**filters, "after": page.meta.next}
        assert [i["id"] for i in walked] == [i["id"] for i in whole], sort


def test_a_cursor_of_another_collection_is_400(store: EntryStore) -> None:
    service = EntriesService(store, FixedClock(), SequenceIdFactory(), secrets=MemorySecrets())
    store.create({"a/x": {}, "a/y": {}, "b/x": {}, "b/y": {}})
    meta = service.query("a", {"filter": {"limit": 1}}).meta
    assert meta is not None and meta.next is not None
    with pytest.raises(BadRequest):
        service.query("b", {"filter": {"limit": 1, "after": meta.next}})
