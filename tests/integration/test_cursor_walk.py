"""Following ``meta.next`` while entries change: on every store, through EntriesService.

The walk over 1,000 entries, pages of 37, with creates, updates (of the sort key too)
and deletes between pages: every entry that stayed unchanged for the whole walk comes
exactly once (api.md section 10, cursor pagination), and no entry comes twice, but one
updated after it came whose new sort values place it after the cursor: that is the
entry's new version, in its new place (decision 217).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from flextype_core.entries import EntriesService
from flextype_core.errors import BadRequest
from flextype_core.ports import EntryStore
from flextype_core.query.cursor import MemorySecrets
from tests.integration.stores import ENTRY_STORES
from tests.unit.fakes import FixedClock, SequenceIdFactory

ENTRIES = 1_000
PAGE = 37
TITLES = ["alpha", "Alpha", "beta", "Émile", "zèbre", "Zoe", "kelvin", "mu", "10", ""]


@pytest.fixture(params=ENTRY_STORES)
def store(request: pytest.FixtureRequest) -> EntryStore:
    entry_store: EntryStore = request.getfixturevalue(request.param)
    return entry_store


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
def test_a_walk_while_entries_change_sees_each_unchanged_entry_once(
    store: EntryStore, sort: str
) -> None:
    rng = random.Random(f"walk-{sort}")
    service = EntriesService(store, FixedClock(), SequenceIdFactory(), secrets=MemorySecrets())
    live = {f"w/e{n:04d}": _fields(rng) for n in range(ENTRIES)}
    store.create(live)
    unchanged = set(live)
    seen: list[str] = []
    came: dict[str, int] = {}  # id -> the page it came on last
    updated: dict[str, int] = {}  # id -> the page after which it was updated last
    filters: dict[str, Any] = {**SORTS[sort], "limit": PAGE}
    created = 0
    pages = 0
    while True:
        page = service.query("w", {"filter": filters})
        assert page.meta is not None
        for item in page.data:
            if item["id"] in came:  # only a new version, in a new place, comes again
                assert sort != "id", f"{item['id']} came twice in id order"
                assert updated.get(item["id"], -1) >= came[item["id"]], item["id"]
            came[item["id"]] = pages
            seen.append(item["id"])
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
            updated[entry_id] = pages - 1
            unchanged.discard(entry_id)
        for entry_id in rng.sample(sorted(live), 3):
            service.delete(entry_id)
            del live[entry_id]
            unchanged.discard(entry_id)
    for entry_id in unchanged:
        assert seen.count(entry_id) == 1, entry_id
    missed = unchanged - set(seen)
    assert not missed, f"{len(missed)} unchanged entries never came, e.g. {sorted(missed)[:3]}"
    assert pages >= ENTRIES // PAGE


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
