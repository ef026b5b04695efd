"""The file drivers' full-text index: SQLite FTS5 in ``<project>/cache/search.sqlite3``.

A cache of the entries' words (``flextype_core.query.search_text.document``, spelt as
``search_terms`` says), kept current from the change log: the file remembers the log's
epoch and the last position it applied, and each search first applies the changes
since (re-reading the changed entries from the store; a delete or a move drops the old
id). A new epoch (a project imported or migrated into), a purge past the position, a
missing file or one that is no index of ours (not a database, damaged, another schema)
makes it rebuild from the store's entries. Losing it loses nothing.

Every process of a project shares the file. The catch-up and the rebuild write in one
``BEGIN IMMEDIATE`` transaction that first reads the position again: two processes
never apply the same changes twice, and a process that waited for another's rebuild
finds it done. In WAL mode readers are never blocked by those writers.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final, Protocol, TypeVar

from flextype_adapters.file_lock import ProcessLock
from flextype_adapters.log_limit import warn_limited
from flextype_adapters.search_terms import body, match_text
from flextype_adapters.sqlite_busy import retry_busy
from flextype_adapters.sqlite_held import ThreadConnections, transaction
from flextype_core import ids
from flextype_core.changes import ChangeLog
from flextype_core.errors import EntryNotFound, StorageError
from flextype_core.model import Entry
from flextype_core.query.search_match import scan
from flextype_core.query.search_syntax import SearchExpr
from flextype_core.query.search_text import document

__all__ = ["SEARCH_FILE", "SEARCH_FILES", "SqliteSearchIndex"]

SEARCH_FILE: Final = "cache/search.sqlite3"
"""In the project folder."""
SEARCH_FILES: Final = (SEARCH_FILE, f"{SEARCH_FILE}-wal", f"{SEARCH_FILE}-shm")

SCHEMA_VERSION: Final = "1"
_BUSY_SECONDS = 60.0
_WAL_KEPT = 16 * 1024 * 1024
"""Bytes of WAL kept after a checkpoint (journal_size_limit)."""
_PAGE = 1000  # changes read from the log at a time
_ENTRY_TYPES = frozenset({"entry"})
# Damage: the file is no database, or a damaged one (SQLITE_CORRUPT, SQLITE_NOTADB).
_DAMAGE_CODES = frozenset({11, 26})

_TABLES = (
    "CREATE TABLE search_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE entries (doc INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE)",
    # ``__`` (search_terms.FIELD_BREAK) and the ``_xxxxxx`` spellings are single terms.
    "CREATE VIRTUAL TABLE docs USING fts5(body,"
    " tokenize = 'unicode61 remove_diacritics 0 tokenchars _', prefix = '3')",
)
_T = TypeVar("_T")

_SEARCH = (
    "SELECT entries.id, bm25(docs) FROM docs JOIN entries ON entries.doc = docs.rowid"
    " WHERE docs MATCH ?"
)


class Entries(Protocol):
    """The reads of an ``EntryStore`` the index calls back (same contracts)."""

    def get(self, entry_id: str) -> Entry: ...

    def descendants(self, entry_id: str, depth: int | None) -> list[Entry]: ...


class _DamagedError(Exception):
    """The file is no index of ours: it is replaced by a new one."""


class SqliteSearchIndex:
    """The SearchIndex port (``flextype_core.entry_port``) over one SQLite FTS5 file.

    Thread-safe: each thread has a connection of its own, opened on first use and again
    whenever the file was deleted or replaced (a ``stat`` per search tells).

    Args:
        path: the index file (``<project>/cache/search.sqlite3``); made when missing.
        entries: the store whose entries are indexed.
        changes: the store's change log: what changed since the index last looked.
        scan_on_failure: when the index cannot be used, scan the entries (False: raise
            ``StorageError``, as tests want to see the index answer).
    """

    def __init__(
        self, path: Path, entries: Entries, changes: ChangeLog, *, scan_on_failure: bool = True
    ) -> None:
        self._path = path
        self._scan_on_failure = scan_on_failure
        self._entries = entries
        self._changes = changes
        self._connections = ThreadConnections()
        # Taken to delete a damaged or orphaned file: one process replaces it, once.
        self._replacing = ProcessLock(path.with_name(path.name + ".lock"))

    @property
    def path(self) -> Path:
        return self._path

    # -- the port --------------------------------------------------------------------

    def search(self, expr: SearchExpr) -> dict[str, float]:
        """Every matching entry of the store: id -> relevance (BM25, higher is better).

        When the index cannot be used at all (the cache folder cannot be written), the
        store's entries are scanned instead, with a warning: slower, never wrong.
        """
        try:
            return self._attempt(lambda c: self._search(c, expr))
        except (sqlite3.Error, OSError, _DamagedError) as exc:
            if not self._scan_on_failure:
                raise StorageError(f"The search index cannot be used: {_kind(exc)}.") from exc
            warn_limited(f"search:{self._path}", "The search index cannot be used: %s", exc)
            return scan(expr, (e.public for e in self._entries.descendants(ids.ROOT, None)))

    def rebuild(self) -> int:
        """Build the index anew from the store's entries; return how many it holds.

        Raises:
            StorageError: the index file cannot be written.
        """
        try:
            return self._attempt(self._rebuild)
        except (sqlite3.Error, OSError, _DamagedError) as exc:
            raise StorageError(f"The search index cannot be rebuilt: {_kind(exc)}.") from exc

    def close(self) -> None:
        """Close every connection (threads open new ones if the index is used again)."""
        self._connections.close()

    # -- connections and repair --------------------------------------------------------

    def _attempt(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` on this thread's connection; once more on a new file if damaged."""
        for last in (False, True):
            try:
                with self._connection() as connection:
                    return work(connection)
            except (sqlite3.DatabaseError, _DamagedError) as exc:
                if last or not _damage(exc):
                    raise
                self._discard()
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        opener = self._open if _identity(self._path) is not None else self._create
        with self._connections.connection(opener, lambda: _identity(self._path)) as connection:
            yield connection

    def _open(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            self._path, timeout=_BUSY_SECONDS, isolation_level=None, check_same_thread=False
        )
        try:
            retry_busy(lambda: connection.execute("PRAGMA journal_mode=WAL"), _BUSY_SECONDS)
            # A cache: a crash may lose the last transactions, never the file's sense
            # (the position rolls back with the words).
            connection.execute("PRAGMA synchronous=NORMAL")
            # A rebuild writes the whole index through the WAL: give the space back after.
            connection.execute(f"PRAGMA journal_size_limit={_WAL_KEPT}")
            retry_busy(lambda: _ensure_schema(connection), _BUSY_SECONDS)
        except BaseException:
            connection.close()
            raise
        return connection

    def _create(self) -> sqlite3.Connection:
        """Make the file, under the lock: first the WAL files of one deleted by hand go.

        A new file must not take the old one's WAL for its own; the connections to the
        old one go too (this thread's only knew it was gone).
        """
        self.close()
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._replacing.held():
            if _identity(self._path) is None:
                for name in (f"{self._path}-wal", f"{self._path}-shm"):
                    Path(name).unlink(missing_ok=True)
            return self._open()

    def _discard(self) -> None:
        """Delete a damaged file (and its WAL files): the next connection makes a new one."""
        damaged = _identity(self._path)
        self.close()
        with self._replacing.held():
            if _identity(self._path) != damaged:
                return  # another process replaced it already
            for name in (str(self._path), f"{self._path}-wal", f"{self._path}-shm"):
                Path(name).unlink(missing_ok=True)
        warn_limited(f"search:{self._path}", "The search index was damaged: rebuilt.")

    # -- searching and keeping current ----------------------------------------------

    def _search(self, connection: sqlite3.Connection, expr: SearchExpr) -> dict[str, float]:
        self._current(connection)
        rows = connection.execute(_SEARCH, (match_text(expr),)).fetchall()
        return {str(entry_id): -float(rank) for entry_id, rank in rows}

    def _current(self, connection: sqlite3.Connection) -> None:
        """Bring the index up to the change log's head (rebuilding it if it must)."""
        epoch, head = self._changes.epoch(), self._changes.head()
        if _meta(connection) == (epoch, head):
            return
        with transaction(connection):
            known_epoch, position = _meta(connection)
            caught_up = known_epoch == epoch and self._catch_up(connection, position)
            if not caught_up:
                self._fill(connection)
        if not caught_up:
            _shrink(connection)

    def _catch_up(self, connection: sqlite3.Connection, position: int) -> bool:
        """Apply the log's changes past ``position``; False if they are no longer kept."""
        while True:
            page = self._changes.read(position, _PAGE, types=_ENTRY_TYPES)
            if position < self._changes.floor():
                return False  # purged past the position: this read may lack changes
            touched: dict[str, None] = {}
            for change in page.changes:
                if change.from_id is not None and change.op == "move":
                    touched[change.from_id] = None
                touched[change.id] = None
            for entry_id in touched:
                self._reindex(connection, entry_id)
            position = page.last
            _set_meta(connection, "position", str(position))
            if not page.more:
                return True

    def _reindex(self, connection: sqlite3.Connection, entry_id: str) -> None:
        _remove(connection, entry_id)
        try:
            entry = self._entries.get(entry_id)
        except (EntryNotFound, StorageError):
            return  # gone, or unreadable (out of collections too, until it reads again)
        _insert(connection, entry_id, body(document(entry.public)))

    def _rebuild(self, connection: sqlite3.Connection) -> int:
        with transaction(connection):
            self._fill(connection)
            count = int(connection.execute("SELECT count(*) FROM entries").fetchone()[0])
        _shrink(connection)
        return count

    def _fill(self, connection: sqlite3.Connection) -> None:
        """Index every entry anew, inside the caller's write transaction."""
        # The position before the entries are read: what is written meanwhile is
        # applied again by the next catch-up (re-reading an entry is harmless).
        epoch, head = self._changes.epoch(), self._changes.head()
        rows = [
            (doc, entry.id, body(document(entry.public)))
            for doc, entry in enumerate(self._entries.descendants(ids.ROOT, None), start=1)
        ]
        connection.execute("DROP TABLE docs")
        connection.execute("DROP TABLE entries")
        for statement in _TABLES[1:]:
            connection.execute(statement)
        connection.executemany(
            "INSERT INTO entries (doc, id) VALUES (?, ?)", [(d, i) for d, i, _ in rows]
        )
        connection.executemany(
            "INSERT INTO docs (rowid, body) VALUES (?, ?)", [(d, b) for d, _, b in rows]
        )
        connection.execute("INSERT INTO docs (docs) VALUES ('optimize')")
        _set_meta(connection, "epoch", epoch)
        _set_meta(connection, "position", str(head))


