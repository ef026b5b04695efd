"""ProcessLock: one holder at a time across processes and threads; re-entrant in a thread.

SharedLock: many readers or one writer, across threads of one process too.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import portalocker
import pytest

from flextype_adapters.file_lock import ProcessLock, SharedLock

HOLDER = r"""
import sys
from pathlib import Path
from flextype_adapters.file_lock import ProcessLock

with ProcessLock(Path(sys.argv[1])).held():
    print("held", flush=True)
    sys.stdin.readline()  # hold it until told to let go
    print("releasing", flush=True)
"""


def _locked_elsewhere(path: Path) -> bool:
    """Tell whether another open file description holds an exclusive lock on ``path``."""
    with path.open("rb") as probe:
        try:
            portalocker.lock(
                probe, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING
            )
        except portalocker.LockException:
            return True
        portalocker.unlock(probe)
        return False


def test_another_process_waits_until_the_holder_releases(tmp_path: Path) -> None:
    path = tmp_path / "locks" / ".lock"
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        assert _locked_elsewhere(path)  # a real OS lock, seen from outside the holder
        told_to_release = threading.Event()
        got_in_after_release: list[bool] = []

        def take() -> None:
            with ProcessLock(path).held():
                got_in_after_release.append(told_to_release.is_set())

        taker = threading.Thread(target=take)
        taker.start()
        told_to_release.set()
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout.readline() == "releasing\n"
        taker.join(60)
        holder.wait(60)
    assert got_in_after_release == [True]
    assert not _locked_elsewhere(path)


def test_threads_of_one_process_hold_it_one_at_a_time(tmp_path: Path) -> None:
    lock = ProcessLock(tmp_path / ".lock")
    inside = 0
    most = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal inside, most
        for _ in range(50):
            with lock.held():
                with guard:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.0005)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1


def test_a_thread_may_take_it_again_while_holding_it(tmp_path: Path) -> None:
    lock = ProcessLock(tmp_path / ".lock")
    done = threading.Event()

    def nested() -> None:
        with lock.held(), lock.held():
            pass
        with lock.held():  # released once the outer block ended: free to take again
            done.set()

    # In a thread, so that a lock that is not re-entrant fails the test instead of hanging.
    threading.Thread(target=nested, daemon=True).start()
    assert done.wait(5)


def test_a_shared_lock_admits_readers_together_and_a_writer_alone(tmp_path: Path) -> None:
    lock = SharedLock(tmp_path / "view.lock")
    other_read, wrote = threading.Event(), threading.Event()

    def read() -> None:
        with lock.shared():
            other_read.set()

    def write() -> None:
        with lock.exclusive():
            wrote.set()

    with lock.shared():
        with lock.shared():  # nested: free
            reader = threading.Thread(target=read)
            reader.start()
            assert other_read.wait(60)  # readers share it
        writer = threading.Thread(target=write)
        writer.start()
        assert not wrote.wait(0.3)  # the writer waits for the reader
        with pytest.raises(RuntimeError):
            lock.exclusive().__enter__()  # it would wait for itself
    assert wrote.wait(60)
    with lock.exclusive(), lock.shared():  # a writer reads what it writes
        assert lock.holds_exclusive()
    assert not lock.holds_exclusive()
    reader.join()
    writer.join()


def test_a_waiting_writer_gets_the_shared_lock_within_a_round_of_each_reader(
    tmp_path: Path,
) -> None:
    """Readers overlap so that the lock is never free: each holds it until another
    reader came in (or, none coming, for a while). A writer must not wait behind the
    stream: readers arriving after it queue behind it."""
    lock = SharedLock(tmp_path / "view.lock")
    readers, limit = 4, 5000
    changed = threading.Condition()
    state = {"rounds": 0, "entries": 0, "stop": 0}
    rounds_when = {}

    def read() -> None:
        while True:
            with lock.shared(), changed:
                if state["stop"] or state["rounds"] >= limit:
                    return
                state["rounds"] += 1
                state["entries"] += 1
                changed.notify_all()
                # Hold on until another reader is in: the lock is never free meanwhile.
                changed.wait_for(_another_in(state, state["entries"]), 1.0)

    def write() -> None:
        with changed:
            rounds_when["asked"] = state["rounds"]
        with lock.exclusive(), changed:
            rounds_when["held"] = state["rounds"]
            state["stop"] = 1
            changed.notify_all()

    threads = [threading.Thread(target=read) for _ in range(readers)]
    for thread in threads:
        thread.start()
    with changed:
        assert changed.wait_for(lambda: state["rounds"] >= 50, 60)  # the stream is on
    writer = threading.Thread(target=write)
    writer.start()
    writer.join(120)
    for thread in threads:
        thread.join(120)
    assert not writer.is_alive()
    # Rounds under way when the writer asked finish; new ones wait for it.
    assert rounds_when["held"] - rounds_when["asked"] <= 300, rounds_when


def _another_in(state: dict[str, int], entries: int) -> Callable[[], bool]:
    return lambda: state["entries"] > entries or bool(state["stop"])
