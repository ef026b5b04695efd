"""Entry files edited, created or deleted by hand reach the change log, once (YAML driver).

A server's feed shows them within the sweep interval with no query running (each read
of the log looks for them when a sweep is due); two processes sweeping the same edit
log it once; a write killed between its file and its log append is logged when the
index is next built.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import pytest

from flextype_adapters.change_records import ChangeNotLoggedError
from flextype_adapters.indexed_yaml_files import JOURNAL_FILE, IndexedYamlFilesEntryStore
from flextype_adapters.sqlite_changes import CHANGES_FILE, SqliteChangeLog
from flextype_adapters.yaml_files import ENTRY_FILE, YamlFilesEntryStore
from flextype_core.changes import ChangeLog, NewChange, entry_etag
from flextype_core.errors import StorageError
from flextype_entrypoints.project import open_project
from tests.http_client import ApiClient, Project, ProjectFactory, serve
from tests.programs import FLEXTYPE, clean_env

WITHIN = 60.0
"""Generous: a loaded machine sweeps late; the tests wait for what they observe."""


def eventually(check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WITHIN
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


@pytest.fixture
def project(projects: ProjectFactory, tmp_path: Path) -> Project:
    return projects(tmp_path / "site", "yaml", demo=False)


@pytest.fixture
def api(project: Project) -> Iterator[ApiClient]:
    with serve(project) as client:
        yield client


def by_hand(project: Path, entry_id: str, text: str) -> None:
    """Save an entry file as an editor does: whole (a sweep never sees half of it)."""
    path = project / "entries" / entry_id / ENTRY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    saving = path.with_name(".saving")
    saving.write_text(text, encoding="utf-8")
    saving.replace(path)


def etag(api: ApiClient, entry_id: str) -> str:
    response = api.fetch(entry_id)
    assert response.status_code == 200
    return str(response.headers["etag"])


def changes_after(log: ChangeLog, mark: int) -> list[tuple[Any, ...]]:
    return [(c.op, c.id, c.etag) for c in log.read(mark, 1000).changes]


def test_hand_edits_reach_the_feed_within_the_sweep_interval_without_a_query(
    api: ApiClient, project: Project
) -> None:
    entries = api.container.entries()
    entries.create("edited", {"title": "by the API"})
    entries.create("deleted", {"title": "by the API"})
    assert len(entries.collection("")) == 2  # the index is built: from now on, no query
    log = api.container.change_log()
    assert log is not None
    mark = log.head()

    by_hand(project.path, "edited", "title: edited by hand, longer\n")
    by_hand(project.path, "created", "title: created by hand\n")
    shutil.rmtree(project.path / "entries" / "deleted")

    # Each read of the log (as the feed polls it) starts a sweep once one is due.
    assert eventually(lambda: len(changes_after(log, mark)) >= 3)
    assert sorted(changes_after(log, mark)) == [
        ("create", "created", etag(api, "created")),
        ("delete", "deleted", None),
        ("update", "edited", etag(api, "edited")),
    ]
    assert entries.fetch("edited")["title"] == "edited by hand, longer"


def _pump(out: IO[str], lines: queue.Queue[str]) -> None:
    for line in out:
        lines.put(line)


def test_changes_follow_shows_hand_edits_without_any_other_command(project: Project) -> None:
    """``flextype changes --follow`` alone (no server, no query) finds hand edits."""
    with open_project(project.path) as opened:
        opened.entries.create("one", {"title": "by the CLI"})
        assert len(opened.entries.collection("")) == 1  # the index and its snapshot
    argv = [FLEXTYPE, "changes", "--project", str(project.path), "--follow"]
    lines: queue.Queue[str] = queue.Queue()
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=clean_env()
    ) as follow:
        try:
            assert follow.stdout is not None
            threading.Thread(target=_pump, args=(follow.stdout, lines), daemon=True).start()
            assert json.loads(lines.get(timeout=WITHIN))["id"] == "one"  # it reads the log
            by_hand(project.path, "one", "title: edited by hand\n")
            by_hand(project.path, "byhand", "title: created by hand\n")
            seen: set[tuple[str, str]] = set()
            deadline = time.monotonic() + WITHIN
            while len(seen) < 2 and time.monotonic() < deadline:
                with contextlib.suppress(queue.Empty):
                    change = json.loads(lines.get(timeout=0.5))
                    seen.add((change["op"], change["id"]))
        finally:
            follow.kill()
    assert seen == {("update", "one"), ("create", "byhand")}


def test_two_processes_sweeping_the_same_hand_edit_log_it_once(tmp_path: Path) -> None:
    root = tmp_path / "entries"
    stores = [
        IndexedYamlFilesEntryStore(
            root, sweep_interval=3600, changes=SqliteChangeLog(tmp_path / CHANGES_FILE)
        )
        for _ in range(2)
    ]
    stores[0].create({"news": {"title": "News"}, "gone": {"title": "Gone"}})
    for store in stores:  # both indexes built, both knowing the files as written
        assert len(store.descendants("", None)) == 2
    log = SqliteChangeLog(tmp_path / CHANGES_FILE)
    mark = log.head()
    by_hand(tmp_path, "news", "title: News, edited by hand\n")
    by_hand(tmp_path, "fresh", "title: Fresh\n")
    shutil.rmtree(root / "gone")

    start = threading.Barrier(2)

    def sweep(store: IndexedYamlFilesEntryStore) -> None:
        start.wait()
        store.sweep_now()

    threads = [threading.Thread(target=sweep, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    news = entry_etag("news", {"title": "News, edited by hand"})
    fresh = entry_etag("fresh", {"title": "Fresh"})
    assert sorted(changes_after(log, mark)) == [
        ("create", "fresh", fresh),
        ("delete", "gone", None),
        ("update", "news", news),
    ]
    for store in stores:  # and again: nothing new to log
        store.sweep_now()
    assert len(changes_after(log, mark)) == 3


def test_a_write_killed_before_its_log_append_is_logged_at_the_next_build(
    tmp_path: Path,
) -> None:
    root, changes = tmp_path / "entries", tmp_path / CHANGES_FILE
    first = IndexedYamlFilesEntryStore(root, changes=SqliteChangeLog(changes))
    first.create({"kept": {"title": "Kept"}, "edited": {"title": "Edited"}})
    first.create({"removed": {"title": "Removed"}})
    assert len(first.descendants("", None)) == 3  # the build leaves its snapshot
    log = SqliteChangeLog(changes)
    mark = log.head()

    # The server is gone; files changed as a write killed after its rename leaves them
    # (the same store without its log), and by hand.
    unlogged = YamlFilesEntryStore(root)
    unlogged.update("edited", lambda fields: {**fields, "title": "Edited, not logged"})
    unlogged.create({"created": {"title": "Created, not logged"}})
    shutil.rmtree(root / "removed")

    again = IndexedYamlFilesEntryStore(root, changes=SqliteChangeLog(changes))
    assert len(again.descendants("", None)) == 3
    assert eventually(lambda: len(changes_after(log, mark)) >= 3)
    assert sorted(changes_after(log, mark)) == [
        ("create", "created", entry_etag("created", {"title": "Created, not logged"})),
        ("delete", "removed", None),
        ("update", "edited", entry_etag("edited", {"title": "Edited, not logged"})),
    ]


def test_without_a_snapshot_a_build_finds_what_the_log_knows_changed(tmp_path: Path) -> None:
    """No snapshot (a first start): edits and deletions of entries the log knows are
    found; an entry it never heard of is taken as it is (an import logs no creates)."""
    root, changes = tmp_path / "entries", tmp_path / CHANGES_FILE
    YamlFilesEntryStore(root, changes=SqliteChangeLog(changes)).create(
        {"edited": {"title": "A"}, "removed": {"title": "B"}, "same": {"title": "C"}}
    )
    YamlFilesEntryStore(root).create({"imported": {"title": "D"}})
    log = SqliteChangeLog(changes)
    mark = log.head()
    by_hand(tmp_path, "edited", "title: A, edited by hand\n")
    shutil.rmtree(root / "removed")

    store = IndexedYamlFilesEntryStore(root, changes=SqliteChangeLog(changes))
    assert len(store.descendants("", None)) == 3
    assert eventually(lambda: len(changes_after(log, mark)) >= 2)
    store.sweep_now()  # whatever else it would log is logged by now
    assert sorted(changes_after(log, mark)) == [
        ("delete", "removed", None),
        ("update", "edited", entry_etag("edited", {"title": "A, edited by hand"})),
    ]


@pytest.mark.parametrize("found_by", ["a build from the older snapshot", "a stale sweep"])
def test_a_deletion_purged_from_the_log_is_not_logged_again(tmp_path: Path, found_by: str) -> None:
    """The snapshot of an older build, or a process that has not read the journal since,
    still lists an entry deleted long ago: the log still knows it is gone."""
    root, changes = tmp_path / "entries", tmp_path / CHANGES_FILE
    now = [1000.0]
    log = SqliteChangeLog(changes, clock=lambda: now[0])
    writer = IndexedYamlFilesEntryStore(root, sweep_interval=3600, changes=log)
    idle = IndexedYamlFilesEntryStore(root, sweep_interval=3600, changes=SqliteChangeLog(changes))
    writer.create({"kept": {"title": "Kept"}, "gone": {"title": "Gone"}})
    assert len(writer.descendants("", None)) == len(idle.descendants("", None)) == 2
    writer.delete("gone")  # the snapshot the build saved still lists it
    now[0] += 30 * 86400
    assert log.purge(int(now[0])) == 3
    assert log.read(0, 10).changes == []

    if found_by == "a stale sweep":
        idle.sweep_now()  # its index still holds "gone": no query read the journal
    else:
        later = IndexedYamlFilesEntryStore(root, changes=SqliteChangeLog(changes))
        assert [e.id for e in later.descendants("", None)] == ["kept"]
    assert log.read(0, 10).changes == []


def test_a_first_build_for_the_feed_that_failed_is_tried_again(tmp_path: Path) -> None:
    """Only the feed reads the log (no query): a build that failed is started again."""
    root, changes = tmp_path / "entries", tmp_path / CHANGES_FILE
    first = IndexedYamlFilesEntryStore(root, changes=SqliteChangeLog(changes))
    first.create({"a": {"title": "A"}})
    assert len(first.descendants("", None)) == 1  # the snapshot
    journal = root / JOURNAL_FILE
    journal.unlink()
    journal.mkdir()  # a journal that cannot be read: a build fails
    failed = threading.Event()

    class Failures(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("Edits made by hand"):
                failed.set()

    handler = Failures()
    logging.getLogger("flextype.storage").addHandler(handler)
    try:
        log = SqliteChangeLog(changes)
        store = IndexedYamlFilesEntryStore(root, sweep_interval=0.1, changes=log)
        log.on_read(store.watch)
        mark = log.head()  # the feed's first read starts the build, which fails
        assert failed.wait(WITHIN)
    finally:
        logging.getLogger("flextype.storage").removeHandler(handler)
    journal.rmdir()
    by_hand(tmp_path, "a", "title: A, edited by hand\n")
    assert eventually(lambda: changes_after(log, mark) != [])
    assert changes_after(log, mark) == [
        ("update", "a", entry_etag("a", {"title": "A, edited by hand"}))
    ]


class RefusingLog(SqliteChangeLog):
    """The file drivers' log, refusing appends while ``refuse`` is set (a full disk)."""

    refuse = False

    def append(self, changes: Sequence[NewChange]) -> None:
        if self.refuse:
            raise StorageError("The change log cannot be written: SQLITE_FULL.")
        super().append(changes)


