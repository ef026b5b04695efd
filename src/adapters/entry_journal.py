"""The journal of entry writes, ``entries/.changes``: how workers learn what others wrote.

Every write of every process appends the ids it touched, one per line, in one small
``O_APPEND`` write (never interleaved). Each reader keeps a cursor (the journal's
inode, its header line, the offset read) and reloads the ids appended since: one
``stat`` when nothing was. Past ``_LIMIT`` bytes a writer replaces the journal by one
holding only a new header line; a reader that finds another header rebuilds its index.

A process also remembers the ids it announced and has not reloaded since (``settle``):
its own reader reloads them even if the line could not be written.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

from flextype_adapters.atomic import write_atomic
from flextype_core import ids
from flextype_core.errors import InvalidId

__all__ = ["JOURNAL_FILE", "Journal"]

JOURNAL_FILE = ".changes"
"""In ``entries/``: one id per line, appended by every write of every process."""
_LIMIT = 1_000_000
"""Past this size the journal is replaced by an empty one; readers then rebuild."""
_HEADER_SIZE = 64

Cursor = tuple[int, bytes, int]
"""(inode, first line if it is a ``#`` header, offset read) of the journal."""


class Journal:
    """One reader's and writer's view of ``<root>/.changes``.

    ``start``, ``read`` and ``settle`` move the cursor: call them under the reader's own
    lock.
    """

    def __init__(self, root: Path) -> None:
        self._root = root
        self._path = root / JOURNAL_FILE
        self._cursor: Cursor = (0, b"", 0)
        self._unsettled: set[str] = set()  # announced here, not reloaded yet
        self._unsettled_lock = threading.Lock()  # a writer's: never waits on a reader

    def announce(self, touched: Sequence[str]) -> None:
        """Append the ids a write touched; call it holding the writers' lock.

        Never while another process removes debris (such as a rotation's temp file).
        They are this process's to reload too, until ``settle`` takes them.
        """
        with self._unsettled_lock:
            self._unsettled.update(touched)
        line = "".join(f"{entry_id}\n" for entry_id in touched).encode("utf-8")
        with contextlib.suppress(OSError):  # the sweep still finds what a lost line hides
            self._root.mkdir(parents=True, exist_ok=True)
            # O_NOFOLLOW: a journal that is a link (to a file outside) is never appended to.
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(self._path, flags, 0o644)
            try:
                os.write(fd, line)  # one small O_APPEND write: never interleaved
                size = os.fstat(fd).st_size
            finally:
                os.close(fd)
            if size > _LIMIT:
                # A new journal starts with a line of its own (``#`` is never an id):
                # inode numbers are reused, so only this tells readers it is new.
                write_atomic(self._path, f"#{uuid.uuid4().hex}\n".encode())

    def start(self) -> None:
        """Read on from the journal's end as it is now (when an index is built)."""
        self._cursor = self._state()

    def _state(self) -> Cursor:
        """Return (inode, first line if it is a ``#`` header, size) of the journal."""
        try:
            with self._path.open("rb") as journal:
                stat = os.fstat(journal.fileno())
                first = journal.readline(_HEADER_SIZE)
        except FileNotFoundError:
            return (0, b"", 0)
        header = first if first.startswith(b"#") else b""
        return (stat.st_ino, header, stat.st_size)

    def news(self) -> list[str]:
        """The ids appended since the cursor, without moving it (no lock needed).

        A hint only, to parse files ahead: ``read`` decides, under the lock, what to reload.
        """
        with self._unsettled_lock:
            lines = list(self._unsettled)
        inode, _, offset = self._cursor
        try:
            stat = os.stat(self._path)  # noqa: PTH116 - on every query
            if stat.st_ino == inode and stat.st_size > offset:
                with self._path.open("rb") as journal:
                    journal.seek(offset)
                    data = journal.read(stat.st_size - offset)
                lines += data[: data.rfind(b"\n") + 1].decode("utf-8", "replace").splitlines()
        except OSError:
            pass
        return [entry_id for entry_id in dict.fromkeys(lines) if _valid(entry_id)]

    def settle(self, only: Iterable[str] | None = None) -> list[str]:
        """Take the ids this process announced (those of ``only``), to reload them now.

        Taken before the reload: an id announced again meanwhile stays to be reloaded.
        """
        with self._unsettled_lock:
            if only is None:
                taken, self._unsettled = self._unsettled, set()
            else:
                taken = self._unsettled.intersection(only)
                self._unsettled -= taken
        return sorted(taken)

    def read(self) -> list[str] | None:
        """The ids appended since the cursor (``""``: the root), moving it past them.

        None if the journal was replaced: the reader must rebuild (and ``start``).
        """
        inode, header, offset = self._cursor
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return [] if inode == 0 else None
        if stat.st_ino == inode and stat.st_size == offset:
            return []  # the common case: nothing new, one stat
        current_inode, current_header, size = self._state()
        if current_header != header or (inode != 0 and current_inode != inode) or size < offset:
            return None
        try:
            with self._path.open("rb") as journal:
                journal.seek(offset)
                data = journal.read(size - offset)
        except FileNotFoundError:
            return None
        complete = data[: data.rfind(b"\n") + 1]
        self._cursor = (current_inode, header, offset + len(complete))
        lines = dict.fromkeys(complete.decode("utf-8", "replace").splitlines())
        return [entry_id for entry_id in lines if entry_id == ids.ROOT or _valid(entry_id)]


def _valid(entry_id: str) -> bool:
    try:
        ids.parse_entry_id(entry_id)
    except InvalidId:
        return False
    return True
