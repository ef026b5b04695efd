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

With a change log, every write appends its changes (``YamlFilesEntryStore``), and what
the sweep finds, or the build finds changed since the snapshot, is logged as a hand edit
once (``flextype_adapters.hand_edits``). The log calls ``watch`` at each read, so a feed
shows hand edits within the sweep interval even when no query runs.

The index is built on the first query, from the snapshot of the last build
(``flextype_adapters.index_snapshot``) for every file whose identity did not change since, by
parsing the others. Once a big index answered its first query, the heap is settled
(``flextype_adapters.heap``): full garbage collections no longer walk the index.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec

from flextype_adapters.change_records import ChangeNotLoggedError, ChangeRecords
from flextype_adapters.entry_files import FileIdentity, warn_unreadable
from flextype_adapters.entry_index import EntryIndex, ids_in_range
from flextype_adapters.entry_journal import JOURNAL_FILE, Journal
from flextype_adapters.entry_moves import Watched
from flextype_adapters.hand_edits import PendingEdits
from flextype_adapters.heap import SETTLE_FROM, due, settle_heap
from flextype_adapters.index_snapshot import (
    SNAPSHOT_FILE,
    Snapshot,
    decoded_fields,
    load_snapshot,
    save_snapshot,
)
from flextype_adapters.log_limit import warn_limited
from flextype_adapters.sweep_walk import Pacer, changed_files
from flextype_adapters.yaml_files import YamlFilesEntryStore
from flextype_core import ids
from flextype_core.errors import EntryNotFound, StorageError
from flextype_core.model import Entry, Selection
from flextype_core.query import Collections, Query
from flextype_core.query.collections import Searcher

__all__ = ["JOURNAL_FILE", "IndexedYamlFilesEntryStore"]

Fields = dict[str, Any]


