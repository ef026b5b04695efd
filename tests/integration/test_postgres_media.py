"""PostgresMediaStore beyond the contract: blobs, their clean-up, the change log."""

from __future__ import annotations

import hashlib
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from flextype_adapters.postgres.database import PostgresDatabase
from flextype_adapters.postgres.media import PostgresMediaStore
from flextype_adapters.s3_blobs import S3Blobs
from flextype_adapters.s3_bucket import S3Bucket
from flextype_adapters.s3_uploads import MIN_PART_SIZE, S3Upload
from flextype_core.errors import Conflict, MediaFolderNotFound


def add(store: PostgresMediaStore, file_id: str, data: bytes) -> None:
    with store.stage() as upload:
        upload.write(data)
        store.add_file(file_id, upload, {"title": file_id}, replace=True)


def blobs(root: Path) -> list[Path]:
    return sorted(p for p in (root / ".blobs").rglob("*") if p.is_file())


class Backend:
    """A PostgresMediaStore with its blobs on disk or in a bucket, and a view of them."""

    def __init__(self, store: PostgresMediaStore, root: Path, bucket: S3Bucket | None) -> None:
        self.store = store
        self.root = root
        self.bucket = bucket

    def blobs(self) -> dict[str, bytes]:
        """Every blob kept: name -> bytes."""
        if self.bucket is None:
            return {p.name: p.read_bytes() for p in blobs(self.root)}
        client, name = self.bucket.client, self.bucket.bucket
        return {
            item["Key"].rsplit("/", 1)[-1]: client.get_object(Bucket=name, Key=item["Key"])[
                "Body"
            ].read()
            for item in client.list_objects_v2(Bucket=name).get("Contents", [])
        }


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        return Backend(request.getfixturevalue("pg_media_store"), tmp_path / "pg-media", None)
    store = request.getfixturevalue("pg_s3_media_store")
    return Backend(store, tmp_path / "pg-media", request.getfixturevalue("s3_bucket"))


def test_moving_a_folder_changes_rows_only(backend: Backend) -> None:
    add(backend.store, "a/b/x.txt", b"x")
    before = backend.blobs()
    backend.store.move_folder("a", "c")
    assert backend.blobs() == before
    assert backend.store.read("c/b/x.txt") == b"x"


def test_a_copy_is_a_blob_of_its_own(backend: Backend) -> None:
    add(backend.store, "a/x.txt", b"x")
    backend.store.copy_folder("a", "b")
    backend.store.copy_file("a/x.txt", "c.txt")
    assert sorted(backend.blobs().values()) == [b"x", b"x", b"x"]
    backend.store.delete_folder("a")
    assert backend.store.read("b/x.txt") == backend.store.read("c.txt") == b"x"
    assert sorted(backend.blobs().values()) == [b"x", b"x"]


def test_replaced_and_deleted_bytes_go_after_the_commit(backend: Backend) -> None:
    add(backend.store, "a.txt", b"one")
    add(backend.store, "a.txt", b"two")
    assert list(backend.blobs().values()) == [b"two"]
    backend.store.delete_file("a.txt")
    assert backend.blobs() == {}


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
    pg_media_store.copy_folder("b", "c")
    pg_media_store.delete_folder("b")
    rows = pg_database.read(
        lambda tx: tx.execute(
            "SELECT kind, id, op, from_id, etag IS NOT NULL FROM changes ORDER BY seq"
        ).fetchall()
    )
    assert rows == [
        ("media_folders", "a", "create", None, False),
        ("media", "a/x.txt", "create", None, True),
        ("media", "a/x.txt", "update", None, True),
        ("media_folders", "b", "move", "a", False),
        ("media", "b/x.txt", "move", "a/x.txt", True),
        ("media_folders", "c", "copy", "b", False),
        ("media", "c/x.txt", "copy", "b/x.txt", True),
        ("media", "b/x.txt", "delete", None, False),
        ("media_folders", "b", "delete", None, False),
    ]


def test_blobs_go_after_the_commit_of_an_exclusive_block(backend: Backend) -> None:
    store = backend.store
    add(store, "a.txt", b"one")
    add(store, "f/b.txt", b"two")
    add(store, "c.txt", b"three")
    with store.exclusive():
        store.delete_file("a.txt")
        store.delete_folder("f")
        add(store, "c.txt", b"four")
        # Not committed yet: another server still reads the old rows, so their bytes.
        assert sorted(backend.blobs().values()) == [b"four", b"one", b"three", b"two"]
    assert list(backend.blobs().values()) == [b"four"]


def test_blobs_outlive_a_rolled_back_exclusive_block(backend: Backend) -> None:
    store = backend.store
    add(store, "a.txt", b"one")
    add(store, "f/b.txt", b"two")
    before = backend.blobs()

    class UndoError(Exception):
        pass

    with pytest.raises(UndoError), store.exclusive():
        store.delete_file("a.txt")
        store.delete_folder("f")
        add(store, "a.txt", b"three")
        raise UndoError
    # The rows are back, so are their bytes (the new a.txt's is an orphan, for remove_debris).
    assert before.items() <= backend.blobs().items()
    assert store.read("a.txt") == b"one"
    assert store.read("f/b.txt") == b"two"


