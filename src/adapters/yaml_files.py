"""EntryStore over YAML files: entry ``a/b`` is the folder ``a/b`` holding ``entry.yaml``.

What an entry's folder holds and how its files are read and walked: ``entry_files``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from flextype_adapters import entry_changes
from flextype_adapters.atomic import fsync_dir, remove_atomically, write_atomic
from flextype_adapters.change_records import ChangeAppender, append_changes
from flextype_adapters.confine import Confinement
from flextype_adapters.debris import remove_debris
from flextype_adapters.entry_files import (
    ENTRY_FILE,
    ENTRY_PARSERS,
    LEGACY_ENTRY_FILE,
    FileIdentity,
    entry_file_identity,
    walk_entry_files,
    warn_unreadable,
)
from flextype_adapters.entry_folders import (
    create_subtree,
    new_subtree_root,
    prune,
    remove_empty_folders,
    undo_create,
)
from flextype_adapters.entry_moves import check_free
from flextype_adapters.file_cache import ParsedFileCache
from flextype_adapters.file_lock import ProcessLock
from flextype_adapters.parallel_parse import parse_in_processes
from flextype_adapters.yaml_codec import STORAGE_FAILURES as _FAILURES
from flextype_adapters.yaml_codec import dump as _dump
from flextype_adapters.yaml_codec import load_mapping as _load_mapping
from flextype_adapters.yaml_codec import storage_error as _storage_error
from flextype_adapters.yaml_codec import storage_errors as _storage_errors
from flextype_core import ids
from flextype_core.changes import NewChange
from flextype_core.errors import Conflict, EntryNotFound, StorageError, shown
from flextype_core.model import Entry, Selection
from flextype_core.query import Collections, Query
from flextype_core.query.collections import Searcher

# The names of ``entry_files`` that users of this module have always imported from here.
__all__ = [
    "ENTRY_FILE",
    "LEGACY_ENTRY_FILE",
    "FileIdentity",
    "YamlFilesEntryStore",
    "entry_file_identity",
    "warn_unreadable",
]

Fields = dict[str, Any]

_FIELDS_DECODER = msgspec.json.Decoder(dict[str, Any])


def _entry(entry_id: str) -> str:
    return f"Entry {shown(entry_id)}"


def _documents(entries: Mapping[str, Fields]) -> dict[str, bytes]:
    """Serialise new entries (bad data fails here, before anything is written)."""
    documents = {}
    for entry_id, fields in entries.items():
        with _storage_errors(_entry(entry_id), "written"):
            documents[entry_id] = _dump(fields)
    return documents


class YamlFilesEntryStore:
    """EntryStore over ``<project>/entries``: entry ``a/b`` is ``a/b/entry.yaml``.

    Every call reads the disk, so edits by hand are seen at once. Writes by this process
    are serialised by one lock; each file is replaced atomically, and a delete first
    renames the folder away, so a reader sees an entry whole or not at all. Names
    starting with ``.`` (temporary files, trash) are never entries. A symbolic link
    leading out of the root is never followed (``flextype_adapters.confine``): what lies
    behind it is no entry, and writing there is a ``Conflict``.

    Args:
        root: the ``entries`` folder.
        changes: the change log each write appends to, under the writers' lock once
            its files are durable (``flextype_adapters.entry_changes``); None: none.
        announce: told the ids each write touched (``announce``), before its append.
    """

    def __init__(
        self,
        root: Path,
        *,
        changes: ChangeAppender | None = None,
        announce: Callable[[Sequence[str]], None] | None = None,
    ) -> None:
        self._root = root
        self._change_log = changes
        self._announce = announce
        # Workers of one project serialise their read-change-writes through this file.
        self._lock = ProcessLock(root / ".lock")
        self._confinement = Confinement(root)
        self._parsed: ParsedFileCache[bytes] = ParsedFileCache(confinement=self._confinement)
        self._root_text = str(root)
        self._collections = Collections(self)

    def set_search(self, search: Searcher | None) -> None:
        """Answer searches with ``search`` (``SearchIndex.search``); None scans the entries."""
        self._collections.set_search(search)

    def get(self, entry_id: str) -> Entry:
        fields = self._read(entry_id)
        if fields is None:
            raise EntryNotFound(entry_id)
        return Entry(id=entry_id, fields=fields)

    def cached(self, entry_id: str) -> Entry | None:
        if entry_id == ids.ROOT:
            return None
        for name in (ENTRY_FILE, LEGACY_ENTRY_FILE):
            try:
                encoded = self._parsed.peek(f"{self._root_text}/{entry_id}/{name}")
            except (FileNotFoundError, NotADirectoryError):
                continue  # entry.yaml absent: entry.md is the one get() reads
            except OSError:
                return None  # get() names the problem
            if encoded is None:
                return None
            fields: Fields = _FIELDS_DECODER.decode(encoded)
            return Entry(id=entry_id, fields=fields)
        return None

    def exists(self, entry_id: str) -> bool:
        if entry_id == ids.ROOT:
            return False
        folder = os.path.join(self._root, entry_id)  # noqa: PTH118
        return self.file_identity(entry_id) is not None and self._confinement.contains(folder)

    def file_identity(self, entry_id: str) -> FileIdentity | None:
        """``entry_file_identity`` of the entry's folder (links on its way unchecked)."""
        folder = os.path.join(self._root, entry_id)  # noqa: PTH118
        return entry_file_identity(folder, self._confinement)

    def has_descendants(self, entry_id: str) -> bool:
        with _storage_errors(f"The entries below {shown(entry_id)}", "listed"):
            return any(True for _ in self.ids_below(entry_id, None))

    def descendants(self, entry_id: str, depth: int | None) -> list[Entry]:
        entries = []
        for child_id in self._sorted_ids_below(entry_id, depth):
            try:
                fields = self._read(child_id)
            except StorageError as exc:
                warn_unreadable(self._root_text, child_id, exc)
                continue
            if fields is not None:  # None: deleted since the walk saw it
                entries.append(Entry(id=child_id, fields=fields))
        return entries

    def unreadable(self, entry_id: str, depth: int | None) -> list[str]:
        found = []
        for child_id in self._sorted_ids_below(entry_id, depth):
            try:
                self._read(child_id)
            except StorageError:
                found.append(child_id)
        return found

    def select(self, parent: str, query: Query) -> Selection:
        # Every call is a new version (see ``version``): each select reads the disk.
        return self._collections.select(parent, query)

    def _sorted_ids_below(self, entry_id: str, depth: int | None) -> list[str]:
        with _storage_errors(f"The entries below {shown(entry_id)}", "listed"):
            # Sort the id strings themselves: "a-b" < "a/b" in code points, which a
            # walk that sorts each folder's names separately would get wrong.
            return sorted(self.ids_below(entry_id, depth))

    def version(self) -> object:
        # Telling would need a stat of every file: each call is a new version.
        return object()

    def check(self) -> None:
        # No folder yet is no entries yet, as every read takes it; the first write makes it.
        with (
            _storage_errors("The entries folder", "listed"),
            contextlib.suppress(FileNotFoundError),
        ):
            os.scandir(self._root).close()

    def exclusive(self) -> contextlib.AbstractContextManager[object]:
        return self._lock.held()

    def remove_debris(self) -> int:
        """Remove what interrupted writes left (``flextype_adapters.debris``); return how many."""
        with self._lock.held():
            return remove_debris(self._root)

    def create(self, entries: Mapping[str, Fields]) -> None:
        self._refuse_taken(entries)
        # Serialise everything before touching the disk, so bad data writes nothing, and
        # before taking the lock: a big entry takes seconds, other writers need not wait.
        documents = _documents(entries)
        with self._lock.held():
            self._create(entries, documents)
            self._log(list(entries), lambda: entry_changes.created(entries))

    def announce(self, touched: Sequence[str]) -> None:
        """Tell the readers that keep entries in memory that ``touched`` changed on disk.

        Call it holding the writers' lock, once the files are durable and before their
        changes are logged: a reader that finds a change in the log then finds it in
        its listing too (``X-Changes-Cursor`` is read before the listing).
        """
        if self._announce is not None:
            self._announce(touched)

    def _log(self, touched: Sequence[str], changes: Callable[[], list[NewChange]]) -> None:
        """Announce a write, then append its changes (made only when there is a log)."""
        self.announce(touched)
        if self._change_log is not None:
            append_changes(self._change_log, changes())

    def _create(self, entries: Mapping[str, Fields], documents: Mapping[str, bytes]) -> None:
        """Write new entries' documents; call it holding the writers' lock."""
        with self._lock.held():
            self._refuse_taken(entries)  # again: another writer may have come in between
            for entry_id in entries:
                self._writable(entry_id)
            root = new_subtree_root(documents, self._root)
            if root is not None:
                with _storage_errors(_entry(root), "written"):
                    create_subtree(self._root, root, documents)
                return
            written: list[str] = []
            try:
                for entry_id, data in documents.items():
                    with _storage_errors(_entry(entry_id), "written"):
                        write_atomic(self._root / entry_id / ENTRY_FILE, data)
                    written.append(entry_id)
            except BaseException:
                undo_create(self._root, written)
                raise

    def _refuse_taken(self, entries: Mapping[str, Fields]) -> None:
        taken = [entry_id for entry_id in entries if self.exists(entry_id)]
        if taken:
            raise Conflict(f"Entry '{taken[0]}' already exists.")

    def update(self, entry_id: str, change: Callable[[Fields], Fields]) -> Entry:
        with self._lock.held():
            current = self._read(entry_id)
            if current is None:
                raise EntryNotFound(entry_id)
            changed = change(current)
            folder = self._writable(entry_id)
            with _storage_errors(_entry(entry_id), "written"):
                data = _dump(changed)
                status = write_atomic(folder / ENTRY_FILE, data)
                # entry.yaml now shadows entry.md: drop the stale copy, not to confuse.
                with contextlib.suppress(FileNotFoundError):
                    (folder / LEGACY_ENTRY_FILE).unlink()
            # ``changed`` is what the file holds (JSON values read back as they are).
            self._log([entry_id], lambda: entry_changes.updated(entry_id, changed))
        # Parsed back after the lock (a big entry takes seconds), to return what a later
        # get() reads (tuples come back as lists, ...); kept for that get() too.
        with _storage_errors(_entry(entry_id), "written"):
            stored = _load_mapping(data.decode("utf-8"))
        self._parsed.remember(
            f"{self._root_text}/{entry_id}/{ENTRY_FILE}", status, msgspec.json.encode(stored)
        )
        return Entry(id=entry_id, fields=stored)

    def parse_ahead(self, entry_id: str) -> None:
        """Parse the entry's file now if it changed, so later reads find it in memory.

        For a writer, outside its locks: a read under a lock then costs no parse. Errors
        are left for that read to report.
        """
        path = f"{self._root_text}/{entry_id}"
        with contextlib.suppress(*_FAILURES):
            for name, parse in ENTRY_PARSERS:
                if self._parsed.get_with_mtime(f"{path}/{name}", parse) is not None:
                    return

    def parse_ahead_all(self, entry_ids: Sequence[str]) -> None:
        """``parse_ahead`` of many entries, their files parsed on every core.

        Worker processes parse them (``flextype_adapters.parallel_parse``) when there are
        enough to pay for their start; what they could not parse is left for the reads.
        """
        for path, identity, value in parse_in_processes(self._root_text, entry_ids):
            self._parsed.keep(path, identity, value)

    def move(
        self, entry_id: str, new_id: str, *, expect: Callable[[Entry], None] | None = None
    ) -> None:
        with self._lock.held():
            check_free(self, entry_id, new_id, expect)
            source, target = self._root / entry_id, self._writable(new_id)
            # Read before the rename, from the parsed files kept: after it, their paths change.
            subtree = self._subtree(entry_id) if self._change_log is not None else []
            with _storage_errors(_entry(entry_id), "moved"):
                # A folder holding no entries (left empty by hand) must not block the move.
                remove_empty_folders(target)
                if target.exists():  # non-entry files there: never overwrite them
                    raise Conflict(f"Entry '{new_id}' already exists.")
                target.parent.mkdir(parents=True, exist_ok=True)
                source.replace(target)
                fsync_dir(target.parent)
                fsync_dir(source.parent)
                prune(self._root, source.parent)
            self._log([entry_id, new_id], lambda: entry_changes.moved(subtree, entry_id, new_id))

    def _subtree(self, entry_id: str) -> list[tuple[str, Fields | None]]:
        """(id, fields; None if unreadable) of the entry and every entry below, in order."""
        with _storage_errors(f"The entries below {shown(entry_id)}", "listed"):
            below = list(self.ids_below(entry_id, None))
        found = []
        for child_id in entry_changes.subtree_order(entry_id, True, below):
            try:
                found.append((child_id, self._read(child_id)))
            except StorageError:
                found.append((child_id, None))
        return found

    def copy(
        self,
        entry_id: str,
        new_id: str,
        renew: Callable[[Fields], Fields],
        *,
        expect: Callable[[Entry], None] | None = None,
    ) -> Entry:
        with self._lock.held():
            check_free(self, entry_id, new_id, None)
            root = self.get(entry_id)
            if expect is not None:
                expect(root)
            broken = self.unreadable(entry_id, None)
            if broken:
                raise StorageError(
                    f"{_entry(entry_id)} cannot be copied: {len(broken)} entries below it "
                    f"cannot be read, such as {shown(broken[0])}."
                )
            copies = {new_id: renew(root.fields)}
            for entry in self.descendants(entry_id, None):  # parsed once, by unreadable
                copies[ids.rebase(entry.id, entry_id, new_id)] = renew(entry.fields)
            self._create(copies, _documents(copies))
            self._log([new_id], lambda: entry_changes.copied(copies, entry_id, new_id))
        return Entry(id=new_id, fields=copies[new_id])

    def delete(
        self, entry_id: str, *, expect: Callable[[Entry | None], None] | None = None
    ) -> None:
        with self._lock.held():
            found = self.exists(entry_id)
            if not found and not self.has_descendants(entry_id):
                raise EntryNotFound(entry_id)
            if expect is not None:
                expect(self.get(entry_id) if found else None)
            gone = []
            if self._change_log is not None:
                with _storage_errors(f"The entries below {shown(entry_id)}", "listed"):
                    gone = entry_changes.subtree_order(
                        entry_id, found, self.ids_below(entry_id, None)
                    )
            with _storage_errors(_entry(entry_id), "deleted"):
                if entry_id == ids.ROOT:  # as the reference store: every entry goes
                    for child in self._root.iterdir():
                        if child.is_dir() and not child.name.startswith("."):
                            remove_atomically(child)
                else:
                    # The subtree vanishes at once; a linked entry: the link goes, never
                    # what it leads to.
                    folder = self._root / entry_id
                    remove_atomically(folder)
                    prune(self._root, folder.parent)
            self._log([entry_id], lambda: entry_changes.deleted(gone))

    def _writable(self, entry_id: str) -> Path:
        """Return the entry's folder, if writing there stays inside the root.

        Raises:
            Conflict: a symbolic link on the way leads out of the root.
        """
        folder = self._root / entry_id
        if not self._confinement.contains(folder):
            raise Conflict(
                f"{_entry(entry_id)} cannot be written: a symbolic link on its path leads "
                "out of the entries folder."
            )
        return folder

    def _read(self, entry_id: str) -> Fields | None:
        """Return the entry's stored fields, or None if there is no entry."""
        if entry_id == ids.ROOT:
            return None
        # try/except, not _storage_errors: this is the hot path, and the message is
        # built only on failure.
        try:
            for name, parse in ENTRY_PARSERS:
                path = f"{self._root_text}/{entry_id}/{name}"
                encoded = self._parsed.get_with_mtime(path, parse)
                if encoded is not None:
                    # Decoded per call: every caller gets its own copy of nested values.
                    fields: Fields = _FIELDS_DECODER.decode(encoded)
                    return fields
        except _FAILURES as exc:
            raise _storage_error(_entry(entry_id), "read", exc) from exc
        return None

    def ids_below(self, entry_id: str, depth: int | None) -> Iterator[str]:
        """Yield the ids of entries strictly below ``entry_id``, unordered, from the disk."""
        return (child_id for child_id, _ in self.entry_files_below(entry_id, depth))

    def entry_files_below(
        self, entry_id: str, depth: int | None
    ) -> Iterator[tuple[str, FileIdentity]]:
        """Yield (id, identity of its entry file) for each entry below ``entry_id``, unordered.

        The identity is (inode, size, mtime in ns): a file replaced or edited has another.
        Text paths and one ``stat`` per folder: a 100k-entry walk spends its time here.
        """
        base = os.path.join(self._root, entry_id)  # noqa: PTH118
        if entry_id == ids.ROOT or self._confinement.contains(base):
            yield from walk_entry_files(entry_id, base, depth, self._confinement)
