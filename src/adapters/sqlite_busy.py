"""SQLite files shared by several processes: setup steps retried while another holds the file."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["retry_busy"]

_T = TypeVar("_T")


def retry_busy(step: Callable[[], _T], seconds: float) -> _T:
    """Run ``step``, again while another process holds the file, for up to ``seconds``.

    SQLite's busy handler does not cover every lock a new file's setup meets (switching
    it to WAL while another process creates it answers SQLITE_BUSY at once).
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
