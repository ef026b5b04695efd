"""A head of the change log read before a listing names no change the listing lacks (YAML).

``X-Changes-Cursor`` is the log's head, read before the collection: a client that lists,
then follows the feed from that cursor, must see every change either in the listing or
in the feed. So every change at or below a head read before a listing is in that
listing, in the process that wrote it and in every other process of the project, even
while the writer is between its log append and the end of its write. Two store
instances over one folder stand for two processes; a log whose appender stops right
after its commit stands for a writer descheduled there.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from flextype_adapters.indexed_yaml_files import IndexedYamlFilesEntryStore
from flextype_adapters.sqlite_changes import CHANGES_FILE, SqliteChangeLog
from flextype_adapters.yaml_files import ENTRY_FILE
from flextype_core.changes import NewChange

NO_SWEEP = math.inf
WAIT = 60.0


class PausingLog(SqliteChangeLog):
    """The file drivers' log; while ``hold`` is set, an append stops after its commit."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.hold = False
        self.committed = threading.Event()
        self.go_on = threading.Event()

    def append(self, changes: Sequence[NewChange]) -> None:
        super().append(changes)
        if self.hold:
            self.committed.set()
            assert self.go_on.wait(WAIT)


def by_hand(root: Path, entry_id: str, text: str) -> None:
    path = root / entry_id / ENTRY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    saving = path.with_name(".saving")
    saving.write_text(text, encoding="utf-8")
    saving.replace(path)


def listed(store: IndexedYamlFilesEntryStore) -> dict[str, object]:
    return {entry.id: entry.fields.get("title") for entry in store.descendants("", None)}


def while_paused(log: PausingLog, write: Callable[[], object], look: Callable[[], None]) -> None:
    """Run ``write`` in a thread, and ``look`` while it is stopped after its log commit."""
    log.hold = True
    failed: list[BaseException] = []

    def run() -> None:
        try:
            write()
        except BaseException as exc:  # pragma: no cover - reported below
            failed.append(exc)

    writer = threading.Thread(target=run)
    writer.start()
    try:
        assert log.committed.wait(WAIT)
        look()
    finally:
        log.go_on.set()
        writer.join(WAIT)
    assert not failed


@pytest.mark.parametrize("where", ["another process", "the writer's process"])
@pytest.mark.parametrize("write", ["create", "update", "move", "copy", "delete"])
def test_a_listing_after_a_head_holds_every_change_at_or_below_it(
    tmp_path: Path, where: str, write: str
) -> None:
    root = tmp_path / "entries"
    log = PausingLog(tmp_path / CHANGES_FILE)
    writer = IndexedYamlFilesEntryStore(root, sweep_interval=NO_SWEEP, changes=log)
    reader = writer
    if where == "another process":
        reader = IndexedYamlFilesEntryStore(
            root, sweep_interval=NO_SWEEP, changes=SqliteChangeLog(tmp_path / CHANGES_FILE)
        )
    writer.create({"one": {"title": "1"}, "old": {"title": "old"}, "old/child": {"title": "c"}})
    assert len(writer.descendants("", None)) == len(reader.descendants("", None)) == 3
    writes: dict[str, Callable[[], object]] = {
        "create": lambda: writer.create({"two": {"title": "2"}}),
        "update": lambda: writer.update("one", lambda fields: {"title": "1, again"}),
        "move": lambda: writer.move("old", "new"),
        "copy": lambda: writer.copy("old", "new", dict),
        "delete": lambda: writer.delete("old"),
    }
    expected = {
        "create": {"one": "1", "old": "old", "old/child": "c", "two": "2"},
        "update": {"one": "1, again", "old": "old", "old/child": "c"},
        "move": {"one": "1", "new": "old", "new/child": "c"},
        "copy": {"one": "1", "old": "old", "old/child": "c", "new": "old", "new/child": "c"},
        "delete": {"one": "1"},
    }
    reading = SqliteChangeLog(tmp_path / CHANGES_FILE)
    heads: list[int] = []
    listings: list[dict[str, object]] = []

    def look() -> None:
        heads.append(reading.head())  # as ApiCall.collection_headers, read first
        listings.append(listed(reader))

    while_paused(log, writes[write], look)
    # The head names the write's changes: the listing shows them.
    assert heads[0] == reading.head()
    assert listings[0] == expected[write]


@pytest.mark.parametrize("where", ["another process", "the sweeper's process"])
def test_a_hand_edit_logged_is_in_every_listing_after_the_head_that_names_it(
    tmp_path: Path, where: str
) -> None:
    root = tmp_path / "entries"
    log = PausingLog(tmp_path / CHANGES_FILE)
    sweeper = IndexedYamlFilesEntryStore(root, sweep_interval=NO_SWEEP, changes=log)
    reader = sweeper
    if where == "another process":
        reader = IndexedYamlFilesEntryStore(
            root, sweep_interval=NO_SWEEP, changes=SqliteChangeLog(tmp_path / CHANGES_FILE)
        )
    sweeper.create({"one": {"title": "1"}})
    assert len(sweeper.descendants("", None)) == len(reader.descendants("", None)) == 1
    by_hand(root, "one", "title: edited by hand\n")
    by_hand(root, "two", "title: created by hand\n")
    reading = SqliteChangeLog(tmp_path / CHANGES_FILE)
    mark = reading.head()
    heads: list[int] = []
    listings: list[dict[str, object]] = []

    def look() -> None:
        heads.append(reading.head())
        listings.append(listed(reader))

    while_paused(log, sweeper.sweep_now, look)
    assert sorted(c.id for c in reading.read(mark, 10).changes) == ["one", "two"]
    assert heads[0] == reading.head()
    assert listings[0] == {"one": "edited by hand", "two": "created by hand"}
