"""A lock shared by the threads of one process and by every process on one machine."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

if sys.platform != "win32":
    import fcntl

__all__ = ["ProcessLock"]


class ProcessLock:
    """Re-entrant: a thread lock, plus an exclusive ``flock`` on ``path`` while held.

    Several server workers over one project serialise their read-change-writes with it
    (on POSIX; on Windows only the thread lock holds). The lock file is created when
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
                    os.close(self._fd)  # closing the descriptor releases the flock
                    self._fd = None

    def _acquire(self) -> int | None:
        if sys.platform == "win32":
            return None
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        return fd
