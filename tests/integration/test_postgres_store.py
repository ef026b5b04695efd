"""The PostgreSQL entry store beyond the shared contract: copy, expect, select, the change log."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from flextype_adapters.postgres.database import PostgresDatabase, Tx
from flextype_adapters.postgres.entries import PostgresEntryStore
from flextype_adapters.yaml_files import YamlFilesEntryStore
from flextype_core import Conflict, EntryNotFound, PreconditionFailed, StorageError
from flextype_core.changes import entry_etag
from flextype_core.model import Entry
from flextype_core.ports import EntryStore
from flextype_core.query.model import Eq, Query, SortKey


def _as_port(store: PostgresEntryStore) -> EntryStore:
    return store  # mypy --strict checks the adapter against the port here


def _changes(db: PostgresDatabase) -> list[tuple[int, str, str, str]]:
    return db.run(
        lambda tx: tx.execute("SELECT seq, kind, id, op FROM changes ORDER BY seq").fetchall()
    )


def _refuse(_entry: Entry | None) -> None:
    raise PreconditionFailed("The entry has changed.")


def _seed(store: PostgresEntryStore) -> None:
    store.create(
        {
            "movies": {"title": "Movies"},
            "movies/a": {"title": "A", "year": 2001},
            "movies/a/cast": {"title": "Cast"},
            "movies/b": {"title": "B", "year": 1999},
            "movies-old": {"title": "Sibling sharing the prefix"},
        }
    )


def _ids(store: PostgresEntryStore) -> list[str]:
    return [entry.id for entry in store.descendants("", None)]


# -- copy ---------------------------------------------------------------------------------


def test_copy_copies_the_subtree_renewing_each_entry(pg_store: PostgresEntryStore) -> None:
    _seed(pg_store)
    copy = pg_store.copy("movies/a", "films/a", lambda fields: {**fields, "copied": True})
    assert copy == Entry(id="films/a", fields={"title": "A", "year": 2001, "copied": True})
    assert pg_store.get("films/a/cast").fields == {"title": "Cast", "copied": True}
    assert pg_store.get("movies/a").fields == {"title": "A", "year": 2001}
    assert _ids(pg_store)[:2] == ["films/a", "films/a/cast"]


@pytest.mark.parametrize("target", ["movies/b", "movies"])
def test_copy_onto_an_entry_or_a_folder_conflicts(
    pg_store: PostgresEntryStore, target: str
) -> None:
    _seed(pg_store)
    before = _ids(pg_store)
    with pytest.raises(Conflict):
        pg_store.copy("movies/a", target, dict)
    assert _ids(pg_store) == before


def test_copy_of_nothing_is_not_found(pg_store: PostgresEntryStore) -> None:
    with pytest.raises(EntryNotFound):
        pg_store.copy("nope", "other", dict)


def test_a_refused_copy_writes_nothing(
    pg_store: PostgresEntryStore, pg_database: PostgresDatabase
) -> None:
    _seed(pg_store)
    logged = _changes(pg_database)
    seen: list[Entry] = []

    def expect(entry: Entry) -> None:
        seen.append(entry)
        raise PreconditionFailed("The entry has changed.")

    with pytest.raises(PreconditionFailed):
        pg_store.copy("movies/a", "films/a", dict, expect=expect)
    assert seen == [pg_store.get("movies/a")]
    assert not pg_store.has_descendants("films")
    assert _changes(pg_database) == logged


def test_a_copy_with_a_damaged_entry_in_its_subtree_copies_nothing(
    pg_store: PostgresEntryStore, pg_database: PostgresDatabase
) -> None:
    _seed(pg_store)
    pg_database.run(
        lambda tx: tx.execute(
            "UPDATE entries SET body = %s WHERE id = 'movies/a/cast'", [b"not json"]
        )
    )
    with pytest.raises(StorageError, match="movies/a/cast"):
        pg_store.copy("movies/a", "films/a", dict)
    assert not pg_store.exists("films/a")


# -- expect on move and delete --------------------------------------------------------------


def test_move_runs_expect_on_the_current_entry_and_a_refusal_moves_nothing(
    pg_store: PostgresEntryStore,
) -> None:
    _seed(pg_store)
    seen: list[Entry] = []
    pg_store.move("movies/b", "movies/c", expect=seen.append)
    assert seen == [Entry(id="movies/b", fields={"title": "B", "year": 1999})]
    with pytest.raises(PreconditionFailed):
        pg_store.move("movies/a", "films", expect=_refuse)
    assert pg_store.exists("movies/a/cast")
    assert not pg_store.has_descendants("films")


def test_move_onto_a_taken_id_conflicts_before_expect_runs(pg_store: PostgresEntryStore) -> None:
    _seed(pg_store)
    with pytest.raises(Conflict):
        pg_store.move("movies/a", "movies/b", expect=_refuse)


def test_a_moved_subtree_keeps_parent_and_depth_right(
    pg_store: PostgresEntryStore, pg_database: PostgresDatabase
) -> None:
    _seed(pg_store)
    pg_store.move("movies/a", "archive/2001/a")
    rows = pg_database.run(
        lambda tx: tx.execute(
            "SELECT id, parent, depth FROM entries WHERE id LIKE 'archive/%%' ORDER BY id"
        ).fetchall()
    )
    assert rows == [
        ("archive/2001/a", "archive/2001", 3),
        ("archive/2001/a/cast", "archive/2001/a", 4),
    ]
    assert [e.id for e in pg_store.descendants("archive/2001", 1)] == ["archive/2001/a"]


def test_delete_gives_expect_the_entry_or_none_for_a_folder(pg_store: PostgresEntryStore) -> None:
    pg_store.create({"folder/a": {"n": 1}, "entry": {"n": 2}, "entry/child": {"n": 3}})
    seen: list[Entry | None] = []
    pg_store.delete("folder", expect=seen.append)
    pg_store.delete("entry", expect=seen.append)
    assert seen == [None, Entry(id="entry", fields={"n": 2})]
    assert _ids(pg_store) == []


def test_a_refused_delete_deletes_nothing(pg_store: PostgresEntryStore) -> None:
    _seed(pg_store)
    with pytest.raises(PreconditionFailed):
        pg_store.delete("movies", expect=_refuse)
    assert pg_store.exists("movies/a/cast")


# -- select ---------------------------------------------------------------------------------


def test_select_filters_sorts_and_pages_the_range(pg_store: PostgresEntryStore) -> None:
    _seed(pg_store)
    pg_store.create({"movies/c": {"title": "C", "year": 2001}})
    query = Query(
        depth=None,
        where=(Eq(key=("year",), value=2001),),
        sort=(SortKey(key=("title",), descending=True),),
        limit=1,
    )
    selection = pg_store.select("movies", query)
    assert selection.total == 2
    assert [item["id"] for item in selection.items] == ["movies/c"]
    assert selection.items[0] == {"title": "C", "year": 2001, "id": "movies/c", "slug": "movies/c"}


def test_select_keeps_to_the_depths_asked(pg_store: PostgresEntryStore) -> None:
    _seed(pg_store)
    deep_only = pg_store.select("movies", Query(depth=None, min_depth=2))
    assert [item["id"] for item in deep_only.items] == ["movies/a/cast"]
    top = pg_store.select("", Query())
    assert [item["id"] for item in top.items] == ["movies", "movies-old"]


def test_select_below_nothing_is_not_found_but_an_empty_entry_is_empty(
    pg_store: PostgresEntryStore,
) -> None:
    _seed(pg_store)
    with pytest.raises(EntryNotFound):
        pg_store.select("nope", Query())
    assert pg_store.select("movies/b", Query()).total == 0
    assert pg_store.select("movies/a", Query(depth=1, min_depth=1)).total == 1


def test_a_damaged_row_is_named_not_fatal_to_listings(
    pg_store: PostgresEntryStore, pg_database: PostgresDatabase
) -> None:
    _seed(pg_store)
    pg_database.run(
        lambda tx: tx.execute("UPDATE entries SET body = %s WHERE id = 'movies/b'", [b"[1]"])
    )
    with pytest.raises(StorageError, match="movies/b"):
        pg_store.get("movies/b")
    assert pg_store.unreadable("movies", 1) == ["movies/b"]
    assert [e.id for e in pg_store.descendants("movies", 1)] == ["movies/a"]
    selection = pg_store.select("movies", Query())
    assert (selection.total, selection.unreadable) == (1, ("movies/b",))


# -- values ---------------------------------------------------------------------------------

_VALUES: dict[str, Any] = {
    "zeta": 1,
    "big": 2**64 + 1,
    "negative_big": -(10**40),
    "huge": 1.7976931348623157e308,
    "tiny": 5e-324,
    "negative_zero": -0.0,
    "third": 1 / 3,
    "unicode": "Café ☕ 日本語 𝄞 \u2028 é",
    "nul": "a\0b",
    "nested": {"b": [1, 2.5, None, True, {"z": 0, "a": "\0"}], "a": {}},
    "alpha": "",
}


def test_values_round_trip_exactly_as_the_yaml_driver_keeps_them(
    pg_store: PostgresEntryStore, tmp_path: Path
) -> None:
    yaml_store = YamlFilesEntryStore(root=tmp_path / "entries")
    for store in (pg_store, yaml_store):
        store.create({"values": _VALUES})
    from_pg, from_yaml = pg_store.get("values").fields, yaml_store.get("values").fields
    assert from_pg == from_yaml == _VALUES
    assert list(from_pg) == list(_VALUES)
    assert list(from_pg["nested"]) == ["b", "a"]
    assert [type(v) for v in from_pg.values()] == [type(v) for v in from_yaml.values()]
    assert math.copysign(1, from_pg["negative_zero"]) == -1


def test_nul_characters_keep_data_filterable_but_marked_inexact(
    pg_store: PostgresEntryStore, pg_database: PostgresDatabase
) -> None:
    pg_store.create({"plain": {"t": "ab"}, "with-nul": {"t": "a\0b", "k\0": 1}})
    pg_store.update("plain", lambda fields: {**fields, "u": "x\0"})
    rows = pg_database.run(
        lambda tx: tx.execute(
            "SELECT id, data_exact, data->>'t' FROM entries ORDER BY id"
        ).fetchall()
    )
    assert rows == [("plain", False, "ab"), ("with-nul", False, "a\ufffdb")]
    assert pg_store.get("with-nul").fields == {"t": "a\0b", "k\0": 1}
    pg_store.update("plain", lambda fields: {"t": "ab"})
    assert pg_database.run(
        lambda tx: tx.execute("SELECT data_exact FROM entries WHERE id = 'plain'").fetchone()
    ) == (True,)


# -- the change log and the version -------------------------------------------------------


def test_every_write_appends_one_change_row_per_entry(
    pg_store: PostgresEntryStore, pg_database: PostgresDatabase
) -> None:
    pg_store.create({"a": {}, "a/b": {}})
    pg_store.update("a", lambda fields: {"n": 1})
    pg_store.move("a", "c")
    pg_store.copy("c", "d", dict)
    pg_store.delete("c")
    with pytest.raises(Conflict):
        pg_store.create({"d": {}})  # refused: logs nothing
    rows = pg_database.read(
        lambda tx: tx.execute(
            "SELECT id, op, from_id, etag FROM changes WHERE kind = 'entries' ORDER BY seq"
        ).fetchall()
    )
    assert rows == [
        ("a", "create", None, entry_etag("a", {})),
        ("a/b", "create", None, entry_etag("a/b", {})),
        ("a", "update", None, entry_etag("a", {"n": 1})),
        ("c", "move", "a", entry_etag("c", {"n": 1})),
        ("c/b", "move", "a/b", entry_etag("c/b", {})),
        ("d", "copy", "c", entry_etag("d", {"n": 1})),
        ("d/b", "copy", "c/b", entry_etag("d/b", {})),
        ("c", "delete", None, None),
        ("c/b", "delete", None, None),
    ]
    assert pg_store.version() == _changes(pg_database)[-1][0]


def _waiting_on_a_lock(db: PostgresDatabase) -> bool:
    row = db.run(
        lambda tx: tx.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ).fetchone()
    )
    return bool(row and row[0])


def _wait_until(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)  # polling an observed state, not a fixed wait


def test_an_uncommitted_change_holds_the_version_below_it(
    pg_store: PostgresEntryStore, pg_database: PostgresDatabase, postgres_url: str
) -> None:
    pg_store.create({"first": {}})
    before = pg_store.version()
    other = PostgresDatabase(postgres_url, schema=pg_database.schema, pool_size=2)
    release = threading.Event()
    held_seq: list[int] = []

    def hold_a_logged_write_open() -> None:
        def work(tx: Tx) -> None:
            tx.execute("UPDATE entries SET body = %s WHERE id = 'first'", [b'{"n":1}'])
            tx.log("entries", "update", ["first"])
            tx.flush()  # its position is taken; the transaction stays open
            row = tx.execute("SELECT max(seq) FROM changes").fetchone()
            held_seq.append(int(row[0]) if row else 0)
            release.wait(60)

        other.run(work)

    holder = threading.Thread(target=hold_a_logged_write_open)
    holder.start()
    try:
        _wait_until(lambda: bool(held_seq), "the open transaction to log its change")
        assert pg_store.version() == before < held_seq[0]
        later = threading.Thread(target=lambda: pg_store.create({"second": {}}))
        later.start()
        _wait_until(lambda: _waiting_on_a_lock(pg_database), "the later write to queue")
        assert pg_store.version() == before  # the later write waits: it cannot pass
        assert not pg_store.exists("second")
        release.set()
        holder.join(60)
        later.join(60)
        assert pg_store.version() > held_seq[0]
        assert pg_store.get("first").fields == {"n": 1}
        assert pg_store.exists("second")
    finally:
        release.set()
        holder.join(60)
        other.close()


def test_a_write_draws_its_change_log_position_only_once_it_holds_the_log_lock(
    pg_store: PostgresEntryStore, pg_database: PostgresDatabase, postgres_url: str
) -> None:
    pg_store.create({"first": {}})
    drawn = "SELECT last_value FROM pg_sequences WHERE sequencename = 'changes_seq_seq'"
    with psycopg.connect(postgres_url, autocommit=True) as holder:
        holder.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(pg_database.schema)))
        before = holder.execute(drawn).fetchone()
        key = pg_database.lock_key("changes")
        holder.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [key])
        writer = threading.Thread(target=lambda: pg_store.create({"second": {}}))
        writer.start()
        try:
            _wait_until(lambda: _waiting_on_a_lock(pg_database), "the write to queue")
            # Drawn before the lock, a later writer's position could commit first.
            assert holder.execute(drawn).fetchone() == before
        finally:
            holder.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])
            writer.join(60)
    assert pg_store.exists("second")


def test_two_servers_updating_one_entry_lose_nothing(
    pg_database: PostgresDatabase, postgres_url: str
) -> None:
    second = PostgresDatabase(postgres_url, schema=pg_database.schema, pool_size=4)
    stores = [PostgresEntryStore(pg_database), PostgresEntryStore(second)]
    stores[0].create({"counter": {"n": 0}})

    def bump(store: PostgresEntryStore) -> None:
        for _ in range(25):
            store.update("counter", lambda fields: {"n": fields["n"] + 1})

    threads = [threading.Thread(target=bump, args=(stores[i % 2],)) for i in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert stores[1].get("counter").fields == {"n": 100}
    finally:
        second.close()
