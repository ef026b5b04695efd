"""What the indexed YAML store adds: an index that stays true to the files on disk.

Two store instances over one folder stand for two server processes: the second one's
writes reach the first through the journal, edits by hand through the sweep. Tests that
check the journal turn the background sweep off (``sweep_interval=inf``), so only the
journal can explain what a query sees.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from flextype_adapters import entry_journal
from flextype_adapters.index_snapshot import SNAPSHOT_FILE, load_snapshot, save_snapshot
from flextype_adapters.indexed_yaml_files import JOURNAL_FILE, IndexedYamlFilesEntryStore
from flextype_adapters.yaml_codec import PARSE_RULES
from flextype_adapters.yaml_files import ENTRY_FILE, YamlFilesEntryStore
from flextype_core.errors import StorageError
from flextype_core.model import Entry

NO_SWEEP = math.inf
"""A sweep interval no query reaches: only the journal and ``sweep_now`` apply."""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "entries"


def a_store(root: Path, sweep_interval: float = NO_SWEEP) -> IndexedYamlFilesEntryStore:
    return IndexedYamlFilesEntryStore(root, sweep_interval=sweep_interval)


def ids_of(entries: list[Entry]) -> list[str]:
    return [entry.id for entry in entries]


def snapshot(entries: list[Entry]) -> list[tuple[str, dict[str, Any]]]:
    return [(entry.id, entry.fields) for entry in entries]


def write_by_hand(root: Path, entry_id: str, text: str) -> Path:
    path = root / entry_id / ENTRY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def set_mtime(path: Path, mtime_ns: int) -> None:
    os.utime(path, ns=(mtime_ns, mtime_ns))


def replace_journal_with_empty_file(root: Path) -> None:
    fresh = root / f"{JOURNAL_FILE}.rotated"
    fresh.write_bytes(b"")
    fresh.replace(root / JOURNAL_FILE)


def rotate_journal_as_a_writer_does(root: Path) -> None:
    """Replace the journal by a new one that opens with its own ``#`` header line."""
    fresh = root / f"{JOURNAL_FILE}.rotated"
    fresh.write_bytes(f"#{uuid.uuid4().hex}\n".encode())
    fresh.replace(root / JOURNAL_FILE)


def append_to_journal(root: Path, data: bytes) -> None:
    with (root / JOURNAL_FILE).open("ab") as journal:
        journal.write(data)


def eventually(check: Callable[[], bool], within: float = 60.0, pause: float = 0.01) -> bool:
    """Poll ``check`` until it holds (True) or ``within`` seconds pass (False).

    The bound is generous on purpose: a loaded machine may take long to sweep, and a
    test waits for what it observes, never for a time it guessed.
    """
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(pause)
    return check()


@pytest.fixture
def blog(root: Path) -> tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore]:
    """Two processes over one folder, A's index already built over a small blog."""
    a, b = a_store(root), a_store(root)
    a.create(
        {
            "blog": {"title": "Blog"},
            "blog/one": {"title": "One"},
            "blog/two": {"title": "Two"},
            "blog/two/comments": {"title": "Comments"},
        }
    )
    assert ids_of(a.descendants("", None)) == [
        "blog",
        "blog/one",
        "blog/two",
        "blog/two/comments",
    ]
    return a, b


# --- writes by another process, through the journal -------------------------------------


def test_an_entry_created_by_another_process_is_seen_by_the_next_query(root: Path) -> None:
    a, b = a_store(root), a_store(root)
    assert a.descendants("", None) == []
    assert not a.has_descendants("")

    b.create({"news": {"title": "News"}})

    assert snapshot(a.descendants("", None)) == [("news", {"title": "News"})]
    assert a.has_descendants("")