def _listing(bucket: S3Bucket) -> tuple[list[str], list[str]]:
    """The bucket's object keys and the keys of its incomplete multipart uploads."""
    client, name = bucket.client, bucket.bucket
    objects = client.list_objects_v2(Bucket=name).get("Contents", [])
    uploads = client.list_multipart_uploads(Bucket=name).get("Uploads", [])
    return sorted(o["Key"] for o in objects), sorted(u["Key"] for u in uploads)


def test_an_upload_past_one_part_streams_into_its_blob(
    pg_s3_media_store: PostgresMediaStore, s3_bucket: S3Bucket
) -> None:
    store = pg_s3_media_store
    data = random.Random(14).randbytes(2 * MIN_PART_SIZE + 12_345)
    with store.stage() as upload:
        assert isinstance(upload, S3Upload)
        key = s3_bucket.key(upload.name)
        for start in range(0, len(data), 256 * 1024):
            upload.write(data[start : start + 256 * 1024])
        # Two parts written: the first is in the bucket (sent before the second left),
        # as a part of a multipart upload no listing shows as an object.
        assert _listing(s3_bucket) == ([], [key])
        [started] = s3_bucket.client.list_multipart_uploads(Bucket=s3_bucket.bucket)["Uploads"]
        parts = s3_bucket.client.list_parts(
            Bucket=s3_bucket.bucket, Key=key, UploadId=started["UploadId"]
        )["Parts"]
        assert parts[0]["Size"] == MIN_PART_SIZE
        store.add_file("big.bin", upload, {"title": "big"}, replace=False)
    # The upload's object is the blob: nothing copied, nothing left in progress.
    assert _listing(s3_bucket) == ([key], [])
    etag = s3_bucket.client.head_object(Bucket=s3_bucket.bucket, Key=key)["ETag"]
    assert etag.strip('"').endswith("-3")  # three parts: 5 MiB, 5 MiB, the rest
    assert store.read("big.bin") == data
    assert store.content_hash("big.bin") == hashlib.sha256(data).hexdigest()


def test_debris_in_the_bucket_is_old_orphans_and_idle_uploads_only(
    pg_s3_media_store: PostgresMediaStore,
    pg_database: PostgresDatabase,
    s3_bucket: S3Bucket,
    tmp_path: Path,
) -> None:
    store = pg_s3_media_store
    add(store, "kept.txt", b"kept")
    blobs = S3Blobs(s3_bucket, part_size=MIN_PART_SIZE)
    with blobs.stage() as died:  # the bytes of a write that died before its row
        died.write(b"orphan")
        blobs.place(died, blobs.finish(died))
    client = s3_bucket.client
    dead_key = s3_bucket.key(S3Blobs.object_name(S3Blobs.new_name()))
    client.create_multipart_upload(Bucket=s3_bucket.bucket, Key=dead_key)  # killed: no part
    with store.stage() as live:
        assert isinstance(live, S3Upload)
        live.write(b"x" * (2 * MIN_PART_SIZE + 1))  # a part sent just now
        # moto dates every multipart upload 2010-11-10: the dead one is idle, the live
        # one is not (its part is new); the orphan is too young to be sure of.
        assert store.remove_debris() == 1
        assert _listing(s3_bucket)[1] == [s3_bucket.key(live.name)]
        store.add_file("live.bin", live, {"title": "live"}, replace=False)
    objects = _listing(s3_bucket)[0]
    assert s3_bucket.key(died.name) in objects and len(objects) == 3
    an_hour_later = PostgresMediaStore(
        pg_database, tmp_path / "pg-media", blobs=blobs, debris_age=-60
    )
    assert an_hour_later.remove_debris() == 1  # the orphan; the named blobs stay
    assert s3_bucket.key(died.name) not in _listing(s3_bucket)[0]
    assert store.read("kept.txt") == b"kept"
    assert store.read("live.bin") == b"x" * (2 * MIN_PART_SIZE + 1)


def test_a_folder_copy_copies_its_blobs_before_taking_the_media_lock(
    pg_database: PostgresDatabase, pg_s3_media_store: PostgresMediaStore, s3_bucket: S3Bucket
) -> None:
    """Blob copies are slow (a round trip each, a byte copy on disk): they must not hold
    up every other media write, nor be made again when the transaction is retried."""
    store = pg_s3_media_store
    for name in ("x", "y", "z"):
        add(store, f"a/{name}.txt", name.encode())
    key = pg_database.lock_key("media")
    held_while_copying = []

    def media_lock_held(**_: Any) -> None:
        # From another connection: the shared lock is free unless a writer holds it.
        free = pg_database.run(
            lambda tx: tx.execute(
                "SELECT pg_try_advisory_xact_lock_shared(hashtextextended(%s, 0))", [key]
            ).fetchone()
        )
        held_while_copying.append(free != (True,))

    s3_bucket.client.meta.events.register("before-send.s3.CopyObject", media_lock_held)
    store.copy_folder("a", "b/c")
    assert held_while_copying == [False, False, False]
    assert [store.read(f"b/c/{name}.txt") for name in ("x", "y", "z")] == [b"x", b"y", b"z"]


def test_a_refused_folder_copy_leaves_no_blob(backend: Backend) -> None:
    add(backend.store, "a/x.txt", b"x")
    add(backend.store, "b/y.txt", b"y")
    before = backend.blobs()
    with pytest.raises(Conflict):
        backend.store.copy_folder("a", "b")
    with pytest.raises(MediaFolderNotFound):
        backend.store.copy_folder("nothing", "c")
    assert backend.blobs() == before
