"""What only the TinyDB adapter promises: its file on disk, its writes, its cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tinydb import TinyDB

from flextype_adapters.system import RandomIdFactory, SystemClock
from flextype_adapters.tinydb_store import (
    AtomicJSONStorage,
    TinyDBEntryStore,
    TinyDBTokenStore,
    open_tinydb,
)
from flextype_core import EntriesService
from flextype_core.errors import StorageError
from flextype_core.model import CallCount, Entry, Token

SRC = Path(__file__).resolve().parents[2] / "src"


class CountingStorage(AtomicJSONStorage):
    """The real storage, counting its writes."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writes = 0

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        self.writes += 1
        super().write(data)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "db.json"


@pytest.fixture
def db(path: Path) -> Iterator[TinyDB]:
    database = open_tinydb(path)
    yield database
    database.close()


@pytest.fixture
def counting(path: Path) -> Iterator[tuple[TinyDB, CountingStorage]]:
    database = TinyDB(path, storage=CountingStorage)
    storage = database.storage
    assert isinstance(storage, CountingStorage)
    yield database, storage
    database.close()


def _token(token_id: str, **changes: Any) -> Token:
    values: dict[str, Any] = {
        "token": token_id,
        "hashed_access_token": "$2y$04$fake",
        "uuid": "00000000-0000-4000-8000-000000000001",
        "created_at": 1_700_000_000,
        "modified_at": 1_700_000_000,
    }
    return Token(**(values | changes))


def _on_disk(path: Path) -> Any:
    return json.loads(path.read_bytes().decode("utf-8"))


def _replace_externally(path: Path, data: Any) -> None:
    """Rewrite the file the way another process would: a new file renamed over it."""
    other = path.with_name("other-process.json")
    other.write_text(json.dumps(data), encoding="utf-8")
    other.replace(path)


def test_the_file_is_valid_json_in_the_documented_shape_after_every_operation(
    db: TinyDB, path: Path
) -> None:
    entries, tokens = TinyDBEntryStore(db), TinyDBTokenStore(db)
    steps: list[Callable[[], object]] = [
        lambda: entries.create({"movies": {"title": "Movies"}, "movies/a": {"n": 1}}),
        lambda: entries.update("movies/a", lambda f: {**f, "n": 2}),
        lambda: entries.move("movies", "films"),
        lambda: tokens.create(_token("a" * 32)),
        lambda: tokens.add_calls({"a" * 32: CallCount(calls=3, last_used_at=1_700_000_100)}),
        lambda: tokens.move("a" * 32, "b" * 32, modified_at=1_700_000_200),
        lambda: entries.delete("films/a"),
    ]
    for step in steps:
        step()
        data = _on_disk(path)
        for doc_id, doc in data["entries"].items():
            assert doc_id.isdecimal()
            assert set(doc) == {"id", "fields"}
            assert isinstance(doc["fields"], dict)
        for doc in data.get("tokens", {}).values():
            assert set(doc) == set(Token.__struct_fields__)
    assert list(_on_disk(path)["entries"].values()) == [
        {"id": "films", "fields": {"title": "Movies"}}
    ]
    [stored] = _on_disk(path)["tokens"].values()
    assert stored["token"] == "b" * 32
    assert stored["calls"] == 3
    assert stored["apis"] == ["entries", "registry", "media", "images"]


def test_a_missing_file_is_an_empty_database_and_reading_does_not_create_it(
    db: TinyDB, path: Path
) -> None:
    assert TinyDBEntryStore(db).descendants("", None) == []
    assert TinyDBTokenStore(db).list() == []
    assert not path.exists()


def test_an_empty_file_is_an_empty_database(db: TinyDB, path: Path) -> None:
    path.write_bytes(b"")
    assert TinyDBEntryStore(db).descendants("", None) == []


@pytest.mark.parametrize(
    "content",
    [b'{"entries": {"1": {"id": "a", "fie', b"[1, 2]", b'{"entries": []}', b"\xff\xfe{}"],
    ids=["truncated", "not-an-object", "table-not-an-object", "not-utf8"],
)
def test_a_damaged_file_is_a_storage_error_that_does_not_reveal_its_path(
    db: TinyDB, path: Path, content: bytes
) -> None:
    path.write_bytes(content)
    with pytest.raises(StorageError) as caught:
        TinyDBEntryStore(db).get("a")
    assert str(path.parent) not in caught.value.message
    assert "db.json" in caught.value.message