def test_writes_by_another_process_are_seen_after_the_index_was_built(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore],
) -> None:
    a, b = blog

    b.create({"blog/three": {"title": "Three"}})
    assert ids_of(a.descendants("blog", 1)) == ["blog/one", "blog/three", "blog/two"]

    b.update("blog/one", lambda fields: {**fields, "title": "One, edited"})
    assert a.descendants("blog", 1)[0].fields == {"title": "One, edited"}

    b.delete("blog/three")
    assert ids_of(a.descendants("blog", 1)) == ["blog/one", "blog/two"]


def test_a_subtree_moved_by_another_process_leaves_its_old_place_and_appears_at_the_new(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore],
) -> None:
    a, b = blog

    b.move("blog/two", "archive/2024/two")

    assert ids_of(a.descendants("blog", None)) == ["blog/one"]
    assert not a.has_descendants("blog/two")
    assert snapshot(a.descendants("archive", None)) == [
        ("archive/2024/two", {"title": "Two"}),
        ("archive/2024/two/comments", {"title": "Comments"}),
    ]
    assert a.has_descendants("archive/2024")


def test_a_subtree_deleted_by_another_process_is_gone_with_every_descendant(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore],
) -> None:
    a, b = blog

    b.delete("blog/two")

    assert ids_of(a.descendants("", None)) == ["blog", "blog/one"]
    assert not a.has_descendants("blog/two")


def test_every_entry_deleted_by_another_process_at_the_root_is_gone(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore],
) -> None:
    a, b = blog

    b.delete("")

    assert a.descendants("", None) == []
    assert not a.has_descendants("")


def test_many_entries_created_at_once_by_another_process_are_all_seen(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore],
) -> None:
    a, b = blog
    copies = {f"copy/{n:03}": {"title": f"Copy {n}", "n": n} for n in range(50)}
    copies["copy/000/deep"] = {"title": "Deep"}

    b.create(copies)

    found = a.descendants("copy", None)
    assert snapshot(found) == sorted(copies.items())
    assert len(a.descendants("copy", 1)) == 50
    assert a.has_descendants("copy/000")


def test_each_process_sees_the_others_writes_in_turn(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore],
) -> None:
    a, b = blog
    assert ids_of(b.descendants("blog", 1)) == ["blog/one", "blog/two"]  # B builds too

    a.create({"blog/from-a": {"title": "A"}})
    b.create({"blog/from-b": {"title": "B"}})
    a.delete("blog/one")

    expected = ["blog/from-a", "blog/from-b", "blog/two"]
    assert ids_of(a.descendants("blog", 1)) == expected
    assert ids_of(b.descendants("blog", 1)) == expected


# --- edits by hand, through the sweep ---------------------------------------------------


def test_an_entry_rewritten_by_hand_in_place_is_seen_after_a_sweep(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore], root: Path
) -> None:
    a, _ = blog
    path = root / "blog/one" / ENTRY_FILE
    inode = path.stat().st_ino

    with path.open("w", encoding="utf-8") as file:  # the same file, not a new one
        file.write("title: One, rewritten by hand\nextra: 1\n")
    assert path.stat().st_ino == inode

    a.sweep_now()
    assert a.descendants("blog", 1)[0].fields == {
        "title": "One, rewritten by hand",
        "extra": 1,
    }


def test_an_edit_by_hand_of_the_same_size_is_seen_by_its_changed_mtime(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore], root: Path
) -> None:
    a, _ = blog
    path = root / "blog/one" / ENTRY_FILE
    before = path.stat()
    text = path.read_text(encoding="utf-8")
    changed = text.replace("One", "Uno")
    assert len(changed.encode()) == before.st_size

    with path.open("w", encoding="utf-8") as file:
        file.write(changed)
    set_mtime(path, before.st_mtime_ns + 1_000_000_000)
    assert path.stat().st_size == before.st_size

    a.sweep_now()
    assert a.descendants("blog", 1)[0].fields == {"title": "Uno"}


