"""The WebhookStore contract, over the fake, the SQLite file and PostgreSQL.

Every store keeps the same webhooks, secrets, progress and delivery logs with the same
errors; ``hold`` makes one holder at a time, across processes for the real stores, and
a holder killed with SIGKILL lets the next one in.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import psycopg
import pytest

from flextype_adapters.postgres.database import PostgresDatabase
from flextype_adapters.postgres.webhooks import PostgresWebhookStore
from flextype_adapters.sqlite_webhooks import SqliteWebhookStore
from flextype_core.changes import NewChange
from flextype_core.dispatch import Dispatcher
from flextype_core.errors import Conflict, WebhookNotFound
from flextype_core.webhook_port import Delivery, Progress, Webhook, WebhookStore
from tests.unit.dispatch_fakes import FakeSender
from tests.unit.feed_fakes import FakeChangeLog, FakeWebhookStore

STORES = ["fake_webhook_store", "sqlite_webhook_store", "pg_webhook_store"]
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_webhook_store() -> FakeWebhookStore:
    return FakeWebhookStore()


@pytest.fixture
def sqlite_webhook_store(tmp_path: Path) -> Iterator[SqliteWebhookStore]:
    store = SqliteWebhookStore(tmp_path / "webhooks.sqlite3")
    yield store
    store.close()


@pytest.fixture
def pg_webhook_store(pg_database: PostgresDatabase) -> PostgresWebhookStore:
    return PostgresWebhookStore(pg_database)


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> WebhookStore:
    found: WebhookStore = request.getfixturevalue(request.param)
    return found


def _hook(webhook_id: str = "a" * 32, **changes: object) -> Webhook:
    fields: dict[str, object] = {
        "id": webhook_id,
        "url": "https://hooks.example.com/in",
        "events": ["*"],
        "created_at": 100,
        "modified_at": 100,
        **changes,
    }
    return Webhook(**fields)  # type: ignore[arg-type]


def _delivery(attempt: int, cursor: str = "log-1") -> Delivery:
    return Delivery(
        cursor=cursor,
        event="entry.created",
        message_id=f"msg_{cursor}",
        attempt=attempt,
        status=500 if attempt % 2 else None,
        error=None if attempt % 2 else "connection refused",
        duration_ms=12.5,
        at=1_700_000_000 + attempt,
        next_retry_at=1_700_000_005 + attempt,
    )


def test_a_created_webhook_reads_back_with_its_secret_and_progress(store: WebhookStore) -> None:
    hook = _hook(id_prefix="movies", title="Build", state="disabled", events=["media.moved"])
    store.create(hook, SECRET, Progress(position=7))
    assert store.get(hook.id) == hook
    assert store.secret(hook.id) == SECRET
    assert store.progress(hook.id) == Progress(position=7)
    assert store.deliveries(hook.id) == []


def test_all_lists_oldest_first_then_by_id(store: WebhookStore) -> None:
    store.create(_hook("c" * 32, created_at=5), SECRET, Progress(position=0))
    store.create(_hook("b" * 32, created_at=9), SECRET, Progress(position=0))
    store.create(_hook("a" * 32, created_at=9), SECRET, Progress(position=0))
    assert [h.id for h in store.all()] == ["c" * 32, "a" * 32, "b" * 32]


def test_secrets_never_leave_through_get_or_all(store: WebhookStore) -> None:
    store.create(_hook(), SECRET, Progress(position=0))
    shown = msgspec.json.encode([store.get("a" * 32), store.all()])
    assert SECRET.encode() not in shown
    assert b"whsec_" not in shown


def test_creating_a_taken_id_is_conflict_and_changes_nothing(store: WebhookStore) -> None:
    store.create(_hook(title="first"), SECRET, Progress(position=3))
    with pytest.raises(Conflict):
        store.create(_hook(title="second"), "whsec_other", Progress(position=9))
    assert store.get("a" * 32).title == "first"
    assert store.secret("a" * 32) == SECRET
    assert store.progress("a" * 32).position == 3


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get("f" * 32),
        lambda s: s.secret("f" * 32),
        lambda s: s.progress("f" * 32),
        lambda s: s.deliveries("f" * 32),
        lambda s: s.delete("f" * 32),
        lambda s: s.replay("f" * 32, 1),
        lambda s: s.update("f" * 32, lambda h: h),
    ],
)
def test_a_missing_webhook_is_not_found(
    store: WebhookStore, call: Callable[[WebhookStore], object]
) -> None:
    with pytest.raises(WebhookNotFound):
        call(store)


def test_update_stores_what_the_change_returns(store: WebhookStore) -> None:
    store.create(_hook(), SECRET, Progress(position=0))
    changed = store.update(
        "a" * 32, lambda h: msgspec.structs.replace(h, title="New", modified_at=200)
    )
    assert (changed.title, changed.modified_at) == ("New", 200)
    assert store.get("a" * 32) == changed


def test_an_update_whose_change_raises_writes_nothing(store: WebhookStore) -> None:
    store.create(_hook(), SECRET, Progress(position=0))

    def refuse(hook: Webhook) -> Webhook:
        raise Conflict("no")

    with pytest.raises(Conflict):
        store.update("a" * 32, refuse)
    assert store.get("a" * 32) == _hook()


def test_delete_removes_the_secret_progress_and_log(store: WebhookStore) -> None:
    store.create(_hook(), SECRET, Progress(position=0))
    store.record("a" * 32, _delivery(1))
    store.delete("a" * 32)
    assert store.all() == []
    with pytest.raises(WebhookNotFound):
        store.secret("a" * 32)
    assert store.save_progress("a" * 32, Progress(position=4)) is False
    store.record("a" * 32, _delivery(2))  # a deliverer late by one attempt: nothing kept
    store.create(_hook(), SECRET, Progress(position=0))
    assert store.deliveries("a" * 32) == []


def test_save_progress_stores_the_progress_of_the_current_generation(
    store: WebhookStore,
) -> None:
    store.create(_hook(), SECRET, Progress(position=2))
    moved = Progress(position=5, attempt=3, next_at=1_700_000_123.5)
    assert store.save_progress("a" * 32, moved) is True
    assert store.progress("a" * 32) == moved


def test_save_progress_is_refused_after_a_replay(store: WebhookStore) -> None:
    store.create(_hook(), SECRET, Progress(position=2))
    read = store.progress("a" * 32)
    replayed = store.replay("a" * 32, 1)
    assert replayed == Progress(position=1, attempt=0, next_at=None, generation=read.generation + 1)
    assert store.save_progress("a" * 32, Progress(position=9, generation=read.generation)) is False
    assert store.progress("a" * 32) == replayed
    newer = Progress(position=3, generation=replayed.generation)
    assert store.save_progress("a" * 32, newer) is True
    assert store.progress("a" * 32) == newer


def test_save_progress_never_moves_the_position_back_within_a_generation(
    store: WebhookStore,
) -> None:
    # A deliverer that lost its hold finishes an older change after the new holder
    # moved on: its progress is refused, so nothing is sent twice out of order.
    store.create(_hook(), SECRET, Progress(position=10))
    assert store.save_progress("a" * 32, Progress(position=20)) is True
    assert store.save_progress("a" * 32, Progress(position=11)) is False
    assert store.progress("a" * 32) == Progress(position=20)
    failed = Progress(position=20, attempt=1, next_at=1_700_000_005.0)
    assert store.save_progress("a" * 32, failed) is True  # the same position: a retry
    assert store.progress("a" * 32) == failed
    replayed = store.replay("a" * 32, 5)  # a replay moves it back, in a new generation
    assert store.save_progress("a" * 32, Progress(position=6, generation=replayed.generation))
    assert store.progress("a" * 32).position == 6


def test_all_progress_reads_every_webhook_s_progress_at_once(store: WebhookStore) -> None:
    assert store.all_progress() == {}
    store.create(_hook("a" * 32), SECRET, Progress(position=3))
    store.create(_hook("b" * 32), SECRET, Progress(position=5))
    failed = Progress(position=4, attempt=2, next_at=1_700_000_123.5)
    store.save_progress("a" * 32, failed)
    replayed = store.replay("b" * 32, 1)
    assert store.all_progress() == {"a" * 32: failed, "b" * 32: replayed}
    store.delete("a" * 32)
    assert store.all_progress() == {"b" * 32: replayed}


def test_replay_forgets_failed_attempts(store: WebhookStore) -> None:
    store.create(_hook(), SECRET, Progress(position=2))
    store.save_progress("a" * 32, Progress(position=4, attempt=6, next_at=2e9))
    replayed = store.replay("a" * 32, 4)
    assert (replayed.position, replayed.attempt, replayed.next_at) == (4, 0, None)
    assert store.progress("a" * 32) == replayed


def test_the_delivery_log_keeps_the_last_100_newest_first(store: WebhookStore) -> None:
    store.create(_hook("a" * 32), SECRET, Progress(position=0))
    store.create(_hook("b" * 32), SECRET, Progress(position=0))
    for attempt in range(1, 106):
        store.record("a" * 32, _delivery(attempt))
    store.record("b" * 32, _delivery(1, "log-9"))
    kept = store.deliveries("a" * 32)
    assert [d.attempt for d in kept] == list(range(105, 5, -1))
    assert kept[0] == _delivery(105)
    assert store.deliveries("b" * 32) == [_delivery(1, "log-9")]


def test_one_holder_at_a_time_and_free_after_the_block(store: WebhookStore) -> None:
    store.create(_hook("a" * 32), SECRET, Progress(position=0))
    with store.hold("a" * 32) as first:
        assert first is not None and first.kept()
        with store.hold("a" * 32) as second:
            assert second is None
        with store.hold("b" * 32) as other:
            assert other is not None  # each webhook has its own
        assert first.kept()
    with store.hold("a" * 32) as again:
        assert again is not None


def test_a_holder_in_another_thread_is_refused(store: WebhookStore) -> None:
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with store.hold("a" * 32) as taken:
            assert taken is not None
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(60)
        with store.hold("a" * 32) as taken:
            assert taken is None
    finally:
        release.set()
        holder.join(60)
    with store.hold("a" * 32) as taken:
        assert taken is not None


# -- across processes (the real stores) ------------------------------------------------------

_HOLDER = r"""
import sys
from pathlib import Path