def _shrink(connection: sqlite3.Connection) -> None:
    """Copy the WAL into the file and truncate it (a rebuild doubled the disk used)."""
    with contextlib.suppress(sqlite3.Error):  # busy readers: the next checkpoint does it
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


def _damage(exc: BaseException) -> bool:
    if isinstance(exc, _DamagedError):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _DAMAGE_CODES


def _kind(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return getattr(exc, "sqlite_errorname", None) or type(exc).__name__


def _ensure_schema(connection: sqlite3.Connection) -> None:
    """Make the tables in a new (empty) file; a file holding anything else is damaged."""
    names = {
        str(row[0])
        for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    if "search_meta" in names:
        row = connection.execute("SELECT value FROM search_meta WHERE name = 'schema'").fetchone()
        if row is None or row[0] != SCHEMA_VERSION or not {"entries", "docs"} <= names:
            raise _DamagedError("another schema")
        return
    if names:
        raise _DamagedError("not a search index")
    with transaction(connection):
        if connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            return  # another process made them meanwhile (checked again at next open)
        for statement in _TABLES:
            connection.execute(statement)
        connection.executemany(
            "INSERT INTO search_meta VALUES (?, ?)",
            [("schema", SCHEMA_VERSION), ("epoch", ""), ("position", "0")],
        )


def _meta(connection: sqlite3.Connection) -> tuple[str, int]:
    rows = dict(connection.execute("SELECT name, value FROM search_meta").fetchall())
    return str(rows.get("epoch", "")), int(rows.get("position", 0))


def _set_meta(connection: sqlite3.Connection, name: str, value: str) -> None:
    connection.execute("UPDATE search_meta SET value = ? WHERE name = ?", (value, name))


def _remove(connection: sqlite3.Connection, entry_id: str) -> None:
    row = connection.execute("SELECT doc FROM entries WHERE id = ?", (entry_id,)).fetchone()
    if row is not None:
        connection.execute("DELETE FROM docs WHERE rowid = ?", (row[0],))
        connection.execute("DELETE FROM entries WHERE doc = ?", (row[0],))


def _insert(connection: sqlite3.Connection, entry_id: str, text: str) -> None:
    doc = connection.execute("INSERT INTO entries (id) VALUES (?)", (entry_id,)).lastrowid
    assert doc is not None
    connection.execute("INSERT INTO docs (rowid, body) VALUES (?, ?)", (doc, text))
