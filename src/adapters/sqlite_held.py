"""One thread's SQLite connection, kept per thread by the SQLite-backed stores and indexes."""

from __future__ import annotations

import contextlib
import sqlite3
import threading

__all__ = ["HeldConnection"]


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