def test_an_entry_created_by_hand_is_seen_after_a_sweep(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore], root: Path
) -> None:
    a, _ = blog

    write_by_hand(root, "blog/by-hand", "title: By hand\n")
    write_by_hand(root, "pages/about", "title: About\n")

    a.sweep_now()
    assert ids_of(a.descendants("blog", 1)) == ["blog/by-hand", "blog/one", "blog/two"]
    assert snapshot(a.descendants("pages", None)) == [("pages/about", {"title": "About"})]
    assert a.has_descendants("pages")


def test_a_subtree_deleted_by_hand_is_gone_after_a_sweep(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore], root: Path
) -> None:
    a, _ = blog

    shutil.rmtree(root / "blog/two")

    a.sweep_now()
    assert ids_of(a.descendants("", None)) == ["blog", "blog/one"]
    assert not a.has_descendants("blog/two")


def test_a_subtree_moved_by_hand_is_seen_at_its_new_place_after_a_sweep(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore], root: Path
) -> None:
    a, _ = blog

    (root / "blog/two").rename(root / "moved")  # the files keep their inode, size and mtime

    a.sweep_now()
    assert ids_of(a.descendants("", None)) == ["blog", "blog/one", "moved", "moved/comments"]
    assert a.descendants("moved", None)[0].fields == {"title": "Comments"}


def test_a_sweep_before_any_query_does_nothing_and_the_first_query_reads_the_disk(
    root: Path,
) -> None:
    write_by_hand(root, "early", "title: Early\n")
    a = a_store(root)

    a.sweep_now()

    assert snapshot(a.descendants("", None)) == [("early", {"title": "Early"})]


def test_with_a_zero_interval_a_query_starts_a_sweep_whose_findings_a_later_query_applies(
    root: Path,
) -> None:
    a = a_store(root, sweep_interval=0)
    a.create({"blog": {"title": "Blog"}, "blog/one": {"title": "One"}})
    assert ids_of(a.descendants("blog", None)) == ["blog/one"]

    write_by_hand(root, "blog/by-hand", "title: By hand\n")
    shutil.rmtree(root / "blog/one")

    assert eventually(lambda: ids_of(a.descendants("blog", None)) == ["blog/by-hand"])
    assert a.descendants("blog", None)[0].fields == {"title": "By hand"}


def test_with_a_zero_interval_an_edit_by_hand_in_place_is_found_without_sweep_now(
    root: Path,
) -> None:
    a = a_store(root, sweep_interval=0)
    a.create({"blog/one": {"title": "One"}})
    assert a.descendants("blog", None)[0].fields == {"title": "One"}

    path = write_by_hand(root, "blog/one", "title: One\nedited: true\n")
    set_mtime(path, path.stat().st_mtime_ns + 1_000_000_000)

    assert eventually(
        lambda: a.descendants("blog", None)[0].fields == {"title": "One", "edited": True}
    )


# --- the journal replaced, truncated or holding garbage ---------------------------------


def test_a_journal_replaced_by_another_file_makes_the_index_rebuild(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore], root: Path
) -> None:
    a, b = blog
    # An edit by hand no journal line announces: only a rebuild (or a sweep) finds it.
    write_by_hand(root, "blog/unannounced", "title: Unannounced\n")

    replace_journal_with_empty_file(root)

    assert ids_of(a.descendants("blog", 1)) == ["blog/one", "blog/two", "blog/unannounced"]
    b.create({"blog/after": {"title": "After"}})  # appended to the new journal
    assert ids_of(a.descendants("blog", 1)) == [
        "blog/after",
        "blog/one",
        "blog/two",
        "blog/unannounced",
    ]


def test_writes_announced_just_before_the_journal_was_replaced_are_not_lost(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore], root: Path
) -> None:
    a, b = blog
    b.create({"blog/before": {"title": "Before"}})
    b.delete("blog/one")

    replace_journal_with_empty_file(root)

    assert ids_of(a.descendants("blog", 1)) == ["blog/before", "blog/two"]


