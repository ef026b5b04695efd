"""The change log of the file drivers: ``<project>/changes.sqlite3``, one SQLite file.

Every process of a project (server workers, the CLI) appends to and reads the same file.
SQLite lets one writer at a time into the file, and each append takes its positions
inside its own write transaction (``INTEGER PRIMARY KEY AUTOINCREMENT``), so positions
grow in commit order and a reader, who sees only committed transactions (WAL), sees a
prefix of the log: it can never pass a change that is still being written. With
``synchronous=FULL`` a commit is on disk (the WAL fsync'd) before the append returns.
``AUTOINCREMENT`` never hands out a position again, not even after a purge emptied the
table.

Beside the log, ``latest`` keeps what the log last said of each id (its etag, or that
it is gone): what the YAML driver compares a file with to tell a hand edit from a write
already logged (``hand_edits``), exact even after the changes themselves are purged
(an entry's tombstone is kept: one small row per entry id deleted and not made again).

The file's ``epoch`` is made when the file is created: a new file (a project imported or
migrated into) is a new log, and cursors of the old one are refused (410).
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import string
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import Final

from flextype_adapters.sqlite_busy import retry_busy
from flextype_adapters.sqlite_held import ThreadConnections, transaction
from flextype_core.changes import ALL_TYPES, ChangeType, LoggedChange, LogPage, NewChange
from flextype_core.errors import StorageError

__all__ = ["CHANGES_FILE", "CHANGES_FILES", "SqliteChangeLog"]

CHANGES_FILE: Final = "changes.sqlite3"
"""In the project folder."""
CHANGES_FILES: Final = (CHANGES_FILE, f"{CHANGES_FILE}-wal", f"{CHANGES_FILE}-shm")
"""The log and SQLite's files beside it: removed or swapped together, never one alone."""

_EPOCH_CHARS = string.ascii_lowercase + string.digits
_BUSY_SECONDS = 60.0
_CHUNK = 500  # ids per ``IN (...)``: well under SQLite's limit of bound parameters

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS log_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
    " WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS changes ("
    " position INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL, type TEXT NOT NULL,"
    " id TEXT NOT NULL, from_id TEXT, etag TEXT, at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS latest ("
    " type TEXT NOT NULL, id TEXT NOT NULL, etag TEXT, position INTEGER NOT NULL,"
    " PRIMARY KEY (type, id)) WITHOUT ROWID",
)
_INSERT = "INSERT INTO changes (op, type, id, from_id, etag, at) VALUES (?, ?, ?, ?, ?, ?)"
_LATEST = (
    "INSERT INTO latest (type, id, etag, position) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (type, id) DO UPDATE SET etag = excluded.etag, position = excluded.position"
)
_HEAD = "SELECT seq FROM sqlite_sequence WHERE name = 'changes'"
_COLUMNS = "position, op, type, id, from_id, etag, at"


def _new_epoch() -> str:
    return "".join(secrets.choice(_EPOCH_CHARS) for _ in range(8))


