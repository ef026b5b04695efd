"""S3MediaStore when the bucket's answer to a write is lost: a record the service stored
always keeps its blob (never listed, then 404 for good), whatever the caller does next.

A lost answer is made by a botocore hook: the request is sent by the hook itself (the
service stores the object), then the connection "closes" before the answer, as a
network cut would; botocore's own retries then do what they do against a real service.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
import urllib3

from flextype_adapters.s3_bucket import S3Bucket
from flextype_adapters.s3_media import S3MediaStore
from flextype_core.errors import ServiceUnavailable
from tests.integration.test_s3_media import META, add

_HTTP = urllib3.PoolManager()
EVERY = 100


def lose_answers(bucket: S3Bucket, key: str, times: int) -> list[int]:
    """Lose the answers of the first ``times`` PutObject requests of object ``key``.

    Returns a list that grows by one per answer lost.
    """
    lost: list[int] = []

    def hook(request: Any, **_: Any) -> None:
        if len(lost) >= times or not request.url.split("?")[0].endswith(bucket.key(key)):
            return
        body = request.body
        if hasattr(body, "read"):
            request.reset_stream()
            body = body.read()
            request.reset_stream()
        answer = _HTTP.request(
            request.method, request.url, body=body, headers=dict(request.headers)
        )
        assert answer.status == 200  # the service stored it
        lost.append(1)
        raise botocore.exceptions.ConnectionClosedError(endpoint_url="http://s3.invalid")

    bucket.client.meta.events.register("before-send.s3.PutObject", hook)
    return lost


def upload(store: S3MediaStore, file_id: str, data: bytes, *, replace: bool) -> None:
    """What the HTTP upload does: abort the upload whatever add_file raised."""
    with store.stage() as staged:
        staged.write(data)
        staged.finish()
        store.add_file(file_id, staged, META, replace=replace)


CASES: dict[str, tuple[int, Callable[[S3MediaStore], object]]] = {
    # (answers lost, the write); EVERY: more than botocore's attempts.
    "add, the first answer lost": (1, lambda s: upload(s, "f/a.png", b"new", replace=False)),
    "replace, every answer lost": (EVERY, lambda s: upload(s, "f/a.png", b"new", replace=True)),
    "add making its folder, every answer lost": (
        EVERY,
        lambda s: upload(s, "g/a.png", b"new", replace=False),
    ),
    "copy, every answer lost": (EVERY, lambda s: s.copy_file("f/old.png", "f/a.png")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_stored_record_keeps_its_bytes_when_the_answer_is_lost(
    s3_bucket: S3Bucket, tmp_path: Path, case: str
) -> None:
    times, write = CASES[case]
    store = S3MediaStore(tmp_path / "media", s3_bucket)
    add(store, "f/old.png", b"new")
    if case.startswith("replace"):
        add(store, "f/a.png", b"old")
    target = "g/a.png" if "folder" in case else "f/a.png"
    lost = lose_answers(s3_bucket, f".media/{target}", times)
    if times == EVERY:
        with pytest.raises(ServiceUnavailable):  # the outcome is unknown to the caller
            write(store)
    else:
        write(store)  # the retry's 412 is the write's own record: a success
        assert len(lost) == times
    # Whatever the caller was told, a file the API lists has its bytes.
    folder = target.rsplit("/", 1)[0]
    if store.folder_exists(folder) and target in [f.id for f in store.files(folder)]:
        assert store.read(target) == b"new"
    else:
        assert "folder" in case  # a journaled write rolled back: nothing of it is left
    store.remove_debris()


def test_a_journaled_add_whose_commit_note_fails_keeps_its_bytes(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    """The records are made, then the journal cannot be rewritten at the commit point:
    the error reaches the caller, but the records may stand (a journal on disk that
    reached "commit" finishes them), so their blob must stay."""
    root = tmp_path / "media"
    store = S3MediaStore(root, s3_bucket)
    store.create_folder("f")

    def block_the_journal(request: Any, **_: Any) -> None:
        if request.url.split("?")[0].endswith(s3_bucket.key(".media/g/a.png")):
            (journal,) = root.glob(".s3-journal-*")
            journal.unlink()
            (journal / "in-the-way").mkdir(parents=True)  # the next save cannot land

    s3_bucket.client.meta.events.register("before-send.s3.PutObject", block_the_journal)
    with pytest.raises(ServiceUnavailable):
        upload(store, "g/a.png", b"new", replace=False)
    s3_bucket.client.meta.events.unregister("before-send.s3.PutObject", block_the_journal)
    (blocked,) = root.glob(".s3-journal-*")
    (blocked / "in-the-way").rmdir()
    blocked.rmdir()  # the disk repaired, with the records made and no journal left
    assert [f.id for f in store.files("g")] == ["g/a.png"]
    assert store.read("g/a.png") == b"new"