def test_a_journal_that_disappeared_makes_the_index_rebuild(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore], root: Path
) -> None:
    a, b = blog
    write_by_hand(root, "blog/unannounced", "title: Unannounced\n")

    (root / JOURNAL_FILE).unlink()

    assert ids_of(a.descendants("blog", 1)) == ["blog/one", "blog/two", "blog/unannounced"]
    b.delete("blog/unannounced")  # creates the journal anew
    assert ids_of(a.descendants("blog", 1)) == ["blog/one", "blog/two"]


def test_a_truncated_journal_makes_the_index_rebuild(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore], root: Path
) -> None:
    a, b = blog
    write_by_hand(root, "blog/unannounced", "title: Unannounced\n")

    os.truncate(root / JOURNAL_FILE, 0)

    assert ids_of(a.descendants("blog", 1)) == ["blog/one", "blog/two", "blog/unannounced"]
    b.update("blog/two", lambda fields: {"title": "Two, edited"})
    assert a.descendants("blog", 1)[1].fields == {"title": "Two, edited"}


def test_a_journal_cut_short_but_not_emptied_makes_the_index_rebuild(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore], root: Path
) -> None:
    a, _ = blog
    size = (root / JOURNAL_FILE).stat().st_size
    assert size > 2
    write_by_hand(root, "blog/unannounced", "title: Unannounced\n")

    os.truncate(root / JOURNAL_FILE, size // 2)

    assert ids_of(a.descendants("blog", 1)) == ["blog/one", "blog/two", "blog/unannounced"]


def test_the_journal_rotated_by_a_writer_past_its_size_limit_keeps_readers_true(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(entry_journal, "_LIMIT", 100)
    a, b = a_store(root), a_store(root)
    assert a.descendants("", None) == []

    for n in range(40):
        b.create({f"blog/e{n:02}": {"n": n}})
        if n % 7 == 0:
            assert len(a.descendants("blog", 1)) == n + 1

    assert (root / JOURNAL_FILE).stat().st_size <= 100
    assert ids_of(a.descendants("blog", 1)) == [f"blog/e{n:02}" for n in range(40)]
    assert ids_of(b.descendants("blog", 1)) == [f"blog/e{n:02}" for n in range(40)]


def test_a_reader_that_slept_through_two_journal_rotations_still_sees_every_write(
    root: Path,
) -> None:
    a, b = a_store(root), a_store(root)
    for n in range(10):
        b.create({f"blog/e{n}": {"n": n}})  # 10 lines of "blog/eN\n": 80 bytes
    assert len(a.descendants("blog", 1)) == 10  # A's cursor: (the journal's inode, 80)
    remembered_inode = (root / JOURNAL_FILE).stat().st_ino

    # Two rotations as ``_announce`` makes them: each new file is made while the old one
    # still exists, which then frees its inode, so on ext4 the journal of the second
    # rotation typically gets A's remembered inode number back.
    rotate_journal_as_a_writer_does(root)
    rotate_journal_as_a_writer_does(root)
    b.create({"blog/missed": {"title": "Missed"}})
    for _ in range(9):  # the new journal grows to 84 bytes, past A's offset of 80
        b.update("blog/e1", lambda fields: fields)
    reused = (root / JOURNAL_FILE).stat().st_ino == remembered_inode

    assert "blog/missed" in ids_of(b.descendants("blog", 1))
    assert "blog/missed" in ids_of(a.descendants("blog", 1)), f"inode reused: {reused}"


@pytest.mark.parametrize(
    "line",
    [
        b"../../etc\n",
        b"/blog\n",
        b"blog//one\n",
        b"blog/one/\n",
        b"blog/o ne\n",
        b"blog\\one\n",
        b"blog\x00one\n",
        b"\xff\xfe\xfd garbage \x80\n",
        b"x" * 300 + b"\n",
        b"\n\n\n",
        b"no newline at the end",
    ],
    ids=repr,
)
def test_a_journal_line_that_is_no_valid_id_is_ignored(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore],
    root: Path,
    line: bytes,
) -> None:
    a, _ = blog
    expected = snapshot(a.descendants("", None))

    append_to_journal(root, line)

    assert snapshot(a.descendants("", None)) == expected
    assert a.has_descendants("blog")


def test_garbage_in_the_journal_does_not_hide_the_lines_after_it(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore], root: Path
) -> None:
    a, b = blog
    append_to_journal(root, b"\xff\xfe\n../x\n\x00\n")

    b.create({"blog/after-garbage": {"title": "After"}})

    assert ids_of(a.descendants("blog", 1)) == ["blog/after-garbage", "blog/one", "blog/two"]


