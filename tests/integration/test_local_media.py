"""LocalMediaStore on real files: layout, sidecars, hidden names, crash debris, hashing."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import yaml

from flextype_adapters.local_media import LocalMediaStore
from flextype_core.errors import (
    Conflict,
    InvalidId,
    MediaFileNotFound,
    MediaFolderNotFound,
    StorageError,
)
from flextype_core.media import MediaService
from flextype_core.ports import MediaStore, StagedUpload
from tests.unit.fakes import FixedClock
from tests.unit.media_fakes import FakeMediaStore, FakeUpload

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
META = {"title": "a", "description": "", "type": "text/plain", "filesize": 5}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "project" / "media"


@pytest.fixture
def store(root: Path) -> LocalMediaStore:
    return LocalMediaStore(root)


def staged(store: MediaStore, data: bytes) -> StagedUpload:
    upload = store.stage()
    upload.write(data)
    return upload


def add(store: LocalMediaStore, root: Path, file_id: str, data: bytes = b"hello") -> None:
    store.add_file(file_id, staged(store, data), META, replace=False)


def sidecar(root: Path, file_id: str) -> Path:
    path = root / file_id
    return path.with_name(f".{path.name}.meta.yaml")


def visible_tree(root: Path) -> list[str]:
    """Every path under the media root but the upload area and the writers' lock file."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if ".uploads" not in p.parts and p != root / ".lock"
    )


# -- layout ---------------------------------------------------------------------


def test_a_file_lies_beside_its_hidden_yaml_sidecar(store: LocalMediaStore, root: Path) -> None:
    add(store, root, "posters/a.txt")
    assert (root / "posters" / "a.txt").read_bytes() == b"hello"
    assert yaml.safe_load(sidecar(root, "posters/a.txt").read_text()) == META
    assert store.file("posters/a.txt").meta == META


def test_an_upload_is_moved_into_place_not_copied(store: LocalMediaStore, root: Path) -> None:
    upload = store.stage()
    upload.write(b"hello")
    store.add_file("a.txt", upload, META, replace=False)
    assert not upload.path.exists()
    assert list((root / ".uploads").iterdir()) == []
    upload.abort()  # taken: nothing to discard
    assert store.read("a.txt") == b"hello"


def test_an_upload_staged_elsewhere_is_refused(store: LocalMediaStore, root: Path) -> None:
    with pytest.raises(TypeError):
        store.add_file("a/b.txt", FakeUpload(b"bytes"), META, replace=False)
    assert not root.exists() or visible_tree(root) == []


def test_a_staged_upload_reads_its_head_from_the_file(store: LocalMediaStore) -> None:
    upload = staged(store, b"0123456789")
    assert upload.size == 10
    assert upload.head(4) == b"0123"
    upload.finish()
    assert upload.head(100) == b"0123456789"


def test_adding_over_a_file_is_a_conflict_unless_replacing(
    store: LocalMediaStore, root: Path
) -> None:
    add(store, root, "a.txt", b"one")
    with pytest.raises(Conflict):
        add(store, root, "a.txt", b"two")
    replaced = store.add_file("a.txt", staged(store, b"three"), {"v": 2}, replace=True)
    assert replaced.meta == {"v": 2}
    assert store.read("a.txt") == b"three"
    assert visible_tree(root) == [".a.txt.meta.yaml", "a.txt"]


def test_files_and_folders_are_listed_in_id_order(store: LocalMediaStore, root: Path) -> None:
    for file_id in ["b.txt", "a-b.txt", "a.txt", "z/x.txt", "a/y.txt"]:
        add(store, root, file_id)
    assert [f.id for f in store.files("")] == ["a-b.txt", "a.txt", "b.txt"]
    assert store.folders("") == ["a", "z"]
    assert [f.id for f in store.files("a")] == ["a/y.txt"]


def test_a_missing_folder_cannot_be_listed(store: LocalMediaStore) -> None:
    assert store.files("") == [] and store.folders("") == []
    with pytest.raises(MediaFolderNotFound):
        store.files("nope")
    with pytest.raises(MediaFolderNotFound):
        store.folders("nope")


# -- hidden names and debris -------------------------------------------------------


def test_hidden_names_are_never_files_or_folders(store: LocalMediaStore, root: Path) -> None:
    add(store, root, "a.txt")
    (root / ".trash").mkdir()
    (root / ".secret.txt").write_text("x")
    (root / ".x.txt.meta.yaml").write_text("title: x")
    assert [f.id for f in store.files("")] == ["a.txt"]
    assert store.folders("") == []


def test_a_file_without_its_sidecar_is_not_shown(store: LocalMediaStore, root: Path) -> None:
    root.mkdir(parents=True)
    (root / "by-hand.txt").write_text("x")
    assert store.files("") == []
    with pytest.raises(MediaFileNotFound):
        store.file("by-hand.txt")
    with pytest.raises(MediaFileNotFound):
        store.read("by-hand.txt")