kind, where, webhook_id = sys.argv[1], sys.argv[2], sys.argv[3]
if kind == "sqlite":
    from flextype_adapters.sqlite_webhooks import SqliteWebhookStore
    store = SqliteWebhookStore(Path(where))
else:
    from flextype_adapters.postgres.database import PostgresDatabase
    from flextype_adapters.postgres.webhooks import PostgresWebhookStore
    store = PostgresWebhookStore(PostgresDatabase(where, schema=sys.argv[4], pool_size=1))
with store.hold(webhook_id) as taken:
    print("held" if taken else "refused", flush=True)
    sys.stdin.read()  # until killed (or the test closes stdin)
"""


def _eventually(check: Callable[[], bool], what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)  # polling an observed state, not a fixed wait


def _holder_args(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> list[str]:
    if kind == "sqlite":
        return [str(tmp_path / "webhooks.sqlite3")]
    db: PostgresDatabase = request.getfixturevalue("pg_database")
    return [request.getfixturevalue("postgres_url"), db.schema]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_hold_excludes_another_process_until_it_is_killed(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store: WebhookStore = request.getfixturevalue(
        f"{'pg' if kind == 'postgres' else kind}_webhook_store"
    )
    args = _holder_args(kind, tmp_path, request)
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, kind, args[0], "a" * 32, *args[1:]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=_ROOT,
    ) as holder:
        assert holder.stdout is not None
        line = holder.stdout.readline()
        assert line == "held\n", holder.stderr.read() if holder.stderr else line
        with store.hold("a" * 32) as taken:
            assert taken is None
        with store.hold("b" * 32) as taken:
            assert taken is not None
        holder.kill()  # SIGKILL: no block ends, no lock is released by the holder
        holder.wait(60)

    def free() -> bool:
        with store.hold("a" * 32) as taken:
            return taken is not None

    _eventually(free, "the lock of a killed holder to be released")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_second_process_is_refused_while_this_one_holds(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store: WebhookStore = request.getfixturevalue(
        f"{'pg' if kind == 'postgres' else kind}_webhook_store"
    )
    args = _holder_args(kind, tmp_path, request)
    with store.hold("a" * 32) as taken:
        assert taken is not None
        done = subprocess.run(
            [sys.executable, "-c", _HOLDER, kind, args[0], "a" * 32, *args[1:]],
            input="",
            capture_output=True,
            text=True,
            cwd=_ROOT,
            timeout=120,
            check=False,
        )
    assert done.stdout == "refused\n", done.stderr


# -- what only the real stores have: other instances, processes, files ------------------------


def _end_the_lock_session(url: str, db: PostgresDatabase, webhook_id: str) -> None:
    """Terminate the session holding the webhook's advisory lock (a restart, a proxy cut...)."""
    with psycopg.connect(url, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
            " AND granted AND objsubid = 1"
            " AND ((classid::int8 << 32) | objid::int8) = hashtextextended(%s, 0)",
            [db.lock_key(f"webhook:{webhook_id}")],
        ).fetchall()
    assert ended == [(True,)]