def test_a_journal_line_for_a_valid_id_with_no_entry_changes_nothing(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore], root: Path
) -> None:
    a, _ = blog
    expected = snapshot(a.descendants("", None))

    append_to_journal(root, b"nowhere/to/be/found\nblog/one/missing\n")

    assert snapshot(a.descendants("", None)) == expected


# --- a broken entry file -----------------------------------------------------------------

BROKEN_YAML = "title: [unclosed\n"


def test_a_broken_file_is_left_out_of_collections_while_get_names_it(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore], root: Path
) -> None:
    a, _ = blog
    write_by_hand(root, "blog/two", BROKEN_YAML)
    a.sweep_now()

    assert ids_of(a.descendants("blog", None)) == ["blog/one", "blog/two/comments"]
    with pytest.raises(StorageError, match="'blog/two'"):
        a.get("blog/two")
    assert a.get("blog/one").fields == {"title": "One"}
    assert a.get("blog/two/comments").fields == {"title": "Comments"}
    assert a.has_descendants("blog/two")


def test_a_file_broken_before_the_index_is_built_is_left_out_and_the_rest_works(
    root: Path,
) -> None:
    write_by_hand(root, "blog/good", "title: Good\n")
    write_by_hand(root, "blog/broken", BROKEN_YAML)
    write_by_hand(root, "blog/list", "- not\n- a mapping\n")
    a, b = a_store(root), a_store(root)

    assert snapshot(a.descendants("blog", None)) == [("blog/good", {"title": "Good"})]
    with pytest.raises(StorageError, match="'blog/broken'"):
        a.get("blog/broken")
    with pytest.raises(StorageError, match="'blog/list'"):
        a.get("blog/list")

    b.create({"blog/new": {"title": "New"}})
    b.update("blog/good", lambda fields: {"title": "Better"})
    assert snapshot(a.descendants("blog", None)) == [
        ("blog/good", {"title": "Better"}),
        ("blog/new", {"title": "New"}),
    ]


def test_a_parent_whose_only_descendant_is_broken_still_has_descendants(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore], root: Path
) -> None:
    # ``exists`` says the broken entry is there, and so does a plain store: a folder
    # holding it is no empty place to move or copy another entry to.
    a, _ = blog
    write_by_hand(root, "drafts/broken", BROKEN_YAML)
    a.sweep_now()

    assert a.descendants("drafts", None) == []
    assert a.exists("drafts/broken")
    assert YamlFilesEntryStore(root).has_descendants("drafts")
    assert a.has_descendants("drafts")


def test_a_broken_file_fixed_by_hand_comes_back_after_a_sweep(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore], root: Path
) -> None:
    a, _ = blog
    path = write_by_hand(root, "blog/two", BROKEN_YAML)
    a.sweep_now()
    assert ids_of(a.descendants("blog", 1)) == ["blog/one"]

    write_by_hand(root, "blog/two", "title: Two, fixed\n")
    set_mtime(path, path.stat().st_mtime_ns + 1_000_000_000)
    a.sweep_now()

    assert snapshot(a.descendants("blog", 1)) == [
        ("blog/one", {"title": "One"}),
        ("blog/two", {"title": "Two, fixed"}),
    ]
    assert a.get("blog/two").fields == {"title": "Two, fixed"}


