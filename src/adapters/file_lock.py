"""A lock shared by the threads of one process and by every process on one machine."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import portalocker

__all__ = ["ProcessLock", "SharedLock", "try_hold", "try_lock"]


class ProcessLock:
    """Re-entrant: a thread lock, plus an exclusive OS file lock on ``path`` while held.

    Several server workers over one project serialise their read-change-writes with it.
    The file lock is portalocker's (``flock`` on POSIX, the Windows API on Windows), taken
    blocking: the kernel wakes the next writer at once, where a polling lock (``filelock``)
    would sleep between tries. The thread lock comes first, so threads of one process
    queue on it and only one of them holds a descriptor. The lock file is created when
    first needed and never removed: removing it would let two processes lock two files.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the ``with`` block (nested blocks of one thread are free)."""
        with self._thread_lock:
            if self._depth == 0:
                self._fd = self._acquire()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    os.close(self._fd)  # closing the descriptor releases the file lock
                    self._fd = None

    def _acquire(self) -> int:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            portalocker.lock(fd, portalocker.LockFlags.EXCLUSIVE)
        except BaseException:
            os.close(fd)
            raise
        return fd


class SharedLock:
    """A readers-writer lock of the threads and processes of one machine: ``flock`` on ``path``.

    Readers hold it shared, a writer exclusively; each holder opens the file itself, so
    threads of one process exclude each other as processes do (``flock`` locks belong to
    an open file, not to a process). Re-entrant per thread: inside its exclusive block a
    thread's shared blocks go through (a writer reads what it writes), and nested blocks
    of the same kind are free. A thread holding it shared must not ask for it
    exclusively: it would wait for itself, so that raises ``RuntimeError``.

    Writers go first: ``flock`` grants a shared lock to every reader while a writer
    waits, so a steady stream of readers would keep it waiting for good. A turnstile
    (a second ``flock``, on ``<path>.writer``) stops that: a writer holds it exclusively
    while it waits for the lock, and a reader passes it (shared, for an instant) before
    taking the lock; so readers arriving after a writer wait for it, and it waits only
    for the readers already past the turnstile.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._turnstile = path.with_name(path.name + ".writer")
        self._held = threading.local()

    def holds_exclusive(self) -> bool:
        """Tell whether the calling thread holds the lock exclusively."""
        return getattr(self._held, "flags", None) == portalocker.LockFlags.EXCLUSIVE

    def shared(self) -> contextlib.AbstractContextManager[None]:
        """Hold the lock shared for the ``with`` block."""
        return self._hold(portalocker.LockFlags.SHARED)

    def exclusive(self) -> contextlib.AbstractContextManager[None]:
        """Hold the lock exclusively for the ``with`` block."""
        return self._hold(portalocker.LockFlags.EXCLUSIVE)

    @contextlib.contextmanager
    def _hold(self, flags: portalocker.LockFlags) -> Iterator[None]:
        held: portalocker.LockFlags | None = getattr(self._held, "flags", None)
        if held is not None:
            if held == portalocker.LockFlags.SHARED and flags != held:
                raise RuntimeError("A shared lock cannot be made exclusive by its holder.")
            yield
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = _open(self._path)
        try:
            self._lock(fd, flags)
            self._held.flags = flags
            try:
                yield
            finally:
                self._held.flags = None
        finally:
            os.close(fd)  # closing the descriptor releases the file lock

    def _lock(self, fd: int, flags: portalocker.LockFlags) -> None:
        """Lock ``fd`` with ``flags`` once through the turnstile (see the class)."""
        exclusive = flags == portalocker.LockFlags.EXCLUSIVE
        gate = _open(self._turnstile)
        try:
            portalocker.lock(gate, flags)
            if exclusive:  # readers now queue at the gate, behind this writer
                portalocker.lock(fd, flags)
        finally:
            os.close(gate)
        if not exclusive:
            portalocker.lock(fd, flags)


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


@contextlib.contextmanager
def try_lock(path: Path) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` for the block if nobody holds it; yield whether.

    For a sweeper that must leave alone what a live process is working on: it never
    waits. A missing lock file means nobody holds it (True, and nothing is created).
    """
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        yield True
        return
    try:
        yield _locked_now(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def try_hold(path: Path) -> Iterator[int | None]:
    """Hold an exclusive lock on ``path`` for the block unless another holder has it.

    Yields the locked file's descriptor while held, None when another holder has it;
    never waits. The lock file is created (0600) if missing and never removed by this.
    The lock belongs to the open file: another thread of this process is refused as
    another process is, and the OS releases it when the holder dies, however it dies.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        yield fd if _locked_now(fd) else None
    finally:
        os.close(fd)


def _locked_now(fd: int) -> bool:
    """Take the exclusive lock of the open file ``fd`` if free; tell whether it was taken."""
    try:
        portalocker.lock(fd, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING)
    except portalocker.LockException:
        return False
    return True