def test_a_document_without_an_id_is_a_storage_error(db: TinyDB, path: Path) -> None:
    path.write_text(json.dumps({"entries": {"1": {"fields": {}}}}), encoding="utf-8")
    with pytest.raises(StorageError, match="entries table is damaged"):
        TinyDBEntryStore(db).exists("a")


def test_an_entry_with_broken_fields_is_a_storage_error_naming_the_entry(
    db: TinyDB, path: Path
) -> None:
    path.write_text(
        json.dumps({"entries": {"1": {"id": "a", "fields": []}, "2": {"id": "b", "fields": {}}}}),
        encoding="utf-8",
    )
    store = TinyDBEntryStore(db)
    with pytest.raises(StorageError, match="Entry 'a' cannot be read"):
        store.get("a")
    assert store.get("b").fields == {}


def test_a_broken_token_is_a_storage_error_naming_the_token_and_can_still_be_deleted(
    db: TinyDB, path: Path
) -> None:
    tokens = TinyDBTokenStore(db)
    tokens.create(_token("a" * 32))
    data = _on_disk(path)
    data["tokens"]["1"]["calls"] = "many"
    _replace_externally(path, data)
    with pytest.raises(StorageError, match=f"Token '{'a' * 32}' cannot be read") as caught:
        tokens.get("a" * 32)
    assert str(path.parent) not in caught.value.message
    tokens.delete("a" * 32)
    assert tokens.list() == []


def test_a_leftover_temporary_file_is_ignored(db: TinyDB, path: Path) -> None:
    store = TinyDBEntryStore(db)
    store.create({"a": {"n": 1}})
    leftover = path.with_name(".db.json.k3j2h1.tmp")
    leftover.write_bytes(b'{"entries": {"1": {"id": "ghost", "fie')  # a crash mid-write
    store.create({"b": {"n": 2}})
    assert [e.id for e in store.descendants("", None)] == ["a", "b"]
    assert not store.exists("ghost")
    assert leftover.read_bytes().startswith(b'{"entries"')


def test_an_external_rewrite_of_the_file_is_seen_on_the_next_read(db: TinyDB, path: Path) -> None:
    store = TinyDBEntryStore(db)
    store.create({"a": {"n": 1}})
    assert store.get("a").fields == {"n": 1}
    _replace_externally(path, {"entries": {"1": {"id": "a", "fields": {"n": 2}}}})
    assert store.get("a").fields == {"n": 2}
    # An in-place edit of another size, as an editor saving over the file would make.
    path.write_text(json.dumps({"entries": {"7": {"id": "z", "fields": {}}}}), encoding="utf-8")
    assert not store.exists("a")
    assert store.exists("z")


def test_a_write_after_an_external_rewrite_keeps_the_external_change(
    db: TinyDB, path: Path
) -> None:
    store = TinyDBEntryStore(db)
    store.create({"a": {"n": 1}})
    _replace_externally(
        path, {"entries": {"1": {"id": "a", "fields": {"n": 1}}, "2": {"id": "x", "fields": {}}}}
    )
    store.create({"b": {}})
    assert [e.id for e in store.descendants("", None)] == ["a", "b", "x"]


def test_moving_a_subtree_of_fifty_entries_writes_the_file_once(
    counting: tuple[TinyDB, CountingStorage],
) -> None:
    db, storage = counting
    store = TinyDBEntryStore(db)
    subtree: dict[str, dict[str, Any]] = {"blog": {}} | {
        f"blog/post-{i:02d}": {"n": i} for i in range(49)
    }
    store.create({**subtree, "other": {}})
    assert storage.writes == 1
    store.move("blog", "archive/blog")
    assert storage.writes == 2
    assert len(store.descendants("archive", None)) == 50
    assert not store.has_descendants("blog")
    store.delete("archive")
    assert storage.writes == 3
    assert [e.id for e in store.descendants("", None)] == ["other"]


def test_flushing_call_counts_of_many_tokens_writes_once_and_skips_vanished_ones(
    counting: tuple[TinyDB, CountingStorage],
) -> None:
    db, storage = counting
    tokens = TinyDBTokenStore(db)
    for i in range(5):
        tokens.create(_token(f"{i}" * 32))
    before = storage.writes
    tokens.add_calls(
        {f"{i}" * 32: CallCount(calls=i, last_used_at=1_700_000_500) for i in range(8)}
    )
    assert storage.writes == before + 1
    assert [t.calls for t in tokens.list()] == [0, 1, 2, 3, 4]
    tokens.add_calls({"f" * 32: CallCount(calls=1, last_used_at=1_700_000_600)})
    assert storage.writes == before + 1


