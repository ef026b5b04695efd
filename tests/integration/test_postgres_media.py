"""PostgresMediaStore beyond the contract: blobs, their clean-up, the change log."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from flextype_adapters.postgres.database import PostgresDatabase
from flextype_adapters.postgres.media import PostgresMediaStore


def add(store: PostgresMediaStore, file_id: str, data: bytes) -> None:
    with store.stage() as upload:
        upload.write(data)
        store.add_file(file_id, upload, {"title": file_id}, replace=True)


def blobs(root: Path) -> list[Path]:
    return sorted(p for p in (root / ".blobs").rglob("*") if p.is_file())


def test_moving_a_folder_changes_rows_only(
    pg_media_store: PostgresMediaStore, tmp_path: Path
) -> None:
    add(pg_media_store, "a/b/x.txt", b"x")
    before = blobs(tmp_path / "pg-media")
    pg_media_store.move_folder("a", "c")
    assert blobs(tmp_path / "pg-media") == before
    assert pg_media_store.read("c/b/x.txt") == b"x"


def test_replaced_and_deleted_bytes_go_after_the_commit(
    pg_media_store: PostgresMediaStore, tmp_path: Path
) -> None:
    add(pg_media_store, "a.txt", b"one")
    add(pg_media_store, "a.txt", b"two")
    assert [p.read_bytes() for p in blobs(tmp_path / "pg-media")] == [b"two"]
    pg_media_store.delete_file("a.txt")
    assert blobs(tmp_path / "pg-media") == []


def test_debris_removes_old_orphan_blobs_only(
    pg_media_store: PostgresMediaStore, tmp_path: Path
) -> None:
    root = tmp_path / "pg-media"
    add(pg_media_store, "kept.txt", b"kept")
    named = blobs(root)[0]
    old_orphan = root / ".blobs" / "ab" / ("ab" + "0" * 30)  # bytes of a write that died
    young_orphan = root / ".blobs" / "cd" / ("cd" + "0" * 30)  # a write still in progress
    for path in (old_orphan, young_orphan):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"orphan")
    hour_ago = time.time() - 7200
    for path in (old_orphan, named):
        os.utime(path, (hour_ago, hour_ago))
    assert pg_media_store.remove_debris() == 1
    assert not old_orphan.exists()
    assert young_orphan.exists() and named.exists()
    assert pg_media_store.read("kept.txt") == b"kept"


def test_every_write_appends_its_change_rows(
    pg_media_store: PostgresMediaStore, pg_database: PostgresDatabase
) -> None:
    add(pg_media_store, "a/x.txt", b"x")
    pg_media_store.update_meta("a/x.txt", lambda m: {**m, "alt": "y"})
    pg_media_store.move_folder("a", "b")
    pg_media_store.delete_folder("b")
    rows = pg_database.read(
        lambda tx: tx.execute("SELECT kind, id, op FROM changes ORDER BY seq").fetchall()
    )
    assert rows == [
        ("media_folders", "a", "create"),
        ("media", "a/x.txt", "create"),
        ("media", "a/x.txt", "update"),
        ("media", "a/x.txt", "delete"),
        ("media_folders", "a", "delete"),
        ("media_folders", "b", "create"),
        ("media", "b/x.txt", "create"),
        ("media", "b/x.txt", "delete"),
        ("media_folders", "b", "delete"),
    ]


def test_blobs_outlive_a_rolled_back_exclusive_block(
    pg_media_store: PostgresMediaStore, tmp_path: Path
) -> None:
    add(pg_media_store, "a.txt", b"one")
    add(pg_media_store, "f/b.txt", b"two")
    before = blobs(tmp_path / "pg-media")

    class Undo(Exception):
        pass

    with pytest.raises(Undo), pg_media_store.exclusive():
        pg_media_store.delete_file("a.txt")
        pg_media_store.delete_folder("f")
        add(pg_media_store, "c.txt", b"three")
        raise Undo
    # The rows are back, so are their bytes (c.txt's is an orphan, for remove_debris).
    assert set(before) <= set(blobs(tmp_path / "pg-media"))
    assert pg_media_store.read("a.txt") == b"one"
    assert pg_media_store.read("f/b.txt") == b"two"
