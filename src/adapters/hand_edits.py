"""Entry files changed without the change log knowing, logged once as create/update/delete.

A file edited, created or deleted by hand (or written by a write killed before it
logged) is found by the YAML store's sweep, or at the index's build by comparing the
files with the snapshot of the last build. Each such id is a *candidate*, with a hint:
whether it was an entry when last seen. ``log_hand_edits`` then compares the file as it
is with what the log last said of the id, holding the writers' lock: every write of
every process appends its changes before it lets that lock go, so a difference found
under it is a change nobody logged. Several processes that find the same edit each
look under the lock: the first logs it, the others find the log agreeing.

Without a snapshot to compare with (a first build), every file is compared with what
the log knows of it: an edit or a deletion is found, and a file the log never heard of
is taken as it is (a project imported does not log each of its entries).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence

from flextype_adapters.change_records import (
    UNSAID,
    ChangeRecords,
    append_changes,
    op_since,
    unlogged,
)
from flextype_adapters.entry_files import FileIdentity
from flextype_adapters.log_limit import warn_limited
from flextype_adapters.yaml_files import YamlFilesEntryStore
from flextype_core.changes import NewChange, entry_etag
from flextype_core.errors import EntryNotFound, StorageError

__all__ = ["PendingEdits", "log_hand_edits", "since_snapshot"]


class PendingEdits:
    """The candidates a YAML store has yet to log, and their logging (thread-safe).

    Those of an index build are logged once it is done; those of a write the log
    refused (and of a logging that failed) at the next sweep.
    """

    def __init__(self, files: YamlFilesEntryStore, log: ChangeRecords, where: str) -> None:
        self._files = files
        self._log = log
        self._where = where
        self._lock = threading.Lock()
        self._now: dict[str, bool | None] = {}
        self._later: dict[str, bool | None] = {}
        self._gone_too = False  # a build without a snapshot: the log says what was there

    def built(
        self, snapshot: Mapping[str, object], found: Iterable[tuple[str, FileIdentity]]
    ) -> None:
        """Note what an index build found changed since ``snapshot`` (``since_snapshot``)."""
        with self._lock:
            self._now.update(since_snapshot(snapshot, found))
            self._gone_too = self._gone_too or not snapshot

    def refused(self, changes: Sequence[NewChange]) -> None:
        """Note a write made whose ``changes`` the log refused."""
        with self._lock:
            self._later.update(unlogged(changes))

    def log(self, found: Mapping[str, bool], *, sweep: bool) -> None:
        """Log ``found`` (id -> was an entry) and what waits for now (for a sweep too).

        Never raises: what fails to be logged waits for the next sweep (one warning).
        """
        with self._lock:
            candidates, self._now = self._now, {}
            gone_too, self._gone_too = self._gone_too, False
            if sweep:
                candidates.update(self._later)
                self._later = {}
        for entry_id, was_entry in found.items():
            candidates[entry_id] = candidates.get(entry_id) or was_entry
        try:
            log_hand_edits(self._files, self._log, candidates, gone_too=gone_too)
        except (StorageError, OSError) as exc:  # the log's, or the lock file's
            with self._lock:
                self._later.update(candidates)
                self._gone_too = self._gone_too or gone_too
            reason = exc.message if isinstance(exc, StorageError) else exc.strerror
            warn_limited(f"changes:{self._where}", "Edits made by hand: %s", reason)


def log_hand_edits(
    files: YamlFilesEntryStore,
    log: ChangeRecords,
    candidates: Mapping[str, bool | None],
    *,
    gone_too: bool = False,
) -> None:
    """Log each candidate whose file differs from what ``log`` last said of it.

    A hint of None (not known whether it was an entry) logs a change only of an id the
    log knows. With ``gone_too``, every id the log says exists is a candidate too (what
    was deleted is found so). A file that cannot be read is left out (it is logged once
    it reads again). The files are compared first without the writers' lock (most agree
    with the log), then those that differ again under it.

    Raises:
        ChangeNotLoggedError: the log failed.
    """
    wanted = dict(candidates)
    if gone_too:
        for entry_id in log.present("entry"):
            wanted.setdefault(entry_id, True)
    if not wanted:
        return
    differing = {i for i, _ in _changes(files, log, wanted)}
    if not differing:
        return
    with files.exclusive():
        changes = _changes(files, log, {i: wanted[i] for i in differing})
        if changes:
            # As a write does: every process reloads them before the log names them.
            files.announce([entry_id for entry_id, _ in changes])
            append_changes(log, [change for _, change in changes])


def _changes(
    files: YamlFilesEntryStore, log: ChangeRecords, candidates: Mapping[str, bool | None]
) -> list[tuple[str, NewChange]]:
    """(id, change) of each candidate whose file differs from what the log says, by id."""
    said = log.known("entry", list(candidates))
    found = []
    for entry_id in sorted(candidates):
        last = said.get(entry_id, UNSAID)
        if last == UNSAID and candidates[entry_id] is None:
            continue  # nothing to compare with: no change either way (no file read)
        try:
            etag: str | None = entry_etag(entry_id, files.get(entry_id).fields)
        except EntryNotFound:
            etag = None
        except StorageError:
            continue
        op = op_since(etag, last, candidates[entry_id])
        if op is not None:
            found.append((entry_id, NewChange(op=op, type="entry", id=entry_id, etag=etag)))
    return found


def since_snapshot(
    snapshot: Mapping[str, object], found: Iterable[tuple[str, FileIdentity]]
) -> dict[str, bool | None]:
    """The candidates of an index build: files whose identity differs from the snapshot's.

    ``snapshot`` maps an id to (identity, ...) as ``index_snapshot`` keeps it. Without
    one (a first build, a snapshot deleted) every file is compared with the log, which
    may know it (``log_hand_edits``'s hint None; its ``gone_too`` finds the deletions).
    """
    if not snapshot:
        return dict.fromkeys((entry_id for entry_id, _ in found), None)
    candidates: dict[str, bool | None] = {}
    seen = set()
    for entry_id, identity in found:
        seen.add(entry_id)
        known = snapshot.get(entry_id)
        if known is None:
            candidates[entry_id] = False
        elif not isinstance(known, tuple) or known[0] != identity:
            candidates[entry_id] = True
    for entry_id in snapshot.keys() - seen:
        candidates[entry_id] = True
    return candidates
