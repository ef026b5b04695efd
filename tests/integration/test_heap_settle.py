"""The heap settled once a big YAML index is built: full collections no longer walk it.

A frozen object (``gc.freeze``) is one ``gc.get_objects()`` no longer lists: the
collector skips it. Each test starts and ends with nothing frozen.
"""

from __future__ import annotations

import gc
import math
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flextype_adapters.heap import SETTLE_FROM, due, settle_heap
from flextype_adapters.index_snapshot import SNAPSHOT_FILE
from flextype_adapters.indexed_yaml_files import IndexedYamlFilesEntryStore
from flextype_adapters.sqlite_changes import SqliteChangeLog
from flextype_core.query import Query

WITHIN = 30.0
"""Seconds a background build may take on a loaded machine."""


@pytest.fixture(autouse=True)
def nothing_frozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def tracked(value: object) -> bool:
    """Whether the collector walks ``value`` (tracked, and not frozen)."""
    return any(o is value for o in gc.get_objects())


def a_store(root: Path, settle_from: int) -> IndexedYamlFilesEntryStore:
    store = IndexedYamlFilesEntryStore(root, sweep_interval=math.inf, settle_from=settle_from)
    store.create({f"m/{i}": {"title": str(i), "tags": ["a", str(i)]} for i in range(4)})
    return store


def an_entry_held(store: IndexedYamlFilesEntryStore) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields and the public view of an entry the index holds (shared, not copies)."""
    entry = store.descendants("m", None)[0]
    assert gc.is_tracked(entry.fields)  # a list inside: the collector would walk it
    return entry.fields, entry.public


def test_an_index_of_settle_from_entries_is_frozen_once_it_answered_a_query(
    tmp_path: Path,
) -> None:
    store = a_store(tmp_path / "entries", settle_from=4)
    selection = store.select("m", Query(depth=1))
    assert [item["id"] for item in selection.items] == ["m/0", "m/1", "m/2", "m/3"]
    fields, public = an_entry_held(store)
    assert gc.get_freeze_count() > 0
    assert not tracked(fields)
    assert not tracked(public)  # the views the answer made are settled with it


def test_a_smaller_index_leaves_the_heap_alone(tmp_path: Path) -> None:
    store = a_store(tmp_path / "entries", settle_from=5)
    store.select("m", Query(depth=1))
    fields, _ = an_entry_held(store)
    assert gc.get_freeze_count() == 0
    assert tracked(fields)


def test_the_default_waits_for_ten_thousand_entries(tmp_path: Path) -> None:
    store = IndexedYamlFilesEntryStore(tmp_path / "entries", sweep_interval=math.inf)
    store.create({"m/a": {"tags": ["a"]}})
    store.select("m", Query(depth=1))
    assert SETTLE_FROM == 10_000
    assert gc.get_freeze_count() == 0


def test_the_heap_is_settled_again_once_as_many_entries_were_reloaded(tmp_path: Path) -> None:
    store = a_store(tmp_path / "entries", settle_from=3)
    store.select("m", Query(depth=1))  # settled: 4 entries built
    later = ["made after the settle"]
    store.update("m/0", lambda fields: {**fields, "title": "changed"})
    store.select("m", Query(depth=1))
    assert tracked(later)  # one entry reloaded: not yet
    for i in (1, 2, 3):
        store.update(f"m/{i}", lambda fields: {**fields, "title": "changed"})
    store.select("m", Query(depth=1))
    assert not tracked(later)
    fields, _ = an_entry_held(store)
    assert fields["title"] == "changed"
    assert not tracked(fields)


def test_a_build_started_by_a_feed_read_is_settled_by_the_first_query_with_its_views(
    tmp_path: Path,
) -> None:
    root = tmp_path / "entries"
    a_store(root, settle_from=4)
    log = SqliteChangeLog(tmp_path / "changes.sqlite3")
    try:
        store = IndexedYamlFilesEntryStore(
            root, sweep_interval=math.inf, changes=log, settle_from=4
        )
        store.watch()  # what a feed read does: the index is built in the background
        deadline = time.monotonic() + WITHIN
        while not (root / SNAPSHOT_FILE).exists() and time.monotonic() < deadline:
            time.sleep(0.02)  # the snapshot is saved once the build is done
        assert (root / SNAPSHOT_FILE).exists()
        assert gc.get_freeze_count() == 0  # settled now, the views to come would not be
        store.select("m", Query(depth=1))
        fields, public = an_entry_held(store)
        assert not tracked(fields)
        assert not tracked(public)
    finally:
        log.close()


class Node:
    """An object that can be part of a reference cycle."""

    peer: Node | None = None


def test_a_settle_reclaims_a_cycle_that_became_garbage_after_the_last_one() -> None:
    cycle = Node()
    cycle.peer = cycle
    gone = weakref.ref(cycle)
    settle_heap()  # frozen while alive
    del cycle
    gc.collect()
    assert gone() is not None  # a frozen cycle is never collected
    settle_heap()
    assert gone() is None  # memory stays bounded by what is alive


@pytest.mark.parametrize(
    ("loaded", "indexed", "expected"),
    [
        (9_999, 9_999, False),  # a small index never settles on its build
        (10_000, 10_000, True),  # a big one does
        (10_000, 100_000, False),  # a tenth of a big index rewritten: not yet
        (25_000, 100_000, True),  # a quarter
    ],
)
def test_due_needs_settle_from_entries_and_a_quarter_of_the_index(
    loaded: int, indexed: int, expected: bool
) -> None:
    assert due(loaded, indexed) is expected