def test_failed_operations_write_nothing(counting: tuple[TinyDB, CountingStorage]) -> None:
    db, storage = counting
    store = TinyDBEntryStore(db)
    store.create({"a": {}})

    def fail(fields: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        store.update("a", fail)
    assert storage.writes == 1


def test_the_entry_and_token_stores_share_one_file(db: TinyDB, path: Path) -> None:
    entries, tokens = TinyDBEntryStore(db), TinyDBTokenStore(db)
    entries.create({"a": {"n": 1}})
    tokens.create(_token("a" * 32))
    entries.update("a", lambda f: {"n": 2})
    assert sorted(_on_disk(path)) == ["entries", "tokens"]
    assert [p.name for p in path.parent.iterdir() if not p.name.startswith(".")] == ["db.json"]
    reopened = open_tinydb(path)
    assert TinyDBEntryStore(reopened).get("a").fields == {"n": 2}
    assert TinyDBTokenStore(reopened).get("a" * 32) == _token("a" * 32)


def test_unicode_survives_and_is_written_as_utf8(db: TinyDB, path: Path) -> None:
    fields = {"title": "Café ☕ 日本語 🎬", "ключ": ["ü", {"ß": "\u0000"}]}
    store = TinyDBEntryStore(db)
    store.create({"a": fields})
    assert "Café ☕ 日本語 🎬".encode() in path.read_bytes()
    assert TinyDBEntryStore(open_tinydb(path)).get("a").fields == fields


def test_a_lone_surrogate_is_escaped_so_the_file_stays_utf8(db: TinyDB, path: Path) -> None:
    store = TinyDBEntryStore(db)
    store.create({"a": {"\ud800": "x\udfff"}})
    path.read_bytes().decode("utf-8")
    assert TinyDBEntryStore(open_tinydb(path)).get("a").fields == {"\ud800": "x\udfff"}


def test_json_types_round_trip_exactly_through_the_file(db: TinyDB, path: Path) -> None:
    fields = {"i": 1, "f": 1.0, "neg": -0.0, "big": 2**63 - 1, "t": True, "n": None,
              "nested": [1, [2.5, {"k": [False]}]]}  # fmt: skip
    TinyDBEntryStore(db).create({"a": fields})
    read = TinyDBEntryStore(open_tinydb(path)).get("a").fields
    assert read == fields
    assert [type(v) for v in read.values()] == [type(v) for v in fields.values()]
    assert type(read["nested"][1][0]) is float


def test_changing_returned_fields_does_not_change_the_store(db: TinyDB) -> None:
    store = TinyDBEntryStore(db)
    given = {"tags": ["a"]}
    store.create({"a": given})
    given["tags"].append("from-the-caller")
    store.get("a").fields["tags"].append("from-a-reader")
    assert store.get("a").fields == {"tags": ["a"]}


def test_a_failed_write_leaves_the_file_and_the_store_unchanged(db: TinyDB, path: Path) -> None:
    store = TinyDBEntryStore(db)
    store.create({"a": {"n": 1}})
    before = path.read_bytes()
    with pytest.raises(StorageError, match="cannot be written") as caught:
        store.create({"b": {"n": float("nan")}})  # not JSON: refused before the file is touched
    assert str(path.parent) not in caught.value.message
    assert path.read_bytes() == before
    assert not store.exists("b")


_WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from flextype_adapters.tinydb_store import TinyDBTokenStore, open_tinydb
    from flextype_core.model import CallCount
    tokens = TinyDBTokenStore(open_tinydb(Path(sys.argv[1])))
    for _ in range(40):
        tokens.add_calls({sys.argv[2]: CallCount(calls=1, last_used_at=1)})
    """
)


def test_processes_flushing_counts_at_once_lose_no_call(db: TinyDB, path: Path) -> None:
    tokens = TinyDBTokenStore(db)
    tokens.create(_token("a" * 32))
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    workers = [
        subprocess.Popen([sys.executable, "-c", _WORKER, str(path), "a" * 32], env=env)
        for _ in range(3)
    ]
    for _ in range(40):
        tokens.add_calls({"a" * 32: CallCount(calls=1, last_used_at=1)})
    assert [w.wait(timeout=60) for w in workers] == [0, 0, 0]
    assert tokens.get("a" * 32).calls == 160


def test_memory_answers_only_while_the_file_is_unchanged_and_never_waits_for_a_writer(
    path: Path, db: TinyDB
) -> None:
    store = TinyDBEntryStore(db)
    store.create({"a": {"title": "A"}})
    first = store.get("a")
    assert store.cached("a") == first

    other = open_tinydb(path)  # another process's handle: it writes the file
    try:
        TinyDBEntryStore(other).update("a", lambda fields: {**fields, "title": "B"})
    finally:
        other.close()
    assert store.cached("a") is None
    assert store.get("a").fields == {"title": "B"}
    assert store.cached("a") == store.get("a")

    held, release = threading.Event(), threading.Event()

    def writer() -> None:
        with store.exclusive():
            held.set()
            release.wait()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert held.wait(10)
        assert store.cached("a") is None  # would have blocked had it waited for the lock
    finally:
        release.set()
        thread.join()
    assert store.cached("a") == Entry(id="a", fields={"title": "B"})


@pytest.mark.parametrize("count", ["spend", "add_calls"], ids=["limited", "batched"])
def test_counting_a_tokens_calls_keeps_the_entries_held_in_memory(
    path: Path, db: TinyDB, count: str
) -> None:
    # A count reads the file afresh (another worker may have counted): the entries it
    # did not change stay what memory holds, so GETs and collections keep their caches.
    entries, tokens = TinyDBEntryStore(db), TinyDBTokenStore(db)
    entries.create({"a": {"title": "A"}, "a/b": {"title": "B"}})
    tokens.create(_token("t" * 32, limit_calls=10))
    first = entries.get("a")
    version = entries.version()
    assert entries.cached("a") == first

    if count == "spend":
        assert tokens.spend("t" * 32, 5).calls == 1
    else:
        tokens.add_calls({"t" * 32: CallCount(calls=1, last_used_at=5)})

    assert entries.cached("a") == first
    assert entries.version() == version
    assert tokens.get("t" * 32).calls == 1


def test_a_count_still_sees_what_another_process_changed_in_the_entries(
    path: Path, db: TinyDB
) -> None:
    entries, tokens = TinyDBEntryStore(db), TinyDBTokenStore(db)
    entries.create({"a": {"title": "A"}})
    tokens.create(_token("t" * 32, limit_calls=10))
    assert entries.get("a").fields == {"title": "A"}  # held in memory now
    data = _on_disk(path)
    (doc,) = data["entries"].values()
    doc["fields"]["title"] = "Changed elsewhere"
    _replace_externally(path, data)

    tokens.spend("t" * 32, 5)

    assert entries.get("a").fields == {"title": "Changed elsewhere"}
    assert _on_disk(path)["entries"] == data["entries"]


def test_a_value_changed_by_another_process_to_an_equal_value_of_another_type_is_seen(
    path: Path, db: TinyDB
) -> None:
    entries = TinyDBEntryStore(db)
    entries.create({"a": {"n": 1}})
    assert entries.get("a").fields == {"n": 1}
    data = _on_disk(path)
    (doc,) = data["entries"].values()
    doc["fields"]["n"] = True  # 1 == True in Python: only the type tells them apart
    _replace_externally(path, data)

    assert entries.get("a").fields["n"] is True


def test_changing_an_entry_fetched_from_memory_changes_neither_the_store_nor_the_file(
    path: Path, db: TinyDB
) -> None:
    # The store shares what it holds (cached() is for a server that only serialises);
    # the service hands a library caller its own copy, as fetch does.
    service = EntriesService(TinyDBEntryStore(db), SystemClock(), RandomIdFactory())
    service.create("a", {"tags": ["x"], "meta": {"n": 1}})
    service.fetch("a")  # read once: held in memory
    fetched = service.fetch_cached("a")
    assert fetched is not None
    fetched["tags"].append("changed by the caller")
    fetched["meta"]["n"] = 2

    service.create("b", {})  # a write of the whole file

    assert (service.fetch("a")["tags"], service.fetch("a")["meta"]) == (["x"], {"n": 1})
    (stored,) = [d for d in _on_disk(path)["entries"].values() if d["id"] == "a"]
    assert (stored["fields"]["tags"], stored["fields"]["meta"]) == (["x"], {"n": 1})
