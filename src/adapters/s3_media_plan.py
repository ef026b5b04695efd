"""Multi-object writes of the S3 media store, journaled so a crash leaves old or new state.

S3 renames nothing and changes one object per request, so a folder move is many
copies, then many deletions. Each such write is a ``Plan``: the objects it creates,
the objects it deletes, the blobs it writes and the blobs it frees. Before the first
change to the bucket the plan is written to a local journal (``write_atomic``):

1. phase ``write``: blobs are copied and objects created. Nothing of the source has
   changed, so a rollback deletes what was created (and the blobs written): old state.
2. phase ``commit`` (the journal rewritten): the objects to delete are deleted. The new
   state is whole, so the rest is finished: new state.
3. the freed blobs are removed (a failure leaves orphans, swept later), the journal goes.

Whoever finds a journal (the next read or write, ``remove_debris`` at serve start)
rolls back or finishes it, holding the writers' lock and the view lock, so no reader
ever sees the states in between. A plan of one object change needs no journal: one
request is atomic.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from pathlib import Path

import msgspec

from flextype_adapters.atomic import fsync_dir, write_atomic
from flextype_adapters.local_media_reads import file_named
from flextype_adapters.parallel import run_parallel
from flextype_adapters.s3_blobs import S3Blobs
from flextype_adapters.s3_bucket import S3Bucket, is_missing, is_precondition_failed
from flextype_adapters.s3_media_reads import RECORDS
from flextype_core.errors import Conflict, ServiceUnavailable, StorageError

__all__ = ["Journal", "Plan", "Work"]


class Plan(msgspec.Struct):
    """What a multi-object write changes (object names relative to the bucket's prefix)."""

    created: list[str] = msgspec.field(default_factory=list)
    deleted: list[str] = msgspec.field(default_factory=list)
    new_blobs: list[str] = msgspec.field(default_factory=list)
    old_blobs: list[str] = msgspec.field(default_factory=list)
    phase: str = "write"
    """``write``: a rollback restores the old state; ``commit``: the write is finished."""


@dataclasses.dataclass
class Work:
    """A plan and how to make its objects (kept in memory only: a rollback needs none)."""

    plan: Plan = dataclasses.field(default_factory=Plan)
    puts: list[tuple[str, bytes]] = dataclasses.field(default_factory=list)
    """Objects written with these bodies."""
    copies: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    """(source, target) objects copied inside the service."""
    blob_copies: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    """(source, new) blobs copied before any object is made."""
    if_absent: bool = False
    """The one object of an unjournaled write must not exist (``If-None-Match: *``)."""

    def put(self, name: str, body: bytes) -> None:
        self.puts.append((name, body))
        self.plan.created.append(name)

    def copy(self, source: str, target: str) -> None:
        self.copies.append((source, target))
        self.plan.created.append(target)

    def copy_blob(self, source: str, new: str) -> None:
        self.blob_copies.append((source, new))
        self.plan.new_blobs.append(new)

    @property
    def journaled(self) -> bool:
        return len(self.plan.created) + len(self.plan.deleted) > 1


class Journal:
    """The journal of the writes to one bucket and prefix, in the local media folder.

    Named after the bucket and prefix, so a project moved to another bucket never
    replays a plan against the wrong one.
    """

    def __init__(self, root: Path, bucket: S3Bucket, blobs: S3Blobs) -> None:
        digest = hashlib.sha256(f"{bucket.bucket}\0{bucket.prefix}".encode()).hexdigest()
        self.path = root / f".s3-journal-{digest[:16]}.json"
        self._bucket = bucket
        self._blobs = blobs

    def left(self) -> bool:
        return self.path.exists()

    def run(self, work: Work) -> None:
        """Carry out ``work``.

        The caller holds the writers' lock, and the view lock if ``work.journaled``.
        """
        if not work.journaled:
            self._run_unjournaled(work)
            return
        plan = work.plan
        if not plan.created:
            plan.phase = "commit"
        self._save(plan)
        try:
            self._make(work)
            if plan.phase != "commit":
                plan.phase = "commit"
                self._save(plan)
            self.settle(plan)
        except Exception:
            # A failure (not a crash): settle now. A committed write finished is a
            # success; if settling fails too, the journal stays for the next reader or
            # writer to settle.
            with contextlib.suppress(Exception):
                self.settle(plan)
                if plan.phase == "commit":
                    return
            raise

    def _run_unjournaled(self, work: Work) -> None:
        try:
            run_parallel(lambda pair: self._blobs.copy(*pair), work.blob_copies)
        except BaseException:
            self._free(work.plan.new_blobs)  # no object names them yet
            raise
        try:
            self._make_objects(work)
        except Conflict:
            # Refused for sure (the object is another's): nothing names the new blobs.
            # Any other failure may come after the service stored the object, its answer
            # lost: the new blobs stay (one nothing names is swept by remove_debris).
            self._free(work.plan.new_blobs)
            raise
        self._delete(work.plan.deleted)
        self._free(work.plan.old_blobs)

    def replay(self) -> None:
        """Roll back or finish the plan the journal holds, if any (see the module)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        try:
            plan = msgspec.json.decode(data, type=Plan)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            # write_atomic never leaves a partial journal: this one was edited by hand.
            raise StorageError(
                f"The media journal {self.path.name} cannot be read ({exc}); repair or remove it."
            ) from exc
        self.settle(plan)

    def settle(self, plan: Plan) -> None:
        """Finish a committed plan or roll back one still writing; drop the journal."""
        if plan.phase == "commit":
            self._delete(plan.deleted)
            self._free(plan.old_blobs)
        else:
            self._delete(plan.created)
            self._free(plan.new_blobs)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
            fsync_dir(self.path.parent)

    def _save(self, plan: Plan) -> None:
        write_atomic(self.path, msgspec.json.encode(plan))

    def _make(self, work: Work) -> None:
        run_parallel(lambda pair: self._blobs.copy(*pair), work.blob_copies)
        self._make_objects(work)

    def _make_objects(self, work: Work) -> None:
        run_parallel(lambda pair: self._put(*pair, if_absent=work.if_absent), work.puts)
        run_parallel(lambda pair: self._copy(*pair), work.copies)

    def _put(self, name: str, body: bytes, *, if_absent: bool) -> None:
        client, bucket, key = self._bucket.client, self._bucket.bucket, self._bucket.key(name)
        try:
            if if_absent:
                client.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
            else:
                client.put_object(Bucket=bucket, Key=key, Body=body)
        except Exception as exc:
            if not is_precondition_failed(exc):
                raise
            # botocore resends a request whose answer was lost: the object this one
            # stored then fails the precondition. A body naming the same new blob is ours.
            if self._body(name) != body:
                raise Conflict(f"{file_named(name.removeprefix(RECORDS))} already exists.") from exc

    def _body(self, name: str) -> bytes | None:
        try:
            answer = self._bucket.client.get_object(
                Bucket=self._bucket.bucket, Key=self._bucket.key(name)
            )
        except Exception as exc:
            if is_missing(exc):
                return None
            raise
        return answer["Body"].read()

    def _copy(self, source: str, target: str) -> None:
        bucket = self._bucket.bucket
        self._bucket.client.copy_object(
            Bucket=bucket,
            Key=self._bucket.key(target),
            CopySource={"Bucket": bucket, "Key": self._bucket.key(source)},
        )

    def _delete(self, names: list[str]) -> None:
        if names:
            self._bucket.delete_names(names)

    def _free(self, blobs: list[str]) -> None:
        # What cannot be removed now is an orphan: remove_debris sweeps it later.
        with contextlib.suppress(StorageError, ServiceUnavailable):
            self._blobs.remove(blobs)
