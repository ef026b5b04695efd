"""The ChangeLog contract (``flextype_core.changes``), run against every adapter.

The adapters are ``tests.integration.change_logs.ADAPTERS``: one entry there adds one.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import sqlite3
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flextype_adapters.sqlite_changes import SqliteChangeLog
from flextype_core.changes import ALL_TYPES, LoggedChange, NewChange, matches
from tests.integration.change_logs import ADAPTERS, SHARED, AppendableLog

ROOT = Path(__file__).resolve().parents[2]
ENTRY = frozenset({"entry"})
MEDIA = frozenset({"media"})


class Clock:
    """A clock the test sets."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=list(ADAPTERS))
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=list(SHARED))
def shared(request: pytest.FixtureRequest) -> str:
    """An adapter whose log outlives its object (reopened, shared between processes)."""
    return str(request.param)


def _storage(request: pytest.FixtureRequest, name: str) -> str | None:
    where = ADAPTERS[name].storage
    return None if where is None else where(request)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def log(request: pytest.FixtureRequest, adapter: str, clock: Clock) -> AppendableLog:
    return ADAPTERS[adapter].open(_storage(request, adapter), clock)


def _new(change_id: str, op: str = "create", kind: str = "entry", **more: str) -> NewChange:
    etag = None if op == "delete" else f'"{change_id}"'
    return NewChange(op=op, type=kind, id=change_id, etag=etag, **more)  # type: ignore[arg-type]


def _everything(log: AppendableLog) -> list[LoggedChange]:
    return log.read(0, 1000).changes


# -- reading -------------------------------------------------------------------------------


def test_a_new_log_is_empty_and_named(log: AppendableLog) -> None:
    assert re.fullmatch("[a-z0-9]+", log.epoch())
    assert (log.head(), log.floor()) == (0, 0)
    page = log.read(0, 10)
    assert (page.changes, page.last, page.more) == ([], 0, False)


def test_changes_are_kept_as_appended_with_their_time(log: AppendableLog, clock: Clock) -> None:
    clock.now = 1234.9
    log.append([_new("a"), _new("b", "move", from_id="x"), _new("a", "delete")])
    found = _everything(log)
    assert [(c.op, c.type, c.id, c.from_id, c.etag, c.at) for c in found] == [
        ("create", "entry", "a", None, '"a"', 1234),
        ("move", "entry", "b", "x", '"b"', 1234),
        ("delete", "entry", "a", None, None, 1234),
    ]
    positions = [c.position for c in found]
    assert positions == sorted(set(positions))
    assert log.head() == positions[-1]


def test_pages_follow_last_until_there_is_no_more(log: AppendableLog) -> None:
    log.append([_new(f"e{i}") for i in range(5)])
    p = [c.position for c in _everything(log)]
    first = log.read(0, 2)
    assert ([c.position for c in first.changes], first.last, first.more) == (p[:2], p[1], True)
    second = log.read(first.last, 2)
    assert ([c.position for c in second.changes], second.more) == (p[2:4], True)
    # Exactly as many left as the limit: nothing more to read.
    third = log.read(second.last, 2)
    assert ([c.position for c in third.changes], third.last, third.more) == (p[4:], p[4], False)
    assert log.read(third.last, 2).changes == []
    assert log.read(third.last, 2).last == p[4]


def test_last_moves_past_the_changes_a_filter_leaves_out(log: AppendableLog) -> None:
    log.append([_new("a"), _new("b")])
    page = log.read(0, 10, types=MEDIA)
    assert (page.changes, page.last, page.more) == ([], log.head(), False)
    assert log.read(0, 10, id_prefix="elsewhere").last == log.head()


def test_a_full_page_of_filtered_changes_ends_at_its_last(log: AppendableLog) -> None:
    log.append([_new("a", kind="media"), _new("b"), _new("c", kind="media"), _new("d")])
    page = log.read(0, 1, types=MEDIA)
    assert [c.id for c in page.changes] == ["a"] and page.more
    rest = log.read(page.last, 10, types=MEDIA)
    assert [c.id for c in rest.changes] == ["c"] and not rest.more
    assert rest.last == log.head()