def test_a_leftover_sidecar_without_its_file_is_ignored(store: LocalMediaStore, root: Path) -> None:
    add(store, root, "a.txt")
    (root / "a.txt").unlink()  # as a crash between the two steps of a delete leaves it
    assert store.files("") == []
    with pytest.raises(MediaFileNotFound):
        store.file("a.txt")
    add(store, root, "a.txt", b"new")  # the debris does not block a new file
    assert store.read("a.txt") == b"new"


def test_names_that_are_no_valid_ids_are_skipped(store: LocalMediaStore, root: Path) -> None:
    (root / "With Space").mkdir(parents=True)
    (root / "odd name.txt").write_text("x")
    sidecar(root, "odd name.txt").write_text("title: odd")
    assert store.folders("") == [] and store.files("") == []


def test_a_broken_sidecar_is_a_storage_error_without_a_path(
    store: LocalMediaStore, root: Path
) -> None:
    add(store, root, "a.txt")
    sidecar(root, "a.txt").write_text("title: [unclosed")
    with pytest.raises(StorageError) as error:
        store.file("a.txt")
    assert str(root) not in error.value.message and "a.txt" in error.value.message


# -- move, copy, delete ---------------------------------------------------------


def test_a_sidecar_travels_with_a_moved_file(store: LocalMediaStore, root: Path) -> None:
    add(store, root, "a.txt")
    moved = store.move_file("a.txt", "archive/b.txt")
    assert moved.meta == META
    assert visible_tree(root) == ["archive", "archive/.b.txt.meta.yaml", "archive/b.txt"]


def test_a_sidecar_is_copied_with_its_file(store: LocalMediaStore, root: Path) -> None:
    add(store, root, "a.txt")
    store.copy_file("a.txt", "b/c.txt")
    assert store.read("b/c.txt") == b"hello"
    assert store.file("b/c.txt").meta == store.file("a.txt").meta
    assert visible_tree(root) == [
        ".a.txt.meta.yaml",
        "a.txt",
        "b",
        "b/.c.txt.meta.yaml",
        "b/c.txt",
    ]


def test_a_sidecar_is_deleted_with_its_file(store: LocalMediaStore, root: Path) -> None:
    add(store, root, "a.txt")
    store.delete_file("a.txt")
    assert visible_tree(root) == []
    with pytest.raises(MediaFileNotFound):
        store.delete_file("a.txt")


def test_moving_or_copying_onto_anything_that_exists_is_a_conflict(
    store: LocalMediaStore, root: Path
) -> None:
    add(store, root, "a.txt")
    (root / "by-hand.txt").write_text("not to be overwritten")
    for transfer in (store.move_file, store.copy_file):
        with pytest.raises(Conflict):
            transfer("a.txt", "by-hand.txt")
    assert (root / "by-hand.txt").read_text() == "not to be overwritten"


def test_metadata_updates_are_written_to_the_sidecar(store: LocalMediaStore, root: Path) -> None:
    add(store, root, "a.txt")
    store.update_meta("a.txt", lambda meta: {**meta, "alt": ("x", "y")})
    assert yaml.safe_load(sidecar(root, "a.txt").read_text())["alt"] == ["x", "y"]
    assert store.file("a.txt").meta["alt"] == ["x", "y"]


def test_a_failing_metadata_change_writes_nothing(store: LocalMediaStore, root: Path) -> None:
    add(store, root, "a.txt")
    before = sidecar(root, "a.txt").read_bytes()

    def refuse(meta: dict[str, object]) -> dict[str, object]:
        raise Conflict("no")

    with pytest.raises(Conflict):
        store.update_meta("a.txt", refuse)
    assert sidecar(root, "a.txt").read_bytes() == before


# -- folders --------------------------------------------------------------------


def test_folders_are_created_moved_copied_and_deleted(store: LocalMediaStore, root: Path) -> None:
    store.create_folder("a/b")
    add(store, root, "a/b/x.txt")
    with pytest.raises(Conflict):
        store.create_folder("a")
    store.move_folder("a", "c/d")
    assert store.file("c/d/b/x.txt").meta == META
    assert not (root / "a").exists()
    store.copy_folder("c", "e")
    assert store.read("e/d/b/x.txt") == b"hello"
    store.delete_folder("c")
    assert store.folders("") == ["e"]
    assert [p.name for p in root.iterdir() if p.name not in {".uploads", ".lock"}] == ["e"]


def test_a_folder_move_onto_an_existing_name_is_a_conflict(
    store: LocalMediaStore, root: Path
) -> None:
    store.create_folder("a")
    store.create_folder("b")
    for transfer in (store.move_folder, store.copy_folder):
        with pytest.raises(Conflict):
            transfer("a", "b")
        with pytest.raises(MediaFolderNotFound):
            transfer("nope", "c")
    with pytest.raises(MediaFolderNotFound):
        store.delete_folder("nope")


# -- content hash -------------------------------------------------------------