def test_a_postgres_hold_whose_session_dies_is_lost_and_another_server_takes_it(
    pg_webhook_store: PostgresWebhookStore, pg_database: PostgresDatabase, postgres_url: str
) -> None:
    pg_webhook_store.create(_hook(), SECRET, Progress(position=0))
    with pg_webhook_store.hold("a" * 32) as first:
        assert first is not None and first.kept()
        _end_the_lock_session(postgres_url, pg_database, "a" * 32)
        assert first.kept() is False
        with pg_webhook_store.hold("a" * 32) as second:
            assert second is not None and second.kept()


def test_a_deliverer_whose_postgres_hold_is_lost_sends_no_more(
    pg_webhook_store: PostgresWebhookStore, pg_database: PostgresDatabase, postgres_url: str
) -> None:
    log = FakeChangeLog()
    pg_webhook_store.create(_hook(), SECRET, Progress(position=0))
    log.append([NewChange(op="update", type="entry", id=f"e{n}") for n in range(5)])
    sender = FakeSender()

    def session_lost() -> int:
        _end_the_lock_session(postgres_url, pg_database, "a" * 32)
        return 200

    sender.script(_hook().url, [session_lost])
    dispatcher = Dispatcher(
        log=log,
        store=pg_webhook_store,
        sender=sender,
        clock=time.time,
        schedule=[1.0],
        rand=lambda: 0.5,
    )
    run = dispatcher.run("a" * 32)
    assert run.held is False
    assert len(sender.sent) == 1
    assert pg_webhook_store.progress("a" * 32).position == 1
    assert dispatcher.run("a" * 32).caught_up == 5  # the next deliverer goes on
    assert len(sender.sent) == 5


