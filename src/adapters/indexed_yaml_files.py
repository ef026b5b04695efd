"""The YAML-files EntryStore with every entry indexed in memory, kept true to the disk.

Collection queries are the hot path: answering them from ``EntryIndex`` does no stat,
read or parse per entry. The index stays true to the files three ways:

- writes through this store update the index before they return;
- writes by other processes (other server workers) are announced in a journal,
  ``entries/.changes``: each write appends the ids it touched, and each query reads
  what was appended since (one ``stat`` when nothing was);
- edits by hand are found by a sweep that compares every entry file's identity (inode,
  size, mtime) with the indexed one. A query starts it in the background when the last
  one is older than ``sweep_interval`` seconds, so a hand edit is seen within about
  that time, while ``get`` sees it at once.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from adapters.entry_index import EntryIndex
from adapters.yaml_files import ENTRY_FILE, LEGACY_ENTRY_FILE, YamlFilesEntryStore
from flextype_core import ids
from flextype_core.errors import EntryNotFound, InvalidId, StorageError
from flextype_core.model import Entry

__all__ = ["JOURNAL_FILE", "IndexedYamlFilesEntryStore"]

Fields = dict[str, Any]
_Identity = tuple[int, int, int]

JOURNAL_FILE = ".changes"
"""In ``entries/``: one id per line, appended by every write of every process."""
_JOURNAL_LIMIT = 1_000_000
"""Past this size the journal is replaced by an empty one; readers then rebuild."""


class IndexedYamlFilesEntryStore:
    """``YamlFilesEntryStore`` with an in-memory index for ``descendants``.

    Args:
        root: the ``entries`` folder.
        sweep_interval: seconds between background sweeps for edits made by hand.
    """

    def __init__(self, root: Path, *, sweep_interval: float = 2.0) -> None:
        self._files = YamlFilesEntryStore(root)
        self._root = root
        self._journal = root / JOURNAL_FILE
        self._sweep_interval = sweep_interval
        self._lock = threading.RLock()
        self._index: EntryIndex | None = None
        self._identities: dict[str, _Identity] = {}
        self._cursor: tuple[int, int] = (0, 0)  # (journal inode, offset read)
        self._suspects: set[str] = set()
        self._last_sweep = 0.0
        self._sweeping = False

    # -- reads ---------------------------------------------------------------------

    def get(self, entry_id: str) -> Entry:
        return self._files.get(entry_id)

    def exists(self, entry_id: str) -> bool:
        return self._files.exists(entry_id)

    def has_descendants(self, entry_id: str) -> bool:
        return self._fresh_index().has_below(entry_id)

    def descendants(self, entry_id: str, depth: int | None) -> list[Entry]:
        """Entries below ``entry_id``, shared with the index: callers must not change them."""
        return self._fresh_index().below(entry_id, depth)

    # -- writes --------------------------------------------------------------------

    def create(self, entries: Mapping[str, Fields]) -> None:
        self._write(list(entries), lambda: self._files.create(entries))

    def update(self, entry_id: str, change: Callable[[Fields], Fields]) -> Entry:
        updated: list[Entry] = []
        self._write([entry_id], lambda: updated.append(self._files.update(entry_id, change)))
        return updated[0]

    def move(self, entry_id: str, new_id: str) -> None:
        self._write([entry_id, new_id], lambda: self._files.move(entry_id, new_id))

    def delete(self, entry_id: str) -> None:
        self._write([entry_id], lambda: self._files.delete(entry_id))

    def _write(self, touched: list[str], write: Callable[[], object]) -> None:
        with self._lock:
            try:
                write()
            except BaseException:
                # A failed write changed nothing on disk (a half-done create is undone),
                # so other processes need no news; this index re-reads to be sure.
                self._reload(touched)
                raise
            self._announce(touched)
            self._reload(touched)

    def _reload(self, touched: list[str]) -> None:
        if self._index is not None:
            for entry_id in touched:
                self._reload_subtree(self._index, entry_id)

    # -- keeping the index true ----------------------------------------------------

    def _fresh_index(self) -> EntryIndex:
        with self._lock:
            index = self._index
            if index is None or not self._read_journal(index):
                index = self._index = self._build()
            if self._suspects:
                suspects, self._suspects = self._suspects, set()
                for entry_id in suspects:
                    self._reload_one(index, entry_id)
            self._maybe_sweep()
            return index

    def _build(self) -> EntryIndex:
        self._cursor = self._journal_end()
        self._identities = {}
        index = EntryIndex()
        for entry_id, identity in self._scan(ids.ROOT):
            self._load(index, entry_id, identity)
        return index

    def _load(self, index: EntryIndex, entry_id: str, identity: _Identity | None) -> None:
        try:
            entry = self._files.get(entry_id)
        except (EntryNotFound, StorageError) as exc:
            # A broken file is left out of collections (``get`` names the problem);
            # its identity is kept, so the sweep reads it again only once it changes.
            index.discard(entry_id)
            if isinstance(exc, StorageError) and identity is not None:
                self._identities[entry_id] = identity
            else:
                self._identities.pop(entry_id, None)
            return
        index.put(entry)
        if identity is not None:
            self._identities[entry_id] = identity

    def _reload_one(self, index: EntryIndex, entry_id: str) -> None:
        self._load(index, entry_id, _identity_of(self._root / entry_id))

    def _reload_subtree(self, index: EntryIndex, entry_id: str) -> None:
        if entry_id != ids.ROOT:
            self._reload_one(index, entry_id)
        for gone in index.discard_below(entry_id):
            self._identities.pop(gone, None)
        for child_id, identity in self._scan(entry_id):
            self._load(index, child_id, identity)

    def _scan(self, entry_id: str) -> Iterator[tuple[str, _Identity]]:
        """Yield (id, identity of its file) for every entry strictly below ``entry_id``."""
        for child_id in self._files.ids_below(entry_id, None):
            identity = _identity_of(self._root / child_id)
            if identity is not None:  # None: deleted since the walk saw it
                yield child_id, identity

    # -- the journal of other processes' writes ------------------------------------

    def _announce(self, touched: list[str]) -> None:
        line = "".join(f"{entry_id}\n" for entry_id in touched).encode("utf-8")
        with contextlib.suppress(OSError):  # the sweep still finds what a lost line hides
            self._root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)  # one small O_APPEND write: never interleaved
                size = os.fstat(fd).st_size
            finally:
                os.close(fd)
            if size > _JOURNAL_LIMIT:
                fresh = self._journal.with_name(f"{JOURNAL_FILE}.{os.getpid()}.new")
                fresh.write_bytes(b"")
                fresh.replace(self._journal)

    def _journal_end(self) -> tuple[int, int]:
        try:
            stat = self._journal.stat()
        except FileNotFoundError:
            return (0, 0)
        return (stat.st_ino, stat.st_size)

    def _read_journal(self, index: EntryIndex) -> bool:
        """Apply the journal's new lines; False if it was replaced (rebuild instead)."""
        inode, offset = self._cursor
        current_inode, size = self._journal_end()
        if current_inode != inode and inode != 0:
            return False
        if size == offset and current_inode == inode:
            return True
        if size < offset:
            return False
        try:
            with self._journal.open("rb") as journal:
                journal.seek(offset)
                data = journal.read(size - offset)
        except FileNotFoundError:
            return False
        complete = data[: data.rfind(b"\n") + 1]
        self._cursor = (current_inode, offset + len(complete))
        for entry_id in dict.fromkeys(complete.decode("utf-8", "replace").splitlines()):
            if entry_id == ids.ROOT or _valid(entry_id):
                self._reload_subtree(index, entry_id)
        return True

    # -- the sweep for edits by hand ----------------------------------------------

    def _maybe_sweep(self) -> None:
        now = time.monotonic()
        if self._sweeping or now - self._last_sweep < self._sweep_interval:
            return
        self._sweeping = True
        self._last_sweep = now
        known = dict(self._identities)
        threading.Thread(target=self._sweep, args=(known,), daemon=True).start()

    def _sweep(self, known: dict[str, _Identity]) -> None:
        try:
            seen = dict(self._scan(ids.ROOT))
            suspects = {i for i, identity in seen.items() if known.get(i) != identity}
            suspects |= known.keys() - seen.keys()
            with self._lock:
                self._suspects |= suspects
        finally:
            self._sweeping = False

    def sweep_now(self) -> None:
        """Look for edits made by hand at once (tests and tools; queries do it anyway)."""
        with self._lock:
            if self._index is None:
                return
            known = dict(self._identities)
        self._sweeping = True
        self._sweep(known)


def _identity_of(folder: Path) -> _Identity | None:
    for name in (ENTRY_FILE, LEGACY_ENTRY_FILE):
        try:
            stat = (folder / name).stat()
        except (FileNotFoundError, NotADirectoryError):
            continue
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    return None


def _valid(entry_id: str) -> bool:
    try:
        ids.parse_entry_id(entry_id)
    except InvalidId:
        return False
    return True
