"""S3MediaStore on moto's S3 server: crashes and failures mid-write, readers during a move,
the record cache, damaged records, and what ``remove_debris`` sweeps.

Crashes are injected by a thin wrapper around the bucket's real boto3 client that lets
the first ``k`` writes through to moto and then raises ``Crash`` (a BaseException, as a
killed process runs no handler) on every later one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from flextype_adapters import s3_media_reads
from flextype_adapters.s3_blobs import BLOBS, S3Blobs
from flextype_adapters.s3_bucket import S3Bucket
from flextype_adapters.s3_media import S3MediaStore
from flextype_core.errors import MediaFileNotFound, ServiceUnavailable, StorageError
from tests.s3_server import S3_CREDENTIALS, new_bucket

META = {"title": "t", "n": 1}
_WRITES = frozenset(
    {
        "put_object",
        "copy_object",
        "copy",
        "delete_object",
        "delete_objects",
        "create_multipart_upload",
        "upload_part",
        "complete_multipart_upload",
    }
)


class Crash(BaseException):
    """The process died here: no handler of the store runs."""


class Client:
    """The real client, counting writes and calls; writes past ``after`` fail with ``fail``.

    ``once``: only the first write past ``after`` fails (a passing outage), not every
    later one (a dead process). The write numbered ``pause_at``, and the first call of
    ``pause_call``, set ``paused``, then wait for ``go``.
    """

    def __init__(self, client: Any, after: int | None = None) -> None:
        self._client = client
        self.after = after
        self.fail: Callable[[], BaseException] = lambda: Crash()
        self.once = False
        self.writes = 0
        self.calls: dict[str, int] = {}
        self.pause_at: int | None = None
        self.pause_call: str | None = None
        self.paused, self.go = threading.Event(), threading.Event()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        if not callable(real) or name.startswith("get_paginator"):
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls[name] = self.calls.get(name, 0) + 1
                number = self.writes + 1 if name in _WRITES else 0
                if number:
                    self.writes = number
                pause = name == self.pause_call or (number and number == self.pause_at)
                if name == self.pause_call:
                    self.pause_call = None
            if pause:
                self.paused.set()
                assert self.go.wait(60)
            after = -1 if self.after is None else self.after
            if (
                number
                and after >= 0
                and (number == after + 1 or (number > after and not self.once))
            ):
                raise self.fail()
            return real(*args, **kwargs)

        return call


def twin(bucket: S3Bucket, endpoint: str, after: int | None = None) -> tuple[S3Bucket, Client]:
    """Another S3Bucket on the same bucket and prefix, its client wrapped in a ``Client``."""
    other = S3Bucket(
        bucket=bucket.bucket,
        endpoint_url=endpoint,
        prefix=bucket.prefix,
        region=S3_CREDENTIALS["region"],
        access_key_id=S3_CREDENTIALS["access_key_id"],
        secret_access_key=S3_CREDENTIALS["secret_access_key"],
    )
    client = Client(other.client, after)
    other.client = client  # type: ignore[assignment]
    return other, client


def add(store: S3MediaStore, file_id: str, data: bytes) -> None:
    with store.stage() as upload:
        upload.write(data)
        store.add_file(file_id, upload, META, replace=False)


def seed(store: S3MediaStore) -> None:
    add(store, "a/x.txt", b"x")
    add(store, "a/b/y.txt", b"y")
    add(store, "a/b/c/z.txt", b"z")
    add(store, "a-z.txt", b"beside")
    store.create_folder("a/empty")


def tree(store: S3MediaStore) -> dict[str, Any]:
    """Everything the API shows: folders, and files with their metadata and content."""
    shown: dict[str, Any] = {}
    pending = [""]
    while pending:
        folder = pending.pop()
        files, unreadable = store.listing(folder)
        assert unreadable == []
        shown[f"folder {folder}"] = [f.id for f in files]
        for file in files:
            shown[file.id] = (file.meta, store.read(file.id))
        pending += store.folders(folder)
    return shown


def blobs_and_records(bucket: S3Bucket) -> tuple[set[str], set[str]]:
    """The blob objects of the bucket, and the blobs its records name."""
    stored, named = set(), set()
    for name, _ in bucket.names(""):
        if name.startswith(BLOBS):
            stored.add(name.rsplit("/", 1)[-1])
        elif not name.endswith("/"):
            body = bucket.client.get_object(Bucket=bucket.bucket, Key=bucket.key(name))["Body"]
            named.add(body.read().split(b'"blob":"')[1][:32].decode())
    return stored, named


OPERATIONS: dict[str, Callable[[S3MediaStore], object]] = {
    "move folder": lambda s: s.move_folder("a", "n/m"),
    "copy folder": lambda s: s.copy_folder("a", "n/m"),
    "delete folder": lambda s: s.delete_folder("a"),
    "move file": lambda s: s.move_file("a/x.txt", "n/m/x.txt"),
    "create folders": lambda s: s.create_folder("n/m/o"),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_a_crash_after_any_write_leaves_the_old_or_the_new_state(
    s3_endpoint: str, tmp_path: Path, operation: str
) -> None:
    run = OPERATIONS[operation]
    clean_bucket = new_bucket(s3_endpoint)
    seed(S3MediaStore(tmp_path / "clean", clean_bucket))
    counted, client = twin(clean_bucket, s3_endpoint)
    store = S3MediaStore(tmp_path / "clean", counted)
    old = tree(store)
    run(store)
    new = tree(store)
    total = client.writes
    assert old != new and total > 1

    seen = []
    for k in range(total):
        bucket, root = new_bucket(s3_endpoint), tmp_path / f"crash-{k}"
        seed(S3MediaStore(root, bucket))
        crashing, _ = twin(bucket, s3_endpoint, after=k)
        with pytest.raises(Crash):
            run(S3MediaStore(root, crashing))
        assert list(root.glob(".s3-journal-*")) != []  # cut short: the journal is left
        restarted = S3MediaStore(root, bucket, stale_after=-60)
        if k % 2:  # serve's start settles it; otherwise the first read does
            restarted.remove_debris()
        state = tree(restarted)
        assert state in (old, new), k
        seen.append("old" if state == old else "new")
        assert list(root.glob(".s3-journal-*")) == []
        restarted.remove_debris()  # orphan blobs (the copies a rollback dropped) go
        stored, named = blobs_and_records(bucket)
        assert stored == named, k
        assert tree(restarted) == state
    # A move rolls back until it committed, then finishes; a copy rolls back; a
    # delete always finishes.
    assert seen == sorted(seen, key=["old", "new"].index), seen
    if operation == "copy folder":
        assert set(seen) == {"old"}
    if operation == "delete folder":
        assert set(seen) == {"new"}
    if operation in ("move folder", "move file"):
        assert set(seen) == {"old", "new"}


@pytest.mark.parametrize(
    ("operation", "after", "done"),
    [
        ("move folder", 2, False),  # while copying: rolled back, the error raised
        ("copy folder", 2, False),
        ("move folder", 8, True),  # while deleting (committed): finished, no error
        ("delete folder", 0, True),
    ],
)
def test_a_failing_write_settles_at_once(
    s3_endpoint: str, tmp_path: Path, operation: str, after: int, done: bool
) -> None:
    bucket = new_bucket(s3_endpoint)
    seed(S3MediaStore(tmp_path / "media", bucket))
    old = tree(S3MediaStore(tmp_path / "media", bucket))
    flaky, client = twin(bucket, s3_endpoint, after=after)
    client.once = True  # a passing outage: the next write goes through
    client.fail = lambda: botocore.exceptions.EndpointConnectionError(endpoint_url="http://x")
    store = S3MediaStore(tmp_path / "media", flaky)
    if done:
        OPERATIONS[operation](store)
    else:
        with pytest.raises(ServiceUnavailable):
            OPERATIONS[operation](store)
    assert client.writes > after + 1  # it did fail, and settled
    assert list((tmp_path / "media").glob(".s3-journal-*")) == []
    assert (tree(store) != old) is done
    assert ("folder a" in tree(store)) is not done or operation == "copy folder"
    if not done:
        OPERATIONS[operation](store)  # the service is back: the write goes through
        assert tree(store) != old


@pytest.mark.parametrize("reader", ["same store", "other store"])
def test_a_reader_never_sees_half_a_folder_move(
    s3_endpoint: str, tmp_path: Path, reader: str
) -> None:
    bucket = new_bucket(s3_endpoint)
    seed(S3MediaStore(tmp_path / "media", bucket))
    paused, client = twin(bucket, s3_endpoint)
    client.pause_at = 4  # some objects copied, none deleted
    store = S3MediaStore(tmp_path / "media", paused)
    old = tree(store)
    moving = threading.Thread(target=lambda: store.move_folder("a", "n/m"))
    moving.start()
    assert client.paused.wait(60)
    reading_store = store if reader == "same store" else S3MediaStore(tmp_path / "media", bucket)
    started, seen = threading.Event(), []

    def read() -> None:
        started.set()
        seen.append(tree(reading_store))

    reading = threading.Thread(target=read)
    reading.start()
    assert started.wait(60)
    reading.join(0.5)
    assert reading.is_alive() and seen == []  # waiting for the move, not reading half of it
    client.go.set()
    moving.join(60)
    reading.join(60)
    assert seen == [tree(store)] and seen[0] != old
    assert "folder n/m" in seen[0] and "folder a" not in seen[0]


def test_a_folder_move_waits_for_a_read_in_progress(s3_endpoint: str, tmp_path: Path) -> None:
    bucket = new_bucket(s3_endpoint)
    seed(S3MediaStore(tmp_path / "media", bucket))
    reading_bucket, reader = twin(bucket, s3_endpoint)
    reader.pause_call = "get_object"  # listed, its record being read
    moving_bucket, mover = twin(bucket, s3_endpoint)
    mover.pause_at = 1  # flags its first write,
    mover.go.set()  # without waiting
    seen = []
    reading = threading.Thread(
        target=lambda: seen.append(S3MediaStore(tmp_path / "media", reading_bucket).listing("a"))
    )
    reading.start()
    assert reader.paused.wait(60)
    moving = threading.Thread(
        target=lambda: S3MediaStore(tmp_path / "media", moving_bucket).move_folder("a", "n/m")
    )
    moving.start()
    assert not mover.paused.wait(0.5)  # no write while the read is under way
    reader.go.set()
    reading.join(60)
    moving.join(60)
    assert [[f.id for f in files] for files, _ in seen] == [["a/x.txt"]]
    assert S3MediaStore(tmp_path / "media", bucket).folders("n") == ["n/m"]


def test_listings_read_only_the_records_that_changed(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    seed(S3MediaStore(tmp_path / "media", s3_bucket))
    bucket, client = twin(s3_bucket, s3_bucket.client.meta.endpoint_url)
    store = S3MediaStore(tmp_path / "media", bucket)
    for name in ("b.txt", "c.txt"):
        add(store, f"a/{name}", b"more")
    store.files("a")
    before = client.calls.get("get_object", 0)
    assert [f.id for f in store.files("a")] == ["a/b.txt", "a/c.txt", "a/x.txt"]
    assert client.calls.get("get_object", 0) == before  # all kept: one listing, no GET
    store.update_meta("a/b.txt", lambda m: {**m, "alt": "new"})
    assert store.files("a")[0].meta["alt"] == "new"


def test_lookups_ask_the_bucket_only_after_a_write_of_this_host(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    writer = S3MediaStore(tmp_path / "media", s3_bucket)  # another worker of the host
    add(writer, "a.txt", b"one")
    bucket, client = twin(s3_bucket, s3_bucket.client.meta.endpoint_url)
    store = S3MediaStore(tmp_path / "media", bucket)
    first = store.content_hash("a.txt")
    before = client.calls.get("get_object", 0)
    for _ in range(20):
        assert store.content_hash("a.txt") == first and store.file("a.txt").meta == META
    assert client.calls.get("get_object", 0) == before
    writer.update_meta("a.txt", lambda m: {**m, "alt": "x"})
    assert store.file("a.txt").meta["alt"] == "x"
    with writer.stage() as upload:
        upload.write(b"two")
        writer.add_file("a.txt", upload, META, replace=True)
    assert store.content_hash("a.txt") != first and store.read("a.txt") == b"two"
    writer.delete_file("a.txt")
    with pytest.raises(MediaFileNotFound):
        store.file("a.txt")


def test_a_damaged_record_is_named_unreadable(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    store = S3MediaStore(tmp_path / "media", s3_bucket)
    add(store, "a/good.txt", b"good")
    s3_bucket.client.put_object(
        Bucket=s3_bucket.bucket, Key=s3_bucket.key(".media/a/bad.txt"), Body=b"{not json"
    )
    files, unreadable = store.listing("a")
    assert [f.id for f in files] == ["a/good.txt"] and unreadable == ["a/bad.txt"]
    with pytest.raises(StorageError):
        store.file("a/bad.txt")
    store.delete_folder("a")
    assert store.folders("") == [] and list(s3_bucket.names(".media/")) == []


def test_remove_debris_sweeps_stale_uploads_and_unnamed_blobs(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    store = S3MediaStore(tmp_path / "media", s3_bucket, stale_after=-60)
    add(store, "a.txt", b"kept")
    with store.stage() as lost:  # finished, never added: what a crash leaves
        lost.write(b"lost")
        lost.finish()
        lost.taken()
    damaged_blob = store._blobs.new_name()
    s3_bucket.client.put_object(
        Bucket=s3_bucket.bucket,
        Key=s3_bucket.key(".media/damaged.txt"),
        Body=f'{{"blob": "{damaged_blob}", oops'.encode(),
    )
    s3_bucket.client.put_object(
        Bucket=s3_bucket.bucket, Key=s3_bucket.key(S3Blobs.object_name(damaged_blob)), Body=b"?"
    )
    s3_bucket.client.create_multipart_upload(
        Bucket=s3_bucket.bucket, Key=s3_bucket.key(BLOBS + "ab/" + "ab" * 16)
    )
    assert store.remove_debris() == 2  # the lost blob, the multipart upload
    kept = {name.rsplit("/", 1)[-1] for name, _ in s3_bucket.names(BLOBS)}
    assert kept == {store._record("a.txt").blob, damaged_blob}  # a damaged record may name one
    assert s3_bucket.client.list_multipart_uploads(Bucket=s3_bucket.bucket).get("Uploads", []) == []
    assert store.read("a.txt") == b"kept"


def test_a_hash_is_known_from_memory_until_a_write_of_this_host(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    writer = S3MediaStore(tmp_path / "media", s3_bucket)  # another worker of the host
    add(writer, "a.txt", b"one")
    bucket, client = twin(s3_bucket, s3_bucket.client.meta.endpoint_url)
    store = S3MediaStore(tmp_path / "media", bucket)
    assert store.known_hash("a.txt") is None  # never looked up here
    first = store.content_hash("a.txt")
    calls = dict(client.calls)
    assert store.known_hash("a.txt") == first
    assert client.calls == calls  # no request
    writer.update_meta("a.txt", lambda m: {**m, "alt": "x"})
    assert store.known_hash("a.txt") is None  # a write since: the bucket must tell
    assert store.content_hash("a.txt") == first == store.known_hash("a.txt")
    (tmp_path / "media" / store._journal.path.name).write_bytes(b"{}")  # a write cut short
    assert store.known_hash("a.txt") is None


def test_one_hit_reads_the_record_again_before_its_trust_runs_out(
    s3_bucket: S3Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every lookup falls in the last part of the record's trusted time.
    monkeypatch.setattr(s3_media_reads, "REFRESH_AHEAD", s3_media_reads.FRESH_SECONDS)
    bucket, client = twin(s3_bucket, s3_bucket.client.meta.endpoint_url)
    store = S3MediaStore(tmp_path / "media", bucket)
    add(store, "a.txt", b"one")
    first = store.content_hash("a.txt")
    assert store.known_hash("a.txt") is None  # this caller reads it again
    assert [store.known_hash("a.txt") for _ in range(3)] == [first] * 3  # the rest: memory
    reads = client.calls.get("get_object", 0)
    assert store.content_hash("a.txt") == first
    assert client.calls.get("get_object", 0) == reads + 1  # read again, once
    assert store.content_hash("a.txt") == first
    assert client.calls.get("get_object", 0) == reads + 1