def test_the_content_hash_changes_when_the_file_is_replaced(
    store: LocalMediaStore, root: Path
) -> None:
    add(store, root, "a.txt", b"one")
    first = store.content_hash("a.txt")
    assert first == store.content_hash("a.txt")
    store.add_file("a.txt", staged(store, b"two"), META, replace=True)
    assert store.content_hash("a.txt") != first


def test_the_content_hash_sees_an_edit_by_hand(store: LocalMediaStore, root: Path) -> None:
    add(store, root, "a.txt", b"one")
    first = store.content_hash("a.txt")
    path = root / "a.txt"
    stat = path.stat()
    path.write_bytes(b"owt")  # same size; the time moves on
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert store.content_hash("a.txt") != first


def test_a_hash_is_known_once_made_while_the_file_stays_the_same(
    store: LocalMediaStore, root: Path
) -> None:
    add(store, root, "a.txt", b"one")
    assert store.known_hash("a.txt") is None  # never hashed: that reads the file
    first = store.content_hash("a.txt")
    assert store.known_hash("a.txt") == first
    path = root / "a.txt"
    stat = path.stat()
    path.write_bytes(b"owt")  # edited by hand
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert store.known_hash("a.txt") is None
    path.unlink()
    assert store.known_hash("a.txt") is None


def test_a_missing_file_has_no_content_hash(store: LocalMediaStore) -> None:
    with pytest.raises(MediaFileNotFound):
        store.content_hash("nope.txt")


# -- through the service ------------------------------------------------------


@pytest.fixture
def media(store: LocalMediaStore) -> MediaService:
    return MediaService(
        store, FixedClock(), None, accept_file_types=["png", "txt"], max_file_size=1000
    )


@pytest.mark.parametrize(
    "file_id", ["../outside.txt", "a/../../x.txt", "/etc/passwd", "a\\..\\x.txt", ".a.txt"]
)
def test_traversal_ids_are_rejected_before_any_disk_access(tmp_path: Path, file_id: str) -> None:
    # The root is a file: any disk access below it would fail with another error.
    blocker = tmp_path / "media"
    blocker.write_text("not a folder")
    media = MediaService(
        LocalMediaStore(blocker), FixedClock(), None, accept_file_types=["txt"], max_file_size=9
    )
    for call in (media.fetch, media.delete):
        with pytest.raises(InvalidId):
            call(file_id)
    with pytest.raises(InvalidId):
        media.upload(file_id.rpartition("/")[0] or "..", "x.txt", FakeUpload(b"x"))
    assert blocker.read_text() == "not a folder"


def test_an_upload_through_the_service_lands_on_disk(
    media: MediaService, store: LocalMediaStore, root: Path
) -> None:
    created = media.upload("img", "My Pic.PNG", staged(store, PNG))
    assert created["id"] == "img/my-pic.png" and created["url"] == "/media/img/my-pic.png"
    assert (root / "img" / "my-pic.png").read_bytes() == PNG
    assert str(root) not in repr(created)


@pytest.mark.parametrize("kind", ["fake", "local"])
def test_both_stores_answer_a_folder_walk_alike(kind: str, tmp_path: Path) -> None:
    store: MediaStore = FakeMediaStore() if kind == "fake" else LocalMediaStore(tmp_path / "m")
    for file_id in ["b.txt", "a/x.txt", "a-b/y.txt", "a/c/z.txt"]:
        store.add_file(file_id, staged(store, b"x"), {"n": file_id}, replace=False)
    assert store.folders("") == ["a", "a-b"]
    assert store.folders("a") == ["a/c"]
    assert [f.id for f in store.files("a")] == ["a/x.txt"]
    assert store.folder_exists("a/c") and not store.folder_exists("a/x.txt")


@pytest.mark.parametrize("kind", ["fake", "local"])
def test_exclusive_holds_off_other_writers_and_lets_its_own_calls_through(
    kind: str, tmp_path: Path
) -> None:
    store: MediaStore = FakeMediaStore() if kind == "fake" else LocalMediaStore(tmp_path / "m")
    store.add_file("a.txt", staged(store, b"x"), {"n": 0}, replace=False)
    with store.exclusive():
        store.update_meta("a.txt", lambda m: {**m, "n": 1})
        other = threading.Thread(target=lambda: store.update_meta("a.txt", lambda m: {**m, "n": 2}))
        other.start()
        other.join(0.3)
        assert other.is_alive()  # waiting for the block to end
        assert store.file("a.txt").meta["n"] == 1
    other.join(60)
    assert store.file("a.txt").meta["n"] == 2


@pytest.mark.parametrize("kind", ["fake", "local"])
def test_open_streams_the_content_read_returns(kind: str, tmp_path: Path) -> None:
    store: MediaStore = FakeMediaStore() if kind == "fake" else LocalMediaStore(tmp_path / "m")
    data = bytes(range(256)) * 5000
    store.add_file("a/big.bin", staged(store, data), {"n": 1}, replace=False)
    with store.open("a/big.bin") as stream:
        assert stream.read(10) == data[:10]
        assert stream.read() == data[10:]
    with pytest.raises(MediaFileNotFound):
        store.open("a/nope.bin")
