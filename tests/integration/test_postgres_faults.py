"""The PostgreSQL stores when the database fails: 503s that say so, and recovery by themselves."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from flextype_adapters.postgres.database import PostgresDatabase, Tx
from flextype_adapters.postgres.entries import PostgresEntryStore
from flextype_adapters.postgres.tokens import PostgresTokenStore
from flextype_core import ServiceUnavailable
from tests.postgres_cluster import PostgresCluster, require_bindir


def _eventually(check: Callable[[], bool], what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)  # polling an observed state, not a guessed wait


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    """A cluster of this test's own, to stop and start."""
    with PostgresCluster(require_bindir()) as own:
        own.start()
        yield own


def _unavailable(action: Callable[[], object], secret: str) -> ServiceUnavailable:
    with pytest.raises(ServiceUnavailable) as caught:
        action()
    error = caught.value
    assert error.retry_after == 1
    assert secret not in error.message
    assert "postgresql://" not in error.message
    return error


def test_a_stopped_database_answers_unavailable_and_the_same_store_recovers(
    cluster: PostgresCluster,
) -> None:
    db = PostgresDatabase(cluster.url, pool_size=3, pool_timeout=1.0)
    try:
        db.migrate()
        entries, tokens = PostgresEntryStore(db), PostgresTokenStore(db)
        entries.create({"a": {"n": 1}})
        assert tokens.list() == []
        cluster.stop()
        _unavailable(lambda: entries.get("a"), cluster.password)
        _unavailable(lambda: entries.create({"b": {}}), cluster.password)
        _unavailable(tokens.list, cluster.password)
        _unavailable(db.check, cluster.password)
        cluster.start()
        _eventually(lambda: _answers(db), "the pool to reconnect")
        assert entries.get("a").fields == {"n": 1}
        assert not entries.exists("b")  # refused while down: nothing half-written
        entries.create({"b": {}})
        assert entries.exists("b")
    finally:
        db.close()


def _answers(db: PostgresDatabase) -> bool:
    try:
        db.check()
    except ServiceUnavailable:
        return False
    return True


def test_connections_cut_by_a_restart_are_replaced_without_an_error(
    cluster: PostgresCluster,
) -> None:
    db = PostgresDatabase(cluster.url, pool_size=3, pool_timeout=5.0)
    try:
        db.migrate()
        store = PostgresEntryStore(db)
        store.create({"a": {"n": 1}})
        # The pool's idle connections die with the old server: the first call finds that
        # out before anything is written, and runs again on a new connection.
        cluster.stop()
        cluster.start()
        store.update("a", lambda fields: {"n": 2})  # a write (in a transaction)
        cluster.stop()
        cluster.start()
        assert store.get("a").fields == {"n": 2}  # a read (one statement)
    finally:
        db.close()


def test_an_exhausted_pool_answers_unavailable_after_its_timeout(
    pg_database: PostgresDatabase, postgres_url: str
) -> None:
    db = PostgresDatabase(postgres_url, schema=pg_database.schema, pool_size=1, pool_timeout=0.3)
    store = PostgresEntryStore(db)
    store.create({"a": {}})
    held = threading.Event()
    release = threading.Event()

    def hold_the_only_connection() -> None:
        with store.exclusive():
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold_the_only_connection)
    holder.start()
    try:
        assert held.wait(60)
        error = _unavailable(lambda: store.get("a"), postgres_url)
        assert "no database connection came free" in error.message
    finally:
        release.set()
        holder.join(60)
        db.close()


def test_a_statement_over_the_timeout_answers_unavailable_and_writes_nothing(
    pg_database: PostgresDatabase, postgres_url: str
) -> None:
    impatient = PostgresDatabase(
        postgres_url, schema=pg_database.schema, pool_size=2, statement_timeout=0.2
    )
    store, slow = PostgresEntryStore(pg_database), PostgresEntryStore(impatient)
    store.create({"a": {"n": 1}})
    try:
        with store.exclusive():  # holds every writer off longer than the timeout
            error = _unavailable(lambda: slow.update("a", lambda f: {"n": 2}), postgres_url)
        assert "statement timeout" in error.message
        assert store.get("a").fields == {"n": 1}
        slow.update("a", lambda f: {"n": 3})  # the connection is fine afterwards
        assert store.get("a").fields == {"n": 3}
    finally:
        impatient.close()


def test_a_deadlock_between_writers_is_unavailable_for_one_of_them(
    pg_database: PostgresDatabase,
) -> None:
    store = PostgresEntryStore(pg_database)
    store.create({"x": {}, "y": {}})
    both_locked_one = threading.Barrier(2)
    errors: list[ServiceUnavailable] = []

    def write(first: str, second: str) -> None:
        def work(tx: Tx) -> None:
            tx.execute("UPDATE entries SET depth = depth WHERE id = %s", [first])
            both_locked_one.wait(60)
            tx.execute("UPDATE entries SET depth = depth WHERE id = %s", [second])

        try:
            pg_database.run(work)
        except ServiceUnavailable as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=pair) for pair in (("x", "y"), ("y", "x"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [error.message for error in errors] == [
        "The storage is unavailable: concurrent writes got in each other's way. Try again."
    ]