def test_a_broken_file_fixed_by_another_process_comes_back_through_the_journal(
    root: Path,
) -> None:
    write_by_hand(root, "blog/broken", BROKEN_YAML)
    a, b = a_store(root), a_store(root)
    assert a.descendants("blog", None) == []

    b.delete("blog/broken")
    b.create({"blog/broken": {"title": "Fixed"}})

    assert snapshot(a.descendants("blog", None)) == [("blog/broken", {"title": "Fixed"})]


# --- the index against a plain store, after random operations ---------------------------

_SEGMENTS = ("a", "b", "c")
_PARENTS = ("", "a", "b", "c", "a/a", "a/b", "b/c", "c/a/b")
_DEPTHS = (None, 1, 2, 3)


class _RandomWorld:
    """Two indexed stores and hands, doing random things to one folder."""

    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.stores = (a_store(root), a_store(root))
        self.edited_by_hand = False
        self.mtime = 1_600_000_000 * 10**9
        self.counter = 0

    def random_id(self) -> str:
        depth = self.rng.randint(1, 3)
        return "/".join(self.rng.choice(_SEGMENTS) for _ in range(depth))

    def fields(self) -> dict[str, Any]:
        self.counter += 1
        return {"title": f"t{self.counter}", "n": self.counter, "tags": ["x"] * (self.counter % 3)}

    def step(self) -> str:
        actions: dict[str, Callable[[IndexedYamlFilesEntryStore, list[str]], None]] = {
            "create": self.create,
            "create_many": self.create_many,
            "update": self.update,
            "move": self.move,
            "delete": self.delete,
            "hand_edit": self.hand_edit,
            "hand_create": self.hand_create,
            "hand_delete": self.hand_delete,
        }
        name = self.rng.choice([*actions, "create"])
        store = self.rng.choice(self.stores)
        existing = [entry.id for entry in self.plain.descendants("", None)]
        if existing or name in {"create", "create_many", "hand_create"}:
            actions[name](store, existing)
        return name

    @property
    def plain(self) -> YamlFilesEntryStore:
        return YamlFilesEntryStore(self.root)

    def create(self, store: IndexedYamlFilesEntryStore, existing: list[str]) -> None:
        entry_id = self.random_id()
        if not self.plain.exists(entry_id):
            store.create({entry_id: self.fields()})

    def create_many(self, store: IndexedYamlFilesEntryStore, existing: list[str]) -> None:
        batch = {i: self.fields() for i in {self.random_id() for _ in range(4)}}
        if not any(self.plain.exists(i) for i in batch):
            store.create(batch)

    def update(self, store: IndexedYamlFilesEntryStore, existing: list[str]) -> None:
        fields = self.fields()
        store.update(self.rng.choice(existing), lambda _: fields)

    def move(self, store: IndexedYamlFilesEntryStore, existing: list[str]) -> None:
        source, target = self.rng.choice(existing), self.random_id()
        clash = self.plain.exists(target) or self.plain.has_descendants(target)
        inside = target == source or target.startswith(source + "/")
        if not clash and not inside:
            store.move(source, target)

    def delete(self, store: IndexedYamlFilesEntryStore, existing: list[str]) -> None:
        store.delete(self.rng.choice(existing))

    def hand_edit(self, store: IndexedYamlFilesEntryStore, existing: list[str]) -> None:
        self.by_hand(self.rng.choice(existing))

    def hand_create(self, store: IndexedYamlFilesEntryStore, existing: list[str]) -> None:
        entry_id = self.random_id()
        if not self.plain.exists(entry_id):
            self.by_hand(entry_id)

    def hand_delete(self, store: IndexedYamlFilesEntryStore, existing: list[str]) -> None:
        shutil.rmtree(self.root / self.rng.choice(existing))
        self.edited_by_hand = True

    def by_hand(self, entry_id: str) -> None:
        fields = self.fields()
        path = write_by_hand(self.root, entry_id, f"title: {fields['title']}\nn: {fields['n']}\n")
        self.mtime += 1_000_000_000  # a time of its own: no two edits look alike
        set_mtime(path, self.mtime)
        self.edited_by_hand = True

    def check(self, history: list[str]) -> None:
        if self.edited_by_hand:
            for store in self.stores:
                store.sweep_now()
            self.edited_by_hand = False
        plain = YamlFilesEntryStore(self.root)
        for parent in _PARENTS:
            for depth in _DEPTHS:
                expected = snapshot(plain.descendants(parent, depth))
                for name, store in zip("AB", self.stores, strict=True):
                    assert snapshot(store.descendants(parent, depth)) == expected, (
                        f"store {name}, parent {parent!r}, depth {depth}, after {history}"
                    )
            for name, store in zip("AB", self.stores, strict=True):
                assert store.has_descendants(parent) == plain.has_descendants(parent), (
                    f"store {name}, has_descendants({parent!r}), after {history}"
                )