def test_a_write_the_log_refused_is_made_announced_and_logged_by_the_next_sweep(
    tmp_path: Path,
) -> None:
    root = tmp_path / "entries"
    log = RefusingLog(tmp_path / CHANGES_FILE)
    store = IndexedYamlFilesEntryStore(root, sweep_interval=3600, changes=log)
    other = IndexedYamlFilesEntryStore(root, sweep_interval=3600)  # another process
    store.create({"a": {"title": "A"}})
    assert len(store.descendants("", None)) == len(other.descendants("", None)) == 1
    mark = log.head()

    log.refuse = True
    with pytest.raises(ChangeNotLoggedError, match=r"write was made.*SQLITE_FULL"):
        store.create({"b": {"title": "B"}})
    with pytest.raises(ChangeNotLoggedError):
        store.update("a", lambda fields: {**fields, "title": "A2"})
    assert store.get("b").fields == {"title": "B"}
    assert [e.id for e in other.descendants("", None)] == ["a", "b"]  # the journal told it
    assert other.get("a").fields == {"title": "A2"}

    log.refuse = False
    store.sweep_now()
    assert sorted(changes_after(log, mark)) == [
        ("create", "b", entry_etag("b", {"title": "B"})),
        ("update", "a", entry_etag("a", {"title": "A2"})),
    ]