def test_types_and_an_id_prefix_filter_what_is_read(log: AppendableLog) -> None:
    log.append(
        [
            _new("movies"),
            _new("movies/dune"),
            _new("movies-old/x"),
            _new("moviesx"),
            _new("movies/dune.png", kind="media"),
            _new("archive/dune", "move", from_id="movies/dune"),  # out of the prefix
            _new("movies/b", "copy", from_id="other/b"),  # into it
            _new("other/c", "copy", from_id="movies/c"),  # a copy of something in it
        ]
    )
    under = log.read(0, 100, id_prefix="movies")
    assert [c.id for c in under.changes] == [
        "movies",
        "movies/dune",
        "movies/dune.png",
        "archive/dune",
        "movies/b",
        "other/c",
    ]
    entries = log.read(0, 100, id_prefix="movies", types=ENTRY)
    assert "movies/dune.png" not in [c.id for c in entries.changes]
    assert [c.id for c in log.read(0, 100, types=MEDIA).changes] == ["movies/dune.png"]
    assert len(log.read(0, 100, types=ALL_TYPES).changes) == 8
    assert [c.id for c in log.read(0, 100, id_prefix="movies/dune").changes] == [
        "movies/dune",
        "archive/dune",
    ]


# -- retention -----------------------------------------------------------------------------


def test_a_purge_removes_what_is_older_and_raises_the_floor(
    log: AppendableLog, clock: Clock
) -> None:
    clock.now = 100
    log.append([_new("old1"), _new("old2")])
    clock.now = 200
    log.append([_new("new1")])
    old = _everything(log)
    assert log.purge(150) == 2
    assert log.floor() == old[1].position
    assert [c.id for c in _everything(log)] == ["new1"]
    assert log.head() == old[2].position
    assert log.purge(150) == 0
    assert log.floor() == old[1].position


def test_a_purge_removes_only_the_oldest_run_of_changes_before_the_cut_off(
    log: AppendableLog, clock: Clock
) -> None:
    """A change dated before the cut-off but after a kept one (the clock stepped back)
    stays: the floor never passes a change the log still shows."""
    clock.now = 100
    log.append([_new("old")])
    clock.now = 300
    log.append([_new("new")])
    clock.now = 100
    log.append([_new("stepped back")])
    old = _everything(log)[0]
    assert log.purge(200) == 1
    assert log.floor() == old.position
    kept = _everything(log)
    assert [c.id for c in kept] == ["new", "stepped back"]
    assert all(c.position > log.floor() for c in kept)
    clock.now = 400
    assert log.purge(400) == 2
    assert (log.floor(), _everything(log)) == (log.head(), [])


def test_positions_are_never_handed_out_again_after_a_purge(
    log: AppendableLog, clock: Clock
) -> None:
    log.append([_new("a"), _new("b")])
    head = log.head()
    clock.now += 10
    assert log.purge(int(clock.now)) == 2
    assert log.head() == head == log.floor()
    log.append([_new("c")])
    assert [c.position for c in _everything(log)] == [head + 1]


def test_positions_are_never_reused_even_by_a_log_reopened_after_a_purge(
    request: pytest.FixtureRequest, shared: str, clock: Clock
) -> None:
    where = _storage(request, shared)
    first = ADAPTERS[shared].open(where, clock)
    first.append([_new("a"), _new("b")])
    head = first.head()
    clock.now += 10
    first.purge(int(clock.now))
    again = ADAPTERS[shared].open(where, clock)
    again.append([_new("c")])
    assert [c.position for c in _everything(again)] == [head + 1]
    assert again.floor() == head


# -- durability and sharing ----------------------------------------------------------------