class IndexedYamlFilesEntryStore:
    """``YamlFilesEntryStore`` with an in-memory index for ``descendants``.

    Args:
        root: the ``entries`` folder.
        sweep_interval: seconds between background sweeps for edits made by hand.
        changes: the change log the writes and the hand edits found are appended to.
        settle_from: entries (re)loaded from which the heap is settled
            (``flextype_adapters.heap.due``).
    """

    def __init__(
        self,
        root: Path,
        *,
        sweep_interval: float = 2.0,
        changes: ChangeRecords | None = None,
        settle_from: int = SETTLE_FROM,
    ) -> None:
        self._root = root
        self._journal = Journal(root)
        # Announced before each append (every process reloads them before the log names
        # them): a listing after a head holds every change at or below it, as
        # ``X-Changes-Cursor`` promises. A hand edit logged is announced so too.
        self._files = YamlFilesEntryStore(root, changes=changes, announce=self._journal.announce)
        self._snapshot = root / SNAPSHOT_FILE
        self._sweep_interval = sweep_interval
        self._lock = threading.RLock()
        self._index: EntryIndex | None = None
        self._identities: dict[str, FileIdentity] = {}
        self._broken: set[str] = set()
        self._suspects: set[str] = set()
        self._last_sweep = time.monotonic()  # the index is built fresh: no sweep at once
        self._sweep_seconds = 0.0
        self._sweeping = False
        self._pending = None if changes is None else PendingEdits(self._files, changes, str(root))
        self._kept: Snapshot | None = None  # a snapshot to save, once a build is settled
        self._watched = threading.Lock()  # held while a ``watch`` builds the index
        self._watch_after = 0.0  # a build for ``watch`` that failed waits till then
        self._collections = Collections(self)
        self._settle_from = settle_from
        self._loaded = 0  # entries (re)loaded since the heap was last settled

    def set_search(self, search: Searcher | None) -> None:
        """Answer searches with ``search`` (``SearchIndex.search``); None scans the entries."""
        self._collections.set_search(search)

    # -- reads ---------------------------------------------------------------------

    def get(self, entry_id: str) -> Entry:
        return self._files.get(entry_id)

    def cached(self, entry_id: str) -> Entry | None:
        # The parsed-file cache, not the index: it checks the file itself (one stat).
        return self._files.cached(entry_id)

    def exists(self, entry_id: str) -> bool:
        return self._files.exists(entry_id)

    def has_descendants(self, entry_id: str) -> bool:
        index, broken = self._fresh()
        # A broken entry is out of the index but still an entry on disk: it counts.
        return index.has_below(entry_id) or any(
            b != entry_id and ids.is_within(b, entry_id) for b in broken
        )

    def descendants(self, entry_id: str, depth: int | None) -> list[Entry]:
        """Entries below ``entry_id``, shared with the index: callers must not change them."""
        return self._fresh_index().below(entry_id, depth)

    def unreadable(self, entry_id: str, depth: int | None) -> list[str]:
        return ids_in_range(self._fresh()[1], entry_id, depth)

    def select(self, parent: str, query: Query) -> Selection:
        # Kept per version: a warm query reads the journal (one stat) and no entry.
        selection = self._collections.select(parent, query)
        # After the answer: the public views and query indexes it made are settled too.
        self._settle_if_due()
        return selection

    def version(self) -> Hashable:
        index, broken = self._fresh()
        # The broken entries too: one fixed or deleted changes ``unreadable``.
        return (index.generation, broken)

    def check(self) -> None:
        self._files.check()

    # -- writes --------------------------------------------------------------------

    def remove_debris(self) -> int:
        """Remove what interrupted writes left (``flextype_adapters.debris``); return how many."""
        return self._files.remove_debris()

    def exclusive(self) -> contextlib.AbstractContextManager[object]:
        # The writers' lock only: queries go on answering from the index meanwhile. The
        # lock order is always the writers' lock, then the index's (never the reverse).
        return self._files.exclusive()

    def create(self, entries: Mapping[str, Fields]) -> None:
        self._write(list(entries), lambda: self._files.create(entries))

    def update(self, entry_id: str, change: Callable[[Fields], Fields]) -> Entry:
        updated: list[Entry] = []
        self._write([entry_id], lambda: updated.append(self._files.update(entry_id, change)))
        return updated[0]

    def move(
        self, entry_id: str, new_id: str, *, expect: Callable[[Entry], None] | None = None
    ) -> None:
        watched = Watched.of(expect)
        self._write(
            [entry_id, new_id],
            lambda: self._files.move(entry_id, new_id, expect=watched),
            watched,
        )

    def copy(
        self,
        entry_id: str,
        new_id: str,
        renew: Callable[[Fields], Fields],
        *,
        expect: Callable[[Entry], None] | None = None,
    ) -> Entry:
        copied: list[Entry] = []
        watched = Watched.of(expect)
        self._write(
            [new_id],
            lambda: copied.append(self._files.copy(entry_id, new_id, renew, expect=watched)),
            watched,
        )
        return copied[0]

    def delete(
        self, entry_id: str, *, expect: Callable[[Entry | None], None] | None = None
    ) -> None:
        watched = Watched.of(expect)
        self._write([entry_id], lambda: self._files.delete(entry_id, expect=watched), watched)

    def _write(
        self,
        touched: list[str],
        write: Callable[[], object],
        watched: Watched[Any] | None = None,
    ) -> None:
        # No index lock while the files are written and parsed (seconds for a big entry):
        # queries answer from the index as it was until the reload, a moment under it.
        try:
            write()
        except ChangeNotLoggedError as exc:
            # Written (durable), not logged: announced as any write; a sweep logs it.
            if self._pending is not None:
                self._pending.refused(exc.changes)
            self._written(touched)
            raise
        except BaseException:
            # A failed write changed nothing on disk (a half-done create is undone),
            # so other processes need no news; this index re-reads to be sure, unless
            # the write's ``expect`` refused it before it began (a whole subtree's walk).
            if watched is None or not watched.refused:
                with self._lock:
                    self._reload(touched)
            raise
        self._written(touched)

    def _written(self, touched: list[str]) -> None:
        """Bring this index up to a write (other processes have the journal's line)."""
        # Outside the index's lock: the reload under it then finds the files parsed.
        self._parse_ahead(touched)
        with self._lock:
            self._journal.settle(touched)
            self._reload(touched)

    def _reload(self, touched: list[str]) -> None:
        if self._index is not None:
            for entry_id in touched:
                self._reload_subtree(self._index, entry_id)

    def _parse_ahead(self, touched: Iterable[str]) -> None:
        """Parse the files of these entries and of those below them, holding no lock.

        A reload under the index lock then finds them in the parsed-file cache: a big
        entry's parse never holds up queries. Nothing to do before the first query.
        """
        if self._index is None:
            return
        # A hint only: what fails here is for the reload to report, under the lock.
        with contextlib.suppress(OSError):
            for entry_id in touched:
                if entry_id != ids.ROOT:
                    self._files.parse_ahead(entry_id)
                for child_id, _ in self._scan(entry_id):
                    self._files.parse_ahead(child_id)

    # -- keeping the index true ----------------------------------------------------

    def _fresh_index(self) -> EntryIndex:
        return self._fresh()[0]

    def _fresh(self) -> tuple[EntryIndex, frozenset[str]]:
        """The index brought up to date, and the ids of the broken entries it left out.

        Never call it holding the index's lock: what other processes wrote is parsed
        before taking it (as after our own writes), so that a big entry's parse does not
        hold up every query and write of this process.
        """
        self._parse_ahead(self._journal.news())
        with self._lock:
            index = self._index
            news = None if index is None else self._journal.read()
            if index is None or news is None:
                index = self._index = self._build()
                news = []
            # After the build: what was written while it walked the files is reloaded.
            for entry_id in dict.fromkeys([*news, *self._journal.settle()]):
                self._reload_subtree(index, entry_id)
            if self._suspects:
                suspects, self._suspects = self._suspects, set()
                for entry_id in suspects:
                    self._reload_one(index, entry_id)
            self._maybe_sweep()
            # A copy: ``_load`` changes the set in place, under the lock.
            fresh = index, frozenset(self._broken)
            kept, self._kept = self._kept, None
        if kept is not None:
            # After the build, outside the index's lock (the writers' lock comes first):
            # what changed unlogged since the snapshot is logged, then the snapshot moves on.
            if self._pending is not None:
                self._pending.log({}, sweep=False)
            save_snapshot(self._snapshot, kept)
        return fresh

    def _build(self) -> EntryIndex:
        """Index every entry: from the snapshot where its file is unchanged, else parsed."""
        self._journal.start()
        self._identities = {}
        self._broken = set()
        index = EntryIndex()
        snapshot = load_snapshot(self._snapshot)
        kept: Snapshot = {}
        parsed = 0
        found = list(self._scan(ids.ROOT))
        if self._pending is not None:
            # Changed while no process of ours looked (by hand, or a write killed before
            # it logged): logged once the build is done (``_fresh``).
            self._pending.built(snapshot, found)
        # The files the snapshot does not hold are parsed first, on every core.
        self._files.parse_ahead_all(
            [i for i, identity in found if (snapshot.get(i) or (None,))[0] != identity]
        )
        for entry_id, identity in found:
            known = snapshot.get(entry_id)
            unchanged = known is not None and known[0] == identity
            fields = decoded_fields(known[1]) if known is not None and unchanged else None
            if known is not None and fields is not None:
                index.put(Entry(id=entry_id, fields=fields))
                self._identities[entry_id] = identity
                kept[entry_id] = known
                continue
            self._load(index, entry_id, identity)
            entry = index.get(entry_id)
            if entry is not None:
                kept[entry_id] = (identity, msgspec.json.encode(entry.fields))
                parsed += 1
        if parsed or len(kept) != len(snapshot):
            self._kept = kept  # saved by ``_fresh``, once the changes it hides are logged
        self._loaded = len(index)
        return index

    def _load(self, index: EntryIndex, entry_id: str, identity: FileIdentity | None) -> None:
        self._loaded += 1
        try:
            entry = self._files.get(entry_id)
        except (EntryNotFound, StorageError) as exc:
            # A broken file is left out of collections (``get`` names the problem);
            # its identity is kept, so the sweep reads it again only once it changes.
            index.discard(entry_id)
            if isinstance(exc, StorageError):
                warn_unreadable(str(self._root), entry_id, exc)
                self._broken.add(entry_id)
                if identity is not None:
                    self._identities[entry_id] = identity
            else:
                self._broken.discard(entry_id)
                self._identities.pop(entry_id, None)
            return
        self._broken.discard(entry_id)
        index.put(entry)
        if identity is not None:
            self._identities[entry_id] = identity

    def _reload_one(self, index: EntryIndex, entry_id: str) -> None:
        self._load(index, entry_id, self._files.file_identity(entry_id))

    def _reload_subtree(self, index: EntryIndex, entry_id: str) -> None:
        if entry_id != ids.ROOT:
            self._reload_one(index, entry_id)
        for gone in index.discard_below(entry_id):
            self._identities.pop(gone, None)
        self._broken = {b for b in self._broken if b == entry_id or not ids.is_within(b, entry_id)}
        for child_id, identity in self._scan(entry_id):
            self._load(index, child_id, identity)

    def _scan(self, entry_id: str) -> Iterator[tuple[str, FileIdentity]]:
        """Yield (id, identity of its file) for every entry strictly below ``entry_id``."""
        yield from self._files.entry_files_below(entry_id, None)

    def _settle_if_due(self) -> None:
        """Settle the heap if this index loaded enough since it last did (``heap.due``)."""
        with self._lock:
            index = self._index
            if index is None or not due(self._loaded, len(index), self._settle_from):
                return
            self._loaded = 0
        settle_heap()  # outside the lock: the collection is long, and frees what it may

    # -- the sweep for edits by hand ----------------------------------------------

    def _maybe_sweep(self) -> None:
        """Start a sweep in the background if one is due."""
        now = time.monotonic()
        # A sweep of a large tree takes a while: wait ten times its CPU time between
        # sweeps, so that it never takes more than a tenth of the process's time.
        interval = max(self._sweep_interval, 10 * self._sweep_seconds)
        if self._sweeping or now - self._last_sweep < interval:
            return
        self._sweeping = True
        self._last_sweep = now
        threading.Thread(target=self._sweep, daemon=True).start()

    def _sweep(self) -> None:
        """Find the files changed since the index read them: reload them, and log them."""
        started = time.thread_time()
        pacer = Pacer()
        try:
            # Compared with the identities as they are (``sweep_walk``), paced.
            suspects = changed_files(self._scan(ids.ROOT), self._identities, pacer)
            for entry_id in suspects:  # parsed here, not under the lock by a query
                self._files.parse_ahead(entry_id)
            if self._pending is not None:
                known = self._identities
                self._pending.log({i: i in known for i in suspects}, sweep=True)
            with self._lock:
                self._suspects |= suspects
        finally:
            # Its CPU time: its pauses and its waits for the GIL in a busy process are no
            # work of its own, and the next sweep waits ten times its work.
            self._sweep_seconds = time.thread_time() - started
            self._sweeping = False

    def watch(self) -> None:
        """Look for edits made by hand if a sweep is due: cheap enough for every feed read.

        The change log calls it at each read, so that hand edits reach the feed within
        the sweep interval without any query. The first call builds the index (in the
        background) if no query did, and a call a sweep interval after a build that
        failed builds it again; a call that finds the index busy does nothing.
        """
        if self._index is None:
            if time.monotonic() < self._watch_after:
                return
            if self._watched.acquire(blocking=False):  # one build's thread at a time
                threading.Thread(target=self._build_for_watch, daemon=True).start()
            return
        if time.monotonic() - self._last_sweep < self._sweep_interval:
            return
        if self._lock.acquire(blocking=False):
            try:
                self._maybe_sweep()
            finally:
                self._lock.release()

    def _build_for_watch(self) -> None:
        try:
            # No settle here: the first query's public views and query indexes are yet to
            # be made, and a settle now would leave them to every full collection.
            self._fresh()
        except (StorageError, OSError) as exc:  # the next query reports it; the feed goes on
            # Not again at every read of the feed (a build walks every file).
            self._watch_after = time.monotonic() + self._sweep_interval
            reason = exc.message if isinstance(exc, StorageError) else exc.strerror
            warn_limited(f"changes:{self._root}", "Edits made by hand: %s", reason)
        finally:
            self._watched.release()

    def sweep_now(self) -> None:
        """Look for edits made by hand at once (tests and tools; queries do it anyway)."""
        with self._lock:
            if self._index is None:
                return
        self._sweeping = True
        self._sweep()