@pytest.mark.parametrize("seed", range(8))
def test_the_index_answers_as_a_fresh_plain_store_after_random_operations(
    root: Path, seed: int
) -> None:
    world = _RandomWorld(root, seed)
    history: list[str] = []
    world.check(history)
    for _ in range(120):
        history.append(world.step())
        world.check(history[-8:])


# --- what descendants hands out --------------------------------------------------------


def test_descendants_called_twice_return_equal_entries_shared_with_the_index(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore],
) -> None:
    a, _ = blog

    first = a.descendants("blog", None)
    second = a.descendants("blog", None)

    assert first == second
    assert snapshot(first) == snapshot(second)
    assert all(x is y for x, y in zip(first, second, strict=True))  # shared, not copied
    assert first is not second  # the list itself is the caller's


# -- the snapshot a restart starts from --------------------------------------------------


def _seed_blog(root: Path) -> list[tuple[str, dict[str, Any]]]:
    store = a_store(root)
    store.create({"blog": {"title": "Blog"}})
    store.create({f"blog/post-{n}": {"n": n, "tags": ["a", n], "at": 1.5 * n} for n in range(5)})
    return snapshot(store.descendants("", None))


def test_a_restart_answers_the_same_from_the_snapshot(root: Path) -> None:
    before = _seed_blog(root)
    assert (root / SNAPSHOT_FILE).is_file()
    assert snapshot(a_store(root).descendants("", None)) == before


def test_a_file_whose_identity_is_unchanged_is_taken_from_the_snapshot_unread(
    root: Path,
) -> None:
    _seed_blog(root)
    path = root / "blog" / "post-1" / ENTRY_FILE
    stat = path.stat()
    with path.open("r+b") as stream:  # the same inode, size and mtime: the same identity
        stream.write(b"#" * stat.st_size)
    set_mtime(path, stat.st_mtime_ns)
    restarted = a_store(root).descendants("blog", None)
    assert restarted[1].fields["n"] == 1  # from the snapshot: the file was not parsed


def test_files_changed_added_or_removed_while_stopped_are_read_at_restart(root: Path) -> None:
    _seed_blog(root)
    write_by_hand(root, "blog/post-1", "n: 100\nedited: true\n")
    write_by_hand(root, "blog/post-9", "n: 9\n")
    shutil.rmtree(root / "blog" / "post-2")
    restarted = a_store(root)
    got = {entry.id: entry.fields for entry in restarted.descendants("blog", None)}
    assert sorted(got) == [
        "blog/post-0",
        "blog/post-1",
        "blog/post-3",
        "blog/post-4",
        "blog/post-9",
    ]
    assert got["blog/post-1"] == {"n": 100, "edited": True}
    assert got["blog/post-9"] == {"n": 9}
    # The snapshot was written anew with the new state: a second restart agrees.
    assert snapshot(a_store(root).descendants("blog", None)) == sorted(got.items())


