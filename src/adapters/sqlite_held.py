"""One thread's SQLite connection, kept per thread by the SQLite-backed stores and indexes."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator

__all__ = ["HeldConnection", "ThreadConnections", "transaction"]


class HeldConnection:
    """A thread's connection, what it was opened for, and the lock held while it is used.

    ``generation`` and ``pid`` tell the owner whether the connection is still good (a
    reset, a fork); ``identity`` is the file's (device, inode) when opened, for owners
    that notice the file replaced.
    """

    __slots__ = ("__weakref__", "connection", "generation", "identity", "lock", "pid")

    def __init__(
        self,
        generation: int,
        pid: int,
        connection: sqlite3.Connection,
        identity: tuple[int, int] | None = None,
    ) -> None:
        self.generation = generation
        self.pid = pid
        self.identity = identity
        self.connection = connection
        self.lock = threading.Lock()

    def close(self) -> None:
        with self.lock, contextlib.suppress(sqlite3.Error):
            self.connection.close()

    def __del__(self) -> None:
        # The thread ended (its locals went): its connection, file and WAL go with it.
        with contextlib.suppress(sqlite3.Error):
            self.connection.close()


class ThreadConnections:
    """One SQLite connection per thread (and per process), all of them closed by ``close``.

    SQLite connections must not be shared between threads that write at once, and a
    forked child must not use its parent's: each thread opens its own on first use, and
    a new one after ``close`` (which moves the generation on), in a new process, or when
    the file's identity changed (an owner that gives ``identity``).
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._guard = threading.Lock()
        self._opened: weakref.WeakSet[HeldConnection] = weakref.WeakSet()
        self._generation = 0

    @contextlib.contextmanager
    def connection(
        self,
        open_: Callable[[], sqlite3.Connection],
        identity: Callable[[], tuple[int, int] | None] | None = None,
    ) -> Iterator[sqlite3.Connection]:
        """This thread's connection, opened with ``open_`` when it has none that is good."""
        held: HeldConnection | None = getattr(self._local, "held", None)
        pid = os.getpid()
        now = None if identity is None else identity()
        if (
            held is None
            or held.generation != self._generation
            or held.pid != pid
            or held.identity != now
        ):
            opened = open_()
            # After opening: ``open_`` may have closed every connection (a new file).
            known = None if identity is None else identity()
            held = HeldConnection(self._generation, pid, opened, known)
            with self._guard:
                self._opened.add(held)
            self._local.held = held  # only this thread's: it goes when the thread ends
        with held.lock:
            yield held.connection

    def close(self) -> None:
        """Close every connection (threads open new ones if used again)."""
        with self._guard:
            opened, self._opened = list(self._opened), weakref.WeakSet()
            self._generation += 1
        for held in opened:
            held.close()


@contextlib.contextmanager
def transaction(connection: sqlite3.Connection, begin: str = "BEGIN IMMEDIATE") -> Iterator[None]:
    """Run the block in one transaction: rolled back if it raises, else committed.

    For connections opened with ``isolation_level=None`` (transactions begun here).
    """
    connection.execute(begin)
    try:
        yield
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
