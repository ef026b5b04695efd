"""The staging contract of MediaStore (``stage``): on every store, and through the HTTP layer.

Staged bytes are nobody's file until ``add_file`` takes them; an aborted, refused or
failed upload leaves nothing behind; a big upload is written through, never held whole,
and served the same way (on each media driver).
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple, TypeVar

import msgspec
import pytest
from litestar.testing import TestClient

from flextype_adapters.local_media import LocalMediaStore
from flextype_adapters.s3_bucket import S3Bucket
from flextype_adapters.s3_media import S3MediaStore
from flextype_adapters.s3_uploads import MIN_PART_SIZE
from flextype_core.errors import Conflict, PayloadTooLarge, UnsupportedMediaType
from flextype_core.media import MediaService
from flextype_core.ports import MediaStore
from flextype_entrypoints.container import build_container
from flextype_entrypoints.http.app import create_app
from tests.asgi_calls import multipart, streamed
from tests.http_client import Project, ProjectFactory
from tests.media_drivers import MEDIA_DRIVERS, StoredMedia, use_bucket
from tests.s3_server import bucket_settings
from tests.unit.fakes import FixedClock
from tests.unit.media_fakes import FakeMediaStore

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
META = {"title": "a"}
MB = 1024 * 1024
_T = TypeVar("_T")


class Staging:
    """A store under test and a way to see everything it keeps (files, staged bytes).

    ``pending``: how many bytes an upload needs before they wait where ``residue`` sees
    them (on S3, one part is buffered in memory: past two, the first is in the bucket).
    """

    def __init__(
        self, kind: str, store: MediaStore, root: Path, bucket: S3Bucket | None = None
    ) -> None:
        self.kind = kind
        self.root = root
        self.store = store
        self.bucket = bucket
        # On S3 an upload smaller than a part waits in memory, and a part is sent by a
        # thread of the upload's: handing it a second part waits until the first is sent.
        self.pending = 100_000 if bucket is None else 2 * MIN_PART_SIZE + 100_000

    def residue(self) -> list[str]:
        """Everything kept: stored files and staged bytes (the lock file aside); in a
        bucket, its objects and its incomplete multipart uploads."""
        if isinstance(self.store, FakeMediaStore):
            return sorted(self.store.contents) + [f"staged {id(u)}" for u in self.store.staged]
        if self.kind == "s3" and self.bucket is not None:
            return _bucket_residue(self.bucket)
        kept = [] if self.kind == "local" else [f"row {f.id}" for f in self.store.files("")]
        if self.bucket is not None:
            kept += _bucket_residue(self.bucket)
        if not self.root.exists():
            return kept
        return kept + sorted(
            str(p.relative_to(self.root))
            for p in self.root.rglob("*")
            if p.is_file() and p != self.root / ".lock"
        )


def _bucket_residue(bucket: S3Bucket) -> list[str]:
    """Every object of the bucket, and every multipart upload not completed."""
    client = bucket.client
    objects = client.list_objects_v2(Bucket=bucket.bucket).get("Contents", [])
    uploads = client.list_multipart_uploads(Bucket=bucket.bucket).get("Uploads", [])
    return sorted(o["Key"] for o in objects) + sorted(f"upload {u['Key']}" for u in uploads)


@pytest.fixture(params=["fake", "local", "postgres", "postgres+s3", "s3"])
def staging(request: pytest.FixtureRequest, tmp_path: Path) -> Staging:
    if request.param == "fake":
        return Staging("fake", FakeMediaStore(), tmp_path)
    if request.param == "local":
        return Staging("local", LocalMediaStore(tmp_path / "media"), tmp_path / "media")
    if request.param == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        return Staging("s3", S3MediaStore(tmp_path / "media", bucket), tmp_path, bucket)
    if request.param == "postgres":
        store = request.getfixturevalue("pg_media_store")
        return Staging("postgres", store, tmp_path / "pg-media")
    store = request.getfixturevalue("pg_s3_media_store")
    bucket = request.getfixturevalue("s3_bucket")
    return Staging("postgres+s3", store, tmp_path / "pg-media", bucket)


def service(store: MediaStore, max_file_size: int = 1000) -> MediaService:
    return MediaService(
        store, FixedClock(), None, accept_file_types=["png", "txt"], max_file_size=max_file_size
    )


def test_an_aborted_upload_leaves_nothing(staging: Staging) -> None:
    with staging.store.stage() as upload:
        upload.write(b"x" * staging.pending)
        assert upload.size == staging.pending
        assert staging.residue() != []  # the bytes wait somewhere
    assert staging.residue() == []
    upload.abort()  # twice is harmless
    assert staging.residue() == []


def test_staged_bytes_are_no_file_until_added(staging: Staging) -> None:
    store = staging.store
    with store.stage() as upload:
        upload.write(b"hello ")
        upload.write(bytearray(b"world"))
        assert upload.head(5) == b"hello"
        assert store.files("") == [] and store.folders("") == []
        added = store.add_file("docs/a.txt", upload, META, replace=False)
        stored = staging.residue()
    assert added.meta == META
    assert store.read("docs/a.txt") == b"hello world"
    upload.abort()  # taken by the store: the file stays
    assert store.read("docs/a.txt") == b"hello world"
    assert staging.residue() == stored
    assert [f.id for f in store.files("docs")] == ["docs/a.txt"]


def test_a_conflicting_add_leaves_the_upload_to_its_caller(staging: Staging) -> None:
    store = staging.store
    with store.stage() as first:
        first.write(b"one")
        store.add_file("a.txt", first, META, replace=False)
    before = staging.residue()
    with store.stage() as second:
        second.write(b"two")
        with pytest.raises(Conflict):
            store.add_file("a.txt", second, META, replace=False)
        assert second.head(3) == b"two"  # still there: the with block discards it
    assert staging.residue() == before
    assert store.read("a.txt") == b"one"


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("a.exe", PNG, UnsupportedMediaType),  # extension not accepted
        ("a.png", b"<html></html>", UnsupportedMediaType),  # content is no PNG
        ("a.txt", b"x" * 1001, PayloadTooLarge),
        ("taken.txt", b"new", Conflict),
    ],
)
def test_a_refused_upload_leaves_nothing(
    staging: Staging, name: str, content: bytes, error: type[Exception]
) -> None:
    media = service(staging.store)
    with media.stage() as upload:
        upload.write(b"old")
        media.upload("", "taken.txt", upload)
    before = staging.residue()
    with pytest.raises(error), media.stage() as upload:
        upload.write(content)
        media.upload("", name, upload)
    assert staging.residue() == before
    assert staging.store.read("taken.txt") == b"old"


def test_a_big_upload_is_never_held_in_memory_whole(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path / "media")
    media = service(store, max_file_size=64 * MB)
    chunk = PNG + b"\x00" * (MB - len(PNG))
    tracemalloc.start()
    try:
        with media.stage() as upload:
            for _ in range(48):
                upload.write(chunk)
            media.upload("big", "big.png", upload)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert store.file("big/big.png").meta["filesize"] == 48 * MB
    assert (tmp_path / "media" / "big" / "big.png").stat().st_size == 48 * MB
    assert peak < 4 * MB, peak


# -- through the HTTP layer, on each media driver -------------------------------------

PART = 5 * MB
"""The part size of the s3 projects here (the least S3 accepts): one part is buffered
and one may be in flight, so an upload holds less than three (``test_s3_uploads``)."""


class HttpProject(NamedTuple):
    project: Project
    stored: StoredMedia
    held: int
    """What the media driver may hold in memory for one upload (besides the server)."""


@pytest.fixture(params=MEDIA_DRIVERS)
def http_project(request: pytest.FixtureRequest, tmp_path: Path) -> HttpProject:
    """An empty yaml project, its media on the local disk or in a fresh bucket."""
    project = ProjectFactory(tmp_path / "templates")(tmp_path / "project", "yaml", demo=False)
    if request.param == "local":
        return HttpProject(project, StoredMedia(project.path, "local"), 0)
    # moto runs in a process of its own: its copies of the objects are not this process's.
    endpoint = request.getfixturevalue("s3_endpoint")
    s3 = bucket_settings(endpoint)
    use_bucket(project.path, s3, part_size=PART)
    # Under three parts for the upload (test_s3_uploads), boto3's and the bucket
    # listing's buffers besides: still far from the 48 MB of the file.
    return HttpProject(project, StoredMedia(project.path, "s3", s3), 4 * PART)


def _multipart(project: Project, name: str, chunks: list[bytes]) -> Iterator[bytes]:
    return multipart(project.token, project.access_token, name, chunks)


def _traced(call: Callable[[], _T]) -> tuple[_T, int]:
    """Run ``call``; return its result and the peak of memory allocated meanwhile."""
    tracemalloc.start()
    try:
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_a_big_upload_over_http_isstreamed_into_the_store_and_out_of_it(
    http_project: HttpProject,
) -> None:
    project, stored, held = http_project
    container = build_container(
        project.path,
        {
            "FLEXTYPE_MEDIA__MAX_FILE_SIZE": str(64 * MB),
            "FLEXTYPE_API__MAX_BODY_SIZE": str(64 * MB),
        },
    )
    chunk = b"\x00" * (256 * 1024)
    head = PNG + b"\x00" * (len(chunk) - len(PNG))
    body = _multipart(project, "big.png", [head] + [chunk] * 191)  # 2 buffers, 48 MB
    headers = {"content-type": "multipart/form-data; boundary=b0undary"}
    with TestClient(create_app(container)) as client:
        portal, app = client.blocking_portal, client.app
        (status, answer, _), peak = _traced(
            lambda: portal.call(streamed, app, "POST", "/api/media/files", headers, body)
        )
        assert status == 200, answer
        data = msgspec.json.decode(answer)["data"]
        assert data["id"] == "big.png" and data["filesize"] == 48 * MB
        assert peak < 8 * MB + held, peak
        # ... and served as it is read, never whole either.
        (status, first, length), peak = _traced(
            lambda: portal.call(streamed, app, "GET", "/media/big.png", {}, iter(()))
        )
        assert (status, length) == (200, 48 * MB)
        assert first.startswith(PNG)
        assert peak < 8 * MB, peak
    assert len(stored.content("big.png") or b"") == 48 * MB
    assert not [p for p in (project.path / "media" / ".uploads").glob("*") if p.is_file()]