def test_a_reopened_log_has_everything_and_its_name(
    request: pytest.FixtureRequest, shared: str, clock: Clock
) -> None:
    where = _storage(request, shared)
    first = ADAPTERS[shared].open(where, clock)
    first.append([_new("a"), _new("b", "delete")])
    again = ADAPTERS[shared].open(where, clock)
    assert again.epoch() == first.epoch()
    assert _everything(again) == _everything(first)
    assert again.head() == first.head()


def test_another_log_has_another_name(
    request: pytest.FixtureRequest, adapter: str, clock: Clock
) -> None:
    first = ADAPTERS[adapter].open(_storage(request, adapter), clock)
    second = ADAPTERS[adapter].open(_storage(request, adapter), clock)
    assert first.epoch() != second.epoch()


def test_threads_appending_at_once_each_get_their_own_positions(log: AppendableLog) -> None:
    def append(tag: str) -> None:
        for i in range(50):
            log.append([_new(f"{tag}/{i}")])

    threads = [threading.Thread(target=append, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = _everything(log)
    assert len({c.id for c in found}) == len(found) == 200
    assert [c.position for c in found] == sorted({c.position for c in found})
    for n in range(4):
        mine = [c.id for c in found if c.id.startswith(f"t{n}/")]
        assert mine == [f"t{n}/{i}" for i in range(50)]


def test_processes_appending_at_once_never_let_a_reader_pass_a_change(
    request: pytest.FixtureRequest, shared: str
) -> None:
    """Each change once, positions growing, and every read a prefix of the final order."""
    where = _storage(request, shared)
    assert where is not None
    count = 150
    reader = ADAPTERS[shared].open(where, Clock())
    seen: list[list[tuple[int, str]]] = []
    followed: list[tuple[int, str]] = []
    program = [sys.executable, "-m", "tests.integration.change_logs", shared, where]
    with contextlib.ExitStack() as stack:
        writers = [
            stack.enter_context(
                subprocess.Popen(
                    [*program, tag, str(count)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    cwd=ROOT,
                )
            )
            for tag in ("p1", "p2")
        ]
        for writer in writers:
            assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        for writer in writers:
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
        last = 0
        while any(writer.poll() is None for writer in writers) or last < reader.head():
            seen.append([(c.position, c.id) for c in reader.read(0, 10 * count).changes])
            page = reader.read(last, 7)
            followed += [(c.position, c.id) for c in page.changes]
            last = page.last
    assert [writer.returncode for writer in writers] == [0, 0]
    final = [(c.position, c.id) for c in reader.read(0, 10 * count).changes]
    assert len(final) == len({i for _, i in final}) == 2 * count
    assert [p for p, _ in final] == sorted({p for p, _ in final})
    for tag in ("p1", "p2"):
        assert [i for _, i in final if i.startswith(f"{tag}/")] == [
            f"{tag}/{n}" for n in range(count)
        ]
    assert all(snapshot == final[: len(snapshot)] for snapshot in seen)
    assert followed == final
    assert len(seen) > 1  # the reads ran while the writers did


# -- following the log never skips or repeats ----------------------------------------------

_ID = st.sampled_from(["a", "a/b", "a/c", "ab", "b", "b/a"])
_CHANGE = st.builds(
    lambda op, kind, change_id, source: NewChange(
        op=op,
        type=kind,
        id=change_id,
        from_id=source if op in ("move", "copy") else None,
        etag=None if op == "delete" else '"e"',
    ),
    st.sampled_from(["create", "update", "move", "copy", "delete"]),
    st.sampled_from(["entry", "media"]),
    _ID,
    _ID,
)


@dataclass
class _Follower:
    """A reader following ``last`` with one filter."""

    id_prefix: str | None
    types: frozenset[str]
    last: int = 0
    seen: list[int] = field(default_factory=list)

    def follow(self, log: AppendableLog, limit: int) -> bool:
        """Read one page after ``last``; tell whether there is more."""
        page = log.read(self.last, limit, id_prefix=self.id_prefix, types=self.types)
        assert page.last >= self.last
        self.last = page.last
        self.seen += [c.position for c in page.changes]
        return page.more


_FILTERS = [(None, ALL_TYPES), ("a", ALL_TYPES), (None, MEDIA), ("b", ENTRY)]
# An append (a list of changes), or a read by one of the followers (which, limit).
_STEP = st.one_of(
    st.lists(_CHANGE, min_size=1, max_size=4),
    st.tuples(st.integers(min_value=0, max_value=len(_FILTERS) - 1), st.integers(1, 5)),
)


@pytest.mark.parametrize("name", list(ADAPTERS))
# A log of its own per example (made in the test): the request only says where.
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_STEP, max_size=30))
def test_followers_of_last_see_every_change_once_in_order(
    request: pytest.FixtureRequest,
    name: str,
    steps: list[list[NewChange] | tuple[int, int]],
) -> None:
    log = ADAPTERS[name].open(_storage(request, name), Clock())
    followers = [_Follower(prefix, types) for prefix, types in _FILTERS]
    for step in steps:
        if isinstance(step, list):
            log.append(step)
        else:
            followers[step[0]].follow(log, step[1])
    everything = _everything(log)
    for follower in followers:
        while follower.follow(log, 3):
            pass
        assert follower.seen == [
            c.position for c in everything if matches(c, follower.id_prefix, follower.types)
        ]
        assert follower.last == log.head()


# -- what the YAML store asks of the file drivers' log -------------------------------------


def test_the_sqlite_log_says_what_it_last_logged_of_each_id(tmp_path: Path) -> None:
    clock = Clock(100)
    log = SqliteChangeLog(tmp_path / "changes.sqlite3", clock=clock)
    log.append([_new("a"), _new("b"), _new("c")])
    log.append([_new("d", "move", from_id="b"), _new("c", "delete"), _new("a", "update")])
    assert log.known("entry", ["a", "b", "c", "d", "e"]) == {
        "a": '"a"',
        "b": None,
        "c": None,
        "d": '"d"',
    }
    assert log.known("media", ["a"]) == {}
    # Kept after the changes are purged: a snapshot or a sweep that still lists b or c
    # must not take them for deleted by hand (a second delete).
    clock.now = 200
    log.purge(200)
    assert log.known("entry", ["a", "b", "c", "d"]) == {
        "a": '"a"',
        "b": None,
        "c": None,
        "d": '"d"',
    }
    assert log.known("entry", [f"x{i}" for i in range(1200)] + ["a"]) == {"a": '"a"'}


def test_the_sqlite_log_dates_an_append_once_it_holds_the_write_lock(tmp_path: Path) -> None:
    """An append that waits for another writer is dated after the wait: dates grow with
    positions (what a purge of the oldest run relies on)."""
    path = tmp_path / "changes.sqlite3"
    locked: list[bool] = []

    def clock() -> float:
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            locked.append(False)
        except sqlite3.OperationalError as exc:
            locked.append("locked" in str(exc))
        finally:
            other.close()
        return 1000.0

    log = SqliteChangeLog(path, clock=clock)
    log.append([_new("a")])
    log.append([_new("b"), _new("c")])
    assert locked == [True, True]


def test_the_sqlite_log_closes_the_connection_of_a_thread_that_ended(tmp_path: Path) -> None:
    """A sweep runs in a thread of its own every few seconds: each would keep a file open."""
    path = tmp_path / "changes.sqlite3"
    log = SqliteChangeLog(path)
    log.append([_new("a")])

    def opened() -> int:
        found = 0
        for fd in Path("/proc/self/fd").iterdir():
            with contextlib.suppress(OSError):
                found += Path(os.readlink(fd)).name.startswith(path.name)
        return found

    def threads_reading(count: int) -> int:
        for _ in range(count):
            thread = threading.Thread(target=log.head)
            thread.start()
            thread.join()
        gc.collect()
        return opened()

    # SQLite may keep a closed connection's descriptor for the next one (POSIX locks
    # are the process's): a few, never one per thread.
    before = opened()
    first = threads_reading(20)
    assert threads_reading(20) == first <= before + 2
