"""The change feed's order on PostgreSQL, with real concurrent transactions.

A change committed late by a slow writer that took an earlier position is never skipped
by a reader that follows ``last``: the design makes a later position impossible to
see (or even to draw) before the earlier one commits. Waits are on observed progress
(pg_locks), never on fixed sleeps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psycopg

from flextype_adapters.postgres.changes import PostgresChangeLog
from flextype_adapters.postgres.database import PostgresDatabase, Tx
from flextype_adapters.postgres.entries import PostgresEntryStore
from flextype_core.changes import LoggedChange, entry_etag


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)  # polling an observed state, not a fixed wait


def _waiting_on_the_log_lock(url: str, db: PostgresDatabase) -> bool:
    """Whether a session waits now for ``db``'s change-log lock (pg_locks)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND (classid::bigint << 32 | objid::bigint) = hashtextextended(%s, 0)",
            [db.lock_key("changes")],
        ).fetchone()
    return bool(row and row[0])


def _drawn(db: PostgresDatabase) -> int:
    """The last position drawn from the log's sequence, committed or not."""
    row = db.read(
        lambda tx: tx.execute(
            "SELECT coalesce(last_value, 0) FROM pg_sequences"
            " WHERE schemaname = current_schema() AND sequencename = 'changes_seq_seq'"
        ).fetchone()
    )
    return int(row[0]) if row else 0


def test_a_slow_writer_holding_an_earlier_position_is_never_skipped(
    pg_database: PostgresDatabase, postgres_url: str
) -> None:
    writer_a = PostgresDatabase(postgres_url, schema=pg_database.schema, pool_size=1)
    reader = PostgresChangeLog(pg_database)
    fast = PostgresEntryStore(pg_database)
    fast.create({"start": {}})
    start = reader.head()
    held: list[int] = []
    release = threading.Event()

    def slow_write(tx: Tx) -> None:
        # A real entry write whose log rows are appended (its position drawn under the
        # change-log lock), then held open: a slow commit.
        tx.execute(
            "INSERT INTO entries (id, parent, depth, data, body) VALUES ('slow', '', 1, '{}', '{}')"
        )
        tx.log("entries", "create", ["slow"], etags=[entry_etag("slow", {})])
        tx.flush()
        row = tx.execute("SELECT max(seq) FROM changes").fetchone()
        held.append(int(row[0]) if row else 0)
        assert release.wait(120)

    slow = threading.Thread(target=lambda: writer_a.run(slow_write))
    later = threading.Thread(target=lambda: fast.create({"fast": {}}))
    slow.start()
    try:
        _wait_until(lambda: bool(held), "the slow writer to take its position")
        position_a = held[0]
        assert position_a > start
        page = reader.read(start, 10)
        assert (page.changes, page.last) == ([], start)  # not committed: not visible
        later.start()
        _wait_until(
            lambda: _waiting_on_the_log_lock(postgres_url, pg_database) or not later.is_alive(),
            "the later write to wait or end",
        )
        page = reader.read(start, 10)
        assert (page.changes, page.last) == ([], start)  # neither is visible
        assert reader.head() == start
        # The later writer waits for the lock before it draws a position: no position
        # after A's can exist, let alone be seen, until A has committed.
        assert later.is_alive()
        assert _drawn(pg_database) == position_a
    finally:
        release.set()
        slow.join(120)
        if later.ident is not None:  # started
            later.join(120)
        writer_a.close()
    seen: list[LoggedChange] = []
    after = start
    while True:  # following last, as a client follows next
        page = reader.read(after, 1)
        seen += page.changes
        after = page.last
        if not page.more:
            break
    assert [(c.id, c.op) for c in seen] == [("slow", "create"), ("fast", "create")]
    assert seen[0].position == position_a < seen[1].position == after == reader.head()


def test_readers_following_concurrent_writers_see_every_change_once_in_order(
    pg_database: PostgresDatabase,
) -> None:
    store = PostgresEntryStore(pg_database)
    log = PostgresChangeLog(pg_database)
    writers, writes = 4, 15
    done = threading.Event()
    seen: list[int] = []
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(writes):
                store.create({f"w{n}/e{i}": {"i": i}})
                if i % 3 == 2:
                    store.update(f"w{n}/e{i}", lambda fields: {**fields, "u": True})
        except BaseException as exc:
            failures.append(exc)

    def follow() -> None:
        after, limit = 0, 1
        try:
            while True:
                finished = done.is_set()  # before the read: a read after it sees all
                page = log.read(after, limit)
                seen.extend(c.position for c in page.changes)
                after = page.last
                limit = limit % 5 + 1
                if finished and not page.more:
                    return
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    follower = threading.Thread(target=follow)
    follower.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    done.set()
    follower.join(120)
    assert not failures
    every = [c.position for c in log.read(0, 1000).changes]
    assert len(every) == writers * (writes + writes // 3)
    assert seen == every


def test_a_write_is_durable_before_it_is_listed_even_with_synchronous_commit_off(
    pg_database: PostgresDatabase, postgres_url: str
) -> None:
    # A commit under synchronous_commit=off is visible before it is on disk: a crash
    # could take back a change a reader already listed. A write that logs changes
    # commits durably ('local'); one that logs none keeps the server's setting.
    careless = PostgresDatabase(
        postgres_url + "?options=-c%20synchronous_commit%3Doff",
        schema=pg_database.schema,
        pool_size=1,
    )
    settings_seen: list[str] = []

    def write(logs: bool) -> Callable[[Tx], None]:
        def work(tx: Tx) -> None:
            if logs:
                tx.log("entries", "create", ["a"], etags=[entry_etag("a", {})])
                tx.flush()
            row = tx.execute("SELECT current_setting('synchronous_commit')").fetchone()
            settings_seen.append(str(row[0]) if row else "")

        return work

    try:
        careless.run(write(False))
        careless.run(write(True))
        careless.run(write(False))  # the setting was the transaction's only
    finally:
        careless.close()
    assert settings_seen == ["off", "local", "off"]
