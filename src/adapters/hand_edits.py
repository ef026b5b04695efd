"""Entry files changed without the change log knowing, logged once as create/update/delete.

A file edited, created or deleted by hand (or written by a write killed before it
logged) is found by the YAML store's sweep, or at the index's build by comparing the
files with the snapshot of the last build. Each such id is a *candidate*, with a hint:
whether it was an entry when last seen. ``log_hand_edits`` then compares the file as it
is with what the log last said of the id, holding the writers' lock: every write of
every process appends its changes before it lets that lock go, so a difference found
under it is a change nobody logged. Several processes that find the same edit each
look under the lock: the first logs it, the others find the log agreeing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from flextype_adapters.change_records import ChangeRecords, append_changes
from flextype_adapters.entry_files import FileIdentity
from flextype_adapters.yaml_files import YamlFilesEntryStore
from flextype_core.changes import ChangeOp, NewChange, entry_etag
from flextype_core.errors import EntryNotFound, StorageError

__all__ = ["log_hand_edits", "since_snapshot", "unlogged"]


def log_hand_edits(
    files: YamlFilesEntryStore, log: ChangeRecords, candidates: Mapping[str, bool]
) -> None:
    """Log each candidate whose file differs from what ``log`` last said of it.

    A file that cannot be read is left out (it is logged once it reads again).

    Raises:
        ChangeNotLoggedError: the log failed.
    """
    if not candidates:
        return
    with files.exclusive():
        said = log.known("entry", list(candidates))
        changes = []
        for entry_id in sorted(candidates):
            try:
                etag: str | None = entry_etag(entry_id, files.get(entry_id).fields)
            except EntryNotFound:
                etag = None
            except StorageError:
                continue
            op = _op(etag, said.get(entry_id, ""), candidates[entry_id])
            if op is not None:
                changes.append(NewChange(op=op, type="entry", id=entry_id, etag=etag))
        append_changes(log, changes)


def _op(etag: str | None, said: str | None, was_entry: bool) -> ChangeOp | None:
    """The change from what the log said (``""``: nothing; None: gone) to ``etag`` (None: gone)."""
    if said == "":
        if etag is None:
            return "delete" if was_entry else None
        return "update" if was_entry else "create"
    if etag == said:
        return None
    if etag is None:
        return "delete"
    return "create" if said is None else "update"


def since_snapshot(
    snapshot: Mapping[str, object], found: Iterable[tuple[str, FileIdentity]]
) -> dict[str, bool]:
    """The candidates of an index build: files whose identity differs from the snapshot's.

    ``snapshot`` maps an id to (identity, ...) as ``index_snapshot`` keeps it. Without
    one (a first build) there is nothing to compare with: none.
    """
    if not snapshot:
        return {}
    candidates = {}
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


def unlogged(changes: Sequence[NewChange]) -> dict[str, bool]:
    """The candidates a write leaves when the log failed to take its ``changes``."""
    candidates = {}
    for change in changes:
        candidates[change.id] = change.op in ("update", "delete")
        if change.from_id is not None and change.op == "move":
            candidates[change.from_id] = True
    return candidates
