"""The MediaStore contract on every store: the fake, the local files, PostgreSQL (blobs on disk
or in an S3 bucket), S3.

Layout-specific checks (sidecars, hidden names, links) are in ``test_local_media.py``.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from flextype_adapters.local_media import LocalMediaStore
from flextype_adapters.s3_media import S3MediaStore
from flextype_core.errors import Conflict, MediaFileNotFound, MediaFolderNotFound
from flextype_core.model import MediaFile
from flextype_core.ports import MediaStore
from tests.unit.media_fakes import FakeMediaStore

META = {"title": "a", "description": "", "type": "text/plain", "filesize": 5}


@pytest.fixture(params=["fake", "local", "postgres", "postgres+s3", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MediaStore:
    if request.param == "fake":
        return FakeMediaStore()
    if request.param == "local":
        return LocalMediaStore(tmp_path / "media")
    if request.param == "s3":
        return S3MediaStore(tmp_path / "media", request.getfixturevalue("s3_bucket"))
    fixture = "pg_media_store" if request.param == "postgres" else "pg_s3_media_store"
    pg: MediaStore = request.getfixturevalue(fixture)
    return pg


def add(
    store: MediaStore, file_id: str, data: bytes = b"hello", *, replace: bool = False
) -> MediaFile:
    with store.stage() as upload:
        upload.write(data)
        return store.add_file(file_id, upload, META, replace=replace)


def test_an_added_file_is_read_back_with_its_metadata(store: MediaStore) -> None:
    added = add(store, "posters/a.txt")
    assert added == MediaFile(id="posters/a.txt", meta=META)
    assert store.file("posters/a.txt").meta == META
    assert store.read("posters/a.txt") == b"hello"
    assert store.folder_exists("posters") and store.folders("") == ["posters"]


def test_metadata_keeps_its_order_and_types(store: MediaStore) -> None:
    meta = {"z": 1, "a": [1, 2.5, None, True], "m": {"nested": "é ✓"}, "big": 2**70}
    with store.stage() as upload:
        upload.write(b"x")
        store.add_file("a.txt", upload, meta, replace=False)
    got = store.file("a.txt").meta
    assert got == meta and list(got) == list(meta)
    got["z"] = 2  # a copy
    assert store.file("a.txt").meta["z"] == 1


def test_adding_over_a_file_is_a_conflict_unless_replacing(store: MediaStore) -> None:
    add(store, "a.txt", b"one")
    with pytest.raises(Conflict):
        add(store, "a.txt", b"two")
    assert store.read("a.txt") == b"one"
    add(store, "a.txt", b"three", replace=True)
    assert store.read("a.txt") == b"three"


def test_files_and_folders_are_listed_in_id_order(store: MediaStore) -> None:
    for file_id in ["b.txt", "a-b.txt", "a.txt", "z/x.txt", "a/y.txt"]:
        add(store, file_id)
    assert [f.id for f in store.files("")] == ["a-b.txt", "a.txt", "b.txt"]
    assert store.folders("") == ["a", "z"]
    assert [f.id for f in store.files("a")] == ["a/y.txt"]
    assert store.listing("a") == (store.files("a"), [])


def test_a_missing_folder_cannot_be_listed(store: MediaStore) -> None:
    assert store.files("") == [] and store.folders("") == []
    for call in (store.files, store.folders, store.listing):
        with pytest.raises(MediaFolderNotFound):
            call("nope")
    assert not store.folder_exists("nope")


def test_move_copy_and_delete_a_file(store: MediaStore) -> None:
    add(store, "a.txt")
    assert store.move_file("a.txt", "archive/b.txt").meta == META
    with pytest.raises(MediaFileNotFound):
        store.file("a.txt")
    assert store.copy_file("archive/b.txt", "c/d.txt").meta == META
    assert store.read("c/d.txt") == b"hello"
    store.delete_file("archive/b.txt")
    assert store.files("archive") == []
    assert store.read("c/d.txt") == b"hello"
    for call in (store.file, store.read, store.content_hash, store.delete_file):
        with pytest.raises(MediaFileNotFound):
            call("archive/b.txt")


def test_moving_or_copying_onto_a_taken_name_is_a_conflict(store: MediaStore) -> None:
    add(store, "a.txt")
    add(store, "b.txt", b"other")
    store.create_folder("f.txt")
    for transfer in (store.move_file, store.copy_file):
        for taken in ("b.txt", "f.txt"):
            with pytest.raises(Conflict):
                transfer("a.txt", taken)
        with pytest.raises(MediaFileNotFound):
            transfer("nope.txt", "c.txt")
    assert store.read("b.txt") == b"other"


def test_metadata_updates_and_a_failing_change(store: MediaStore) -> None:
    add(store, "a.txt")
    assert store.update_meta("a.txt", lambda m: {**m, "alt": "x"}).meta["alt"] == "x"

    def refuse(meta: dict[str, object]) -> dict[str, object]:
        raise Conflict("no")

    with pytest.raises(Conflict):
        store.update_meta("a.txt", refuse)
    assert store.file("a.txt").meta == {**META, "alt": "x"}
    with pytest.raises(MediaFileNotFound):
        store.update_meta("nope.txt", lambda m: m)


def test_folders_are_created_moved_copied_and_deleted(store: MediaStore) -> None:
    store.create_folder("a/b")
    add(store, "a/b/x.txt")
    add(store, "a-z.txt")  # beside 'a', not in it
    with pytest.raises(Conflict):
        store.create_folder("a")
    store.move_folder("a", "c/d")
    assert store.file("c/d/b/x.txt").meta == META
    assert not store.folder_exists("a") and not store.folder_exists("a/b")
    assert store.folders("c/d") == ["c/d/b"]
    store.copy_folder("c", "e")
    assert store.read("e/d/b/x.txt") == b"hello"
    store.delete_folder("c")
    assert store.folders("") == ["e"]
    assert [f.id for f in store.files("")] == ["a-z.txt"]
    assert store.read("e/d/b/x.txt") == b"hello"


def test_a_folder_move_onto_a_taken_name_is_a_conflict(store: MediaStore) -> None:
    store.create_folder("a")
    store.create_folder("b")
    add(store, "c.txt")
    for transfer in (store.move_folder, store.copy_folder):
        for taken in ("b", "c.txt"):
            with pytest.raises(Conflict):
                transfer("a", taken)
        with pytest.raises(MediaFolderNotFound):
            transfer("nope", "d")
    with pytest.raises(MediaFolderNotFound):
        store.delete_folder("nope")
    with pytest.raises(Conflict):
        store.create_folder("c.txt")


def test_the_content_hash_follows_the_content(store: MediaStore) -> None:
    add(store, "a.txt", b"one")
    first = store.content_hash("a.txt")
    assert first == store.content_hash("a.txt")
    add(store, "a.txt", b"two", replace=True)
    assert store.content_hash("a.txt") != first
    store.copy_file("a.txt", "b.txt")
    assert store.content_hash("b.txt") == store.content_hash("a.txt")


def test_a_known_hash_is_the_content_hash_or_none_never_a_stale_one(store: MediaStore) -> None:
    add(store, "a.txt", b"one")
    first = store.content_hash("a.txt")
    assert store.known_hash("a.txt") in (None, first)
    add(store, "a.txt", b"two", replace=True)
    assert store.known_hash("a.txt") in (None, store.content_hash("a.txt"))
    assert store.known_hash("a.txt") in (None, store.content_hash("a.txt"))
    assert store.known_hash("a.txt") != first
    store.delete_file("a.txt")
    assert store.known_hash("a.txt") is None
    assert store.known_hash("never.txt") is None


def test_open_streams_the_content_read_returns(store: MediaStore) -> None:
    data = bytes(range(256)) * 5000
    add(store, "a/big.bin", data)
    with store.open("a/big.bin") as stream:
        assert stream.read(10) == data[:10]
        assert stream.read() == data[10:]
    with pytest.raises(MediaFileNotFound):
        store.open("a/nope.bin")


def test_exclusive_holds_off_other_writers_and_lets_its_own_calls_through(
    store: MediaStore,
) -> None:
    add(store, "a.txt")
    store.update_meta("a.txt", lambda m: {**m, "n": 0})
    with store.exclusive():
        store.update_meta("a.txt", lambda m: {**m, "n": 1})
        other = threading.Thread(target=lambda: store.update_meta("a.txt", lambda m: {**m, "n": 2}))
        other.start()
        other.join(0.3)
        assert other.is_alive()  # waiting for the block to end
        assert store.file("a.txt").meta["n"] == 1
    other.join(60)
    assert store.file("a.txt").meta["n"] == 2