@pytest.mark.parametrize("content", [b"", b"not msgpack \xff", b"\x92\x02\x80"])
def test_a_broken_or_foreign_snapshot_is_ignored_and_written_anew(
    root: Path, content: bytes
) -> None:
    before = _seed_blog(root)
    (root / SNAPSHOT_FILE).write_bytes(content)
    assert snapshot(a_store(root).descendants("", None)) == before
    assert (root / SNAPSHOT_FILE).read_bytes() != content


def _snapshot_entries(root: Path) -> dict[str, Any]:
    return load_snapshot(root / SNAPSHOT_FILE)


def test_damaged_fields_in_a_snapshot_are_parsed_from_the_file_instead(root: Path) -> None:
    before = _seed_blog(root)
    known = _snapshot_entries(root)
    identity, _ = known["blog/post-1"]
    save_snapshot(root / SNAPSHOT_FILE, {**known, "blog/post-1": (identity, b"[1, 2")})
    assert snapshot(a_store(root).descendants("", None)) == before


def test_a_snapshot_of_fields_parsed_by_other_rules_is_dropped(root: Path) -> None:
    # As if written by an earlier version that read `yes` as true (YAML 1.1).
    write_by_hand(root, "a", "answer: yes\n")
    path = root / "a" / ENTRY_FILE
    stat = path.stat()
    identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    version = f"1/{PARSE_RULES - 1}"  # the snapshot layout 1, the rules before these
    older = msgspec.msgpack.encode([version, {"a": [identity, b'{"answer": true}']}])
    (root / SNAPSHOT_FILE).write_bytes(older)
    assert snapshot(a_store(root).descendants("", None)) == [("a", {"answer": "yes"})]


def test_a_folder_named_entry_yaml_beside_an_entry_md_breaks_the_entry_after_a_restart(
    root: Path,
) -> None:
    folder = root / "a"
    folder.mkdir(parents=True)
    (folder / "entry.md").write_text("---\nt: 1\n---\nbody\n")
    assert ids_of(a_store(root).descendants("", None)) == ["a"]
    (folder / ENTRY_FILE).mkdir()  # ``get`` reads entry.yaml first, and fails
    restarted = a_store(root)
    with pytest.raises(StorageError):
        restarted.get("a")
    assert restarted.descendants("", None) == []  # as a build without the snapshot


# --- reading ahead, outside the index's lock ----------------------------------------------


@pytest.mark.parametrize(
    "ask",
    [
        lambda store: store.version(),
        lambda store: store.unreadable("", None),
        lambda store: store.has_descendants("blog"),
    ],
    ids=["version", "unreadable", "has_descendants"],
)
def test_another_processs_entry_is_read_ahead_without_holding_up_this_ones_writes(
    blog: tuple[IndexedYamlFilesEntryStore, IndexedYamlFilesEntryStore],
    root: Path,
    ask: Callable[[IndexedYamlFilesEntryStore], object],
) -> None:
    # B's new entry reaches A through the journal, and its file is a pipe: whoever reads
    # it waits until this test sends the bytes, as for the parse of a big entry.
    a, b = blog
    b.create({"blog/three": {"title": "Three"}})
    path = root / "blog/three" / ENTRY_FILE
    path.unlink()
    os.mkfifo(path)
    asking = threading.Thread(target=ask, args=(a,))
    asking.start()
    pipe = os.open(path, os.O_WRONLY)  # returns once A opened the file: A is reading it
    writing = threading.Thread(target=a.create, args=({"news": {"title": "News"}},))
    try:
        writing.start()
        writing.join(10)
        # A's write needs the index's lock a moment: free while the file is read.
        assert not writing.is_alive()
    finally:
        ready = path.with_name(".ready")
        ready.write_text("title: Three\n", encoding="utf-8")
        ready.replace(path)  # for the reads after this one: a file as any other
        os.write(pipe, b"title: Three\n")
        os.close(pipe)
        asking.join(30)
        writing.join(30)
    assert ids_of(a.descendants("", None)) == [
        "blog",
        "blog/one",
        "blog/three",
        "blog/two",
        "blog/two/comments",
        "news",
    ]
