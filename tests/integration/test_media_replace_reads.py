"""A file replaced while a reader fetches it: the reader gets the old or the new bytes,
never a 404 (both stores with their blobs in a bucket; the replace removes the old blob
between the reader's lookup of the record and its GET of the blob)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flextype_adapters.s3_blobs import BLOBS
from flextype_adapters.s3_bucket import S3Bucket
from flextype_adapters.s3_media import S3MediaStore
from flextype_core.ports import MediaStore


def add(store: MediaStore, file_id: str, data: bytes) -> None:
    with store.stage() as upload:
        upload.write(data)
        store.add_file(file_id, upload, {"title": "t"}, replace=True)


@pytest.fixture(params=["s3", "postgres+s3"])
def store(request: pytest.FixtureRequest, s3_bucket: S3Bucket, tmp_path: Path) -> MediaStore:
    if request.param == "s3":
        return S3MediaStore(tmp_path / "media", s3_bucket)
    store: MediaStore = request.getfixturevalue("pg_s3_media_store")
    return store


READS: dict[str, Callable[[MediaStore], object]] = {
    "open": lambda s: s.read("a.png"),
    "content_hash": lambda s: s.content_hash("a.png"),
}


@pytest.mark.parametrize("read", list(READS))
def test_a_replace_between_lookup_and_fetch_is_no_404(
    store: MediaStore, s3_bucket: S3Bucket, read: str
) -> None:
    add(store, "a.png", b"old")
    replaced: list[int] = []

    def replace_first(request: Any, **_: Any) -> None:
        # The reader found the record and asks for its blob: the file is replaced now.
        if not replaced and f"/{s3_bucket.key(BLOBS)}" in request.url:
            replaced.append(1)
            add(store, "a.png", b"new")

    s3_bucket.client.meta.events.register("before-send.s3.GetObject", replace_first)
    got = READS[read](store)
    assert replaced
    assert got in (b"new", store.content_hash("a.png"))