class SqliteChangeLog:
    """The ChangeLog port (``flextype_core.changes``) over one SQLite file, plus ``append``.

    Thread-safe: each thread has a connection of its own (opened on first use, so a
    process that never touches the log never creates the file). ``on_read`` callbacks
    run at each ``read`` and ``head``: the YAML store looks for hand edits there when a
    sweep is due, so the feed shows them without any collection query.

    Args:
        path: the log file (``<project>/changes.sqlite3``); created on first use.
        clock: Unix time of each append (``at``).
    """

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._clock = clock
        self._connections = ThreadConnections()
        # The connections of the threads that still run (a thread's goes with it):
        # close() closes them, each under the lock its thread holds while using it.
        self._epoch: str | None = None
        self._readers: list[Callable[[], None]] = []

    @property
    def path(self) -> Path:
        return self._path

    # -- connections -----------------------------------------------------------------

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection (a new one after close(), or in a forked child)."""
        with self._connections.connection(self._open) as connection:
            yield connection

    def _open(self) -> sqlite3.Connection:
        with _storage_errors("opened"):
            connection = sqlite3.connect(
                self._path,
                timeout=_BUSY_SECONDS,
                isolation_level=None,  # transactions are begun explicitly
                check_same_thread=False,  # only for close(), from the container's thread
            )
            try:
                retry_busy(lambda: connection.execute("PRAGMA journal_mode=WAL"), _BUSY_SECONDS)
                connection.execute("PRAGMA synchronous=FULL")
                if self._epoch is None:
                    self._epoch = retry_busy(lambda: self._create(connection), _BUSY_SECONDS)
            except BaseException:
                connection.close()
                raise
        return connection

    @staticmethod
    def _create(connection: sqlite3.Connection) -> str:
        """Make the tables and the epoch if the file is new; return the epoch."""
        with transaction(connection, "BEGIN IMMEDIATE"):
            for statement in _SCHEMA:
                connection.execute(statement)
            connection.execute(
                "INSERT OR IGNORE INTO log_meta VALUES ('epoch', ?), ('floor', '0')",
                (_new_epoch(),),
            )
            row = connection.execute("SELECT value FROM log_meta WHERE name = 'epoch'").fetchone()
        return str(row[0])

    def close(self) -> None:
        """Close every connection (threads open new ones if the log is used again)."""
        self._connections.close()

    def on_read(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (cheap, never raising) before each ``read`` and ``head``."""
        self._readers.append(callback)

    def _poke(self) -> None:
        for callback in self._readers:
            callback()

    # -- the port --------------------------------------------------------------------

    def epoch(self) -> str:
        if self._epoch is None:
            with _storage_errors("opened"), self._connection():
                pass
        assert self._epoch is not None
        return self._epoch

    def head(self) -> int:
        self._poke()
        with _storage_errors("read"), self._connection() as connection:
            return _head(connection)

    def floor(self) -> int:
        with _storage_errors("read"), self._connection() as connection:
            return _floor(connection)

    def read(
        self,
        after: int,
        limit: int,
        *,
        id_prefix: str | None = None,
        types: frozenset[str] = ALL_TYPES,
    ) -> LogPage:
        if limit < 1:
            raise ValueError("A read of the change log takes at least one change.")
        self._poke()
        where: list[str] = ["position > ?"]
        params: list[object] = [after]
        if types != ALL_TYPES:
            wanted = sorted(types & ALL_TYPES) or [""]
            where.append(f"type IN ({', '.join('?' * len(wanted))})")
            params += wanted
        if id_prefix:
            # At or below the prefix: the ids between "p/" and "p0" ('0' follows '/').
            below = (id_prefix + "/", id_prefix + "0")
            where.append(
                "(id = ? OR (id >= ? AND id < ?) OR from_id = ? OR (from_id >= ? AND from_id < ?))"
            )
            params += [id_prefix, *below, id_prefix, *below]
        query = (
            f"SELECT {_COLUMNS} FROM changes WHERE {' AND '.join(where)}"  # noqa: S608 - no user text
            " ORDER BY position LIMIT ?"
        )
        params.append(limit + 1)
        with (
            _storage_errors("read"),
            self._connection() as connection,
            transaction(connection, "BEGIN"),
        ):
            # One read transaction: the head is that of the snapshot the rows come from.
            rows = connection.execute(query, params).fetchall()
            head = _head(connection)
        changes = [_logged(row) for row in rows[:limit]]
        if len(rows) > limit:
            return LogPage(changes=changes, last=changes[-1].position, more=True)
        return LogPage(changes=changes, last=max(head, after), more=False)

    def purge(self, before: int) -> int:
        """Remove the oldest run of changes, up to the first dated at or after ``before``.

        Never one past a change kept (a clock that stepped back): the floor, the last
        position removed, stays below every change the log still shows.
        """
        with (
            _storage_errors("written"),
            self._connection() as connection,
            transaction(connection, "BEGIN IMMEDIATE"),
        ):
            first_kept = connection.execute(
                "SELECT position FROM changes WHERE at >= ? ORDER BY position LIMIT 1", (before,)
            ).fetchone()
            bound = _head(connection) + 1 if first_kept is None else int(first_kept[0])
            count, newest = connection.execute(
                "SELECT count(*), max(position) FROM changes WHERE position < ?", (bound,)
            ).fetchone()
            if not count:
                return 0
            connection.execute("DELETE FROM changes WHERE position < ?", (bound,))
            floor = max(_floor(connection), int(newest))
            connection.execute("UPDATE log_meta SET value = ? WHERE name = 'floor'", (str(floor),))
            # Entries' tombstones stay (``known``): a snapshot or a sweep that still lists
            # an entry deleted long ago must not log its deletion again (``hand_edits``).
            # Nothing compares media files with the log: theirs go with the changes.
            connection.execute(
                "DELETE FROM latest WHERE type != 'entry' AND etag IS NULL AND position <= ?",
                (floor,),
            )
        return int(count)

    # -- what the stores call --------------------------------------------------------

    def append(self, changes: Sequence[NewChange]) -> None:
        """Append ``changes`` in one transaction, durable when it returns.

        Call it holding the store's writers' lock, once the write is durable.

        Raises:
            StorageError: the log cannot be written (the write stays made).
        """
        if not changes:
            return
        with (
            _storage_errors("written"),
            self._connection() as connection,
            transaction(connection, "BEGIN IMMEDIATE"),
        ):
            # Dated holding the write lock, not before waiting for it: dates grow with
            # positions, as a purge of the oldest run (``purge``) expects.
            at = int(self._clock())
            rows = [(c.op, c.type, c.id, c.from_id, c.etag, at) for c in changes]
            connection.executemany(_INSERT, rows)
            # One writer at a time: the transaction's positions are the last len(rows).
            first = _head(connection) - len(rows) + 1
            latest: list[tuple[str, str, str | None, int]] = []
            for position, change in enumerate(changes, start=first):
                if change.op == "move" and change.from_id is not None:
                    latest.append((change.type, change.from_id, None, position))
                # None: gone; "": there, without an etag (moved while unreadable).
                etag = None if change.op == "delete" else change.etag or ""
                latest.append((change.type, change.id, etag, position))
            connection.executemany(_LATEST, latest)

    def known(self, kind: ChangeType, ids: Collection[str]) -> dict[str, str | None]:
        """Return what the log last said of each of ``ids`` it mentions.

        An id maps to the etag of its last change (``""`` if it had none), or None when
        that change says it is gone (deleted, or moved away). Ids the log never
        mentioned (or whose deletion it purged) are left out.
        """
        wanted = list(ids)
        found: dict[str, str | None] = {}
        with (
            _storage_errors("read"),
            self._connection() as connection,
            transaction(connection, "BEGIN"),
        ):
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                rows = connection.execute(
                    f"SELECT id, etag FROM latest WHERE type = ? AND id IN ({', '.join('?' * len(chunk))})",  # noqa: E501, S608
                    [kind, *chunk],
                ).fetchall()
                found.update((str(row[0]), row[1]) for row in rows)
        return found

    def present(self, kind: ChangeType) -> set[str]:
        """Return the ids whose last logged change leaves them existing."""
        with _storage_errors("read"), self._connection() as connection:
            rows = connection.execute(
                "SELECT id FROM latest WHERE type = ? AND etag IS NOT NULL", (kind,)
            ).fetchall()
        return {str(row[0]) for row in rows}


def _head(connection: sqlite3.Connection) -> int:
    row = connection.execute(_HEAD).fetchone()
    return 0 if row is None else int(row[0])


def _floor(connection: sqlite3.Connection) -> int:
    row = connection.execute("SELECT value FROM log_meta WHERE name = 'floor'").fetchone()
    return 0 if row is None else int(row[0])


def _logged(row: tuple[object, ...]) -> LoggedChange:
    position, op, kind, change_id, from_id, etag, at = row
    return LoggedChange(
        position=int(position),  # type: ignore[call-overload]
        op=op,  # type: ignore[arg-type]
        type=kind,  # type: ignore[arg-type]
        id=str(change_id),
        from_id=None if from_id is None else str(from_id),
        etag=None if etag is None else str(etag),
        at=int(at),  # type: ignore[call-overload]
    )


@contextlib.contextmanager
def _storage_errors(action: str) -> Iterator[None]:
    """SQLite's failures as ``StorageError``: its words name no path, only the kind."""
    try:
        yield
    except sqlite3.Error as exc:
        kind = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
        raise StorageError(f"The change log cannot be {action}: {kind}.") from exc