def test_a_sqlite_hold_whose_lock_file_is_removed_is_lost(tmp_path: Path) -> None:
    store = SqliteWebhookStore(tmp_path / "webhooks.sqlite3")
    try:
        store.create(_hook(), SECRET, Progress(position=0))
        with store.hold("a" * 32) as first:
            assert first is not None and first.kept()
            store.delete("a" * 32)  # removes the lock file: a new one is free to take
            assert first.kept() is False
            store.create(_hook(), SECRET, Progress(position=0))
            with store.hold("a" * 32) as second:
                assert second is not None and second.kept()
    finally:
        store.close()


def test_sqlite_keeps_everything_for_the_next_instance(tmp_path: Path) -> None:
    path = tmp_path / "webhooks.sqlite3"
    first = SqliteWebhookStore(path)
    first.create(_hook(), SECRET, Progress(position=4))
    first.record("a" * 32, _delivery(1))
    first.close()
    second = SqliteWebhookStore(path)
    try:
        assert second.get("a" * 32) == _hook()
        assert second.secret("a" * 32) == SECRET
        assert second.progress("a" * 32) == Progress(position=4)
        assert second.deliveries("a" * 32) == [_delivery(1)]
    finally:
        second.close()


def test_postgres_keeps_everything_for_another_server(
    pg_webhook_store: PostgresWebhookStore, pg_database: PostgresDatabase, postgres_url: str
) -> None:
    pg_webhook_store.create(_hook(), SECRET, Progress(position=4))
    other = PostgresDatabase(postgres_url, schema=pg_database.schema, pool_size=2)
    try:
        second = PostgresWebhookStore(other)
        assert second.get("a" * 32) == _hook()
        assert second.secret("a" * 32) == SECRET
        assert second.progress("a" * 32) == Progress(position=4)
    finally:
        other.close()


def test_the_sqlite_file_and_its_companions_are_private(tmp_path: Path) -> None:
    store = SqliteWebhookStore(tmp_path / "webhooks.sqlite3")
    try:
        store.create(_hook(), SECRET, Progress(position=0))
        with store.hold("a" * 32) as taken:
            assert taken is not None
        made = [p for p in tmp_path.rglob("*") if p.is_file()]
        names = {p.name for p in made}
        assert {"webhooks.sqlite3", "webhooks.sqlite3-wal", "webhooks.sqlite3-shm"} <= names
        assert any(p.suffix == ".lock" for p in made)
        assert {oct(p.stat().st_mode & 0o777) for p in made} == {"0o600"}
    finally:
        store.close()


_CREATOR = r"""
import sys
from pathlib import Path
from flextype_adapters.sqlite_webhooks import SqliteWebhookStore
from flextype_core.webhook_port import Progress, Webhook

store = SqliteWebhookStore(Path(sys.argv[1]))
print("ready", flush=True)
sys.stdin.readline()
for n in range(40):
    hook_id = f"{sys.argv[2]}{n:031x}"
    store.create(
        Webhook(id=hook_id, url="https://x.example/", events=["*"], created_at=n, modified_at=n),
        "whsec_x",
        Progress(position=0),
    )
    store.save_progress(hook_id, Progress(position=n))
print("done", flush=True)
"""


def test_sqlite_serves_several_processes_writing_at_once(tmp_path: Path) -> None:
    path = tmp_path / "webhooks.sqlite3"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _CREATOR, str(path), prefix],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=_ROOT,
        )
        for prefix in "abc"
    ]
    try:
        for writer in writers:
            assert writer.stdout is not None
            assert writer.stdout.readline() == "ready\n"
        for writer in writers:  # all start together
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
        for writer in writers:
            out, err = writer.communicate(timeout=120)
            assert out == "done\n", err
    finally:
        for writer in writers:
            writer.kill()
            writer.wait(60)
    store = SqliteWebhookStore(path)
    try:
        hooks = store.all()
        assert len(hooks) == 120
        assert {store.progress(h.id).position for h in hooks} == set(range(40))
    finally:
        store.close()
