"""Every change log adapter for the contract suite (``test_change_log_contract``).

One entry of ``ADAPTERS`` adds an adapter to every contract test: how to say where a
log's data lives (text another process can open it by) and how to open it there.
An adapter without ``storage`` (the in-memory reference) is left out of the tests that
reopen a log or share it between processes.

Run as a program, it is one of the processes appending at once::

    python -m tests.integration.change_logs ADAPTER STORAGE TAG COUNT

It prints ``ready``, waits for a line on stdin, then appends ``COUNT`` changes with ids
``TAG/0``, ``TAG/1``, ... (one or two per append), and prints ``done``.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from flextype_adapters.postgres.changes import PostgresChangeLog
from flextype_adapters.postgres.database import PostgresDatabase
from flextype_adapters.sqlite_changes import SqliteChangeLog
from flextype_core.changes import ALL_TYPES, ChangeLog, LogPage, NewChange
from tests.postgres_change_log import append_to
from tests.postgres_cluster import drop_schema
from tests.unit.feed_fakes import FakeChangeLog

__all__ = ["ADAPTERS", "SHARED", "Adapter", "AppendableLog", "Clock"]

Clock = Callable[[], float]


class AppendableLog(ChangeLog, Protocol):
    """The port, plus what the stores call."""

    def append(self, changes: Sequence[NewChange]) -> None: ...


@dataclass(frozen=True)
class Adapter:
    """How the contract suite opens one adapter's logs.

    Attributes:
        open: a log over ``storage`` (None: a new log in memory), ``clock`` its time.
        storage: a new place for a log, as text another process can open it by (each
            call another place, cleaned up with the test); None: the adapter keeps its
            log in memory only.
    """

    open: Callable[[str | None, Clock], AppendableLog]
    storage: Callable[[pytest.FixtureRequest], str] | None = None


def _sqlite_file(request: pytest.FixtureRequest) -> str:
    folder: Path = request.getfixturevalue("tmp_path")
    return str(folder / f"changes-{uuid.uuid4().hex[:8]}.sqlite3")


def _sqlite(storage: str | None, clock: Clock) -> SqliteChangeLog:
    assert storage is not None
    return SqliteChangeLog(Path(storage), clock=clock)


def _fake(storage: str | None, clock: Clock) -> FakeChangeLog:
    return FakeChangeLog(clock=clock)


_OPENED: dict[str, list[PostgresDatabase]] = {}


def _postgres_schema(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("postgres_url")
    schema = f"log_{uuid.uuid4().hex[:12]}"
    storage = f"{url}#{schema}"

    def drop() -> None:
        for db in _OPENED.pop(storage, []):
            db.close()
        drop_schema(url, schema)

    request.addfinalizer(drop)
    return storage


class _PostgresLog:
    """A PostgresChangeLog with the ``append`` of a store's write (one transaction)."""

    def __init__(self, db: PostgresDatabase, clock: Clock) -> None:
        self._log = PostgresChangeLog(db)
        self.append = append_to(db, clock)

    def epoch(self) -> str:
        return self._log.epoch()

    def head(self) -> int:
        return self._log.head()

    def floor(self) -> int:
        return self._log.floor()

    def read(
        self,
        after: int,
        limit: int,
        *,
        id_prefix: str | None = None,
        types: frozenset[str] = ALL_TYPES,
    ) -> LogPage:
        return self._log.read(after, limit, id_prefix=id_prefix, types=types)

    def purge(self, before: int) -> int:
        return self._log.purge(before)


def _postgres(storage: str | None, clock: Clock) -> _PostgresLog:
    assert storage is not None
    url, _, schema = storage.rpartition("#")
    db = PostgresDatabase(url, schema=schema, pool_size=4)
    db.migrate()
    _OPENED.setdefault(storage, []).append(db)
    return _PostgresLog(db, clock)


ADAPTERS: dict[str, Adapter] = {
    "fake": Adapter(open=_fake),
    "sqlite": Adapter(open=_sqlite, storage=_sqlite_file),
    "postgres": Adapter(open=_postgres, storage=_postgres_schema),
}
SHARED: Collection[str] = [name for name, adapter in ADAPTERS.items() if adapter.storage]
"""The adapters whose logs outlive their object: reopened, shared between processes."""


def _append_many(name: str, storage: str, tag: str, count: int) -> None:
    log = ADAPTERS[name].open(storage, time.time)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    n = 0
    while n < count:
        batch = [
            NewChange(op="create", type="entry", id=f"{tag}/{i}", etag=f'"{tag}{i}"')
            for i in range(n, min(n + 1 + n % 2, count))
        ]
        log.append(batch)
        n += len(batch)
    sys.stdout.write("done\n")
    sys.stdout.flush()


if __name__ == "__main__":
    _append_many(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
