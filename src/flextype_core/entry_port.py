"""The EntryStore port: persistent entries, their collections and conditional writes.

Re-exported by ``flextype_core.ports``, where the other ports live.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

from flextype_core.model import Entry, Selection
from flextype_core.query.model import Query
from flextype_core.query.search_syntax import SearchExpr

__all__ = ["EntryStore", "Fields", "SearchIndex", "SecretStore"]

Fields = dict[str, Any]


class EntryStore(Protocol):
    """Persistent entries, addressed by validated ids (see ``flextype_core.ids``).

    A store keeps only the fields it is given; ``id`` and ``slug`` are implied by the
    location. Results must be the same as if the store read its medium on every call,
    edits made outside this process included.

    Conditional writes (``If-Match``) pass their check down as ``expect``: the store
    runs it on the entry as it is inside the same lock or transaction as the write,
    so no other write can come in between the check and the write.
    """

    def get(self, entry_id: str) -> Entry:
        """Return the entry.

        Raises:
            EntryNotFound: there is no entry at ``entry_id``.
            StorageError: the stored entry cannot be read.
        """
        ...

    def cached(self, entry_id: str) -> Entry | None:
        """Return the entry if the store holds it in memory as it is stored now, else None.

        No file is read or parsed and no lock waited for (a ``stat`` is allowed): None
        whenever answering would need more, a missing entry included. The entry may be
        shared with the store's memory: callers must not change it.
        """
        ...

    def exists(self, entry_id: str) -> bool:
        """Tell whether there is an entry at ``entry_id`` (a folder of children is not one)."""
        ...

    def has_descendants(self, entry_id: str) -> bool:
        """Tell whether any entry lies below ``entry_id`` (``""`` is the root)."""
        ...

    def descendants(self, entry_id: str, depth: int | None) -> list[Entry]:
        """Return the entries strictly below ``entry_id``, at most ``depth`` levels down.

        ``depth`` None means every level; 1 means direct children. ``""`` is the root. The
        order is by id, in code-point order. Folders that are not entries are not listed,
        nor are entries that cannot be read (``unreadable`` names them; ``get`` raises).
        """
        ...

    def unreadable(self, entry_id: str, depth: int | None) -> list[str]:
        """Return the ids of the entries ``descendants`` leaves out as unreadable.

        Those in the same range (strictly below ``entry_id``, at most ``depth`` levels
        down), in code-point order: entries whose stored data is damaged.
        """
        ...

    def select(self, parent: str, query: Query) -> Selection:
        """Answer the collection part of a query (``flextype_core.query.model.Query``).

        The entries strictly below ``parent`` (``""`` is the root) from level
        ``query.min_depth`` to ``query.depth`` (None: every level) that pass every
        ``query.where`` clause, with exactly the semantics of
        ``flextype_core.query.clauses``; ordered by ``query.sort`` as
        ``flextype_core.query.evaluate.sort_items`` orders them (stable over id order,
        ids in code-point order; missing and null values last); then the page
        ``query.offset``/``query.limit``.

        With ``query.search``, only entries whose text matches it count (the meaning of
        ``flextype_core.query.search_match.matches`` over
        ``flextype_core.query.search_text.document``, restricted to ``search.fields``
        when given); without sort keys they are ordered by relevance, best first, ties
        by id, and ``scores`` gives each page item's relevance (the store's own measure,
        higher is better). With ``query.keyset`` (a cursor), the page is the items that
        follow it in that order (``flextype_core.query.keyset.follows``), ``offset``
        being 0, and ``more`` tells whether items follow the page.

        ``total`` is the number of matches before paging. ``unreadable`` names, in
        code-point order, the ids in range that cannot be read (they are in neither
        ``items`` nor ``total``). Items may be shared with the store's memory: callers
        must not change them. ``return``, ``group_by``, ``only`` and ``except`` are not
        the store's job: the core applies them to the page. Stores that list their
        entries answer with ``flextype_core.query.collections.Collections``.

        Raises:
            EntryNotFound: ``parent`` is neither an entry nor has descendants (the root
                always exists).
        """
        ...

    def version(self) -> Hashable:
        """Return a value that stays equal while no entry changes.

        Two calls give equal values only if no entry was created, changed, moved or
        deleted in between, as far as the store can see (its rules on edits made
        outside the process apply). A store that cannot tell cheaply returns a new
        object on every call. Collection indexes and ETags are kept while it stays equal.
        """
        ...

    def create(self, entries: Mapping[str, Fields]) -> None:
        """Create every given entry, all or none.

        Raises:
            Conflict: one of the ids already holds an entry; nothing was written.
        """
        ...

    def update(self, entry_id: str, change: Callable[[Fields], Fields]) -> Entry:
        """Replace the entry's fields with ``change(current fields)`` and return the result.

        Read, change and write happen as one step for this entry: a concurrent update of
        the same entry sees this one's result, never the state before it.

        Raises:
            EntryNotFound: there is no entry at ``entry_id``.
            StorageError: the stored entry cannot be read.
            Any error ``change`` raises, with nothing written.
        """
        ...

    def move(
        self, entry_id: str, new_id: str, *, expect: Callable[[Entry], None] | None = None
    ) -> None:
        """Move the entry and every descendant from ``entry_id`` to ``new_id`` as one step.

        ``expect(current entry)`` runs inside the store's lock or transaction, after the
        entry is found and ``new_id`` is known to be free, before anything is written.

        Raises:
            EntryNotFound: there is no entry at ``entry_id``.
            Conflict: ``new_id`` holds an entry or has descendants.
            StorageError: the entry cannot be read (only when ``expect`` is given).
            Any error ``expect`` raises, with nothing written.
        """
        ...

    def copy(
        self,
        entry_id: str,
        new_id: str,
        renew: Callable[[Fields], Fields],
        *,
        expect: Callable[[Entry], None] | None = None,
    ) -> Entry:
        """Copy the entry and every descendant to ``new_id`` as one step; return the root's copy.

        Each copy's fields are ``renew(the original's fields)``. ``expect(current entry)``
        runs as ``move``'s does: after the entry is found and ``new_id`` is known to be
        free, before anything is written.

        Raises:
            EntryNotFound: there is no entry at ``entry_id``.
            Conflict: ``new_id`` holds an entry or has descendants.
            StorageError: an entry of the subtree cannot be read; nothing was copied (a
                copy without it would lose it silently).
            Any error ``expect`` or ``renew`` raises, with nothing written.
        """
        ...

    def delete(
        self, entry_id: str, *, expect: Callable[[Entry | None], None] | None = None
    ) -> None:
        """Delete the entry at ``entry_id`` (if any) and every descendant, as one step.

        ``expect`` runs inside the store's lock or transaction before anything is
        written, given the current entry, or None when only descendants exist.

        Raises:
            EntryNotFound: there is neither an entry nor a descendant at ``entry_id``.
            StorageError: the entry cannot be read (only when ``expect`` is given).
            Any error ``expect`` raises, with nothing written.
        """
        ...

    def check(self) -> None:
        """Read the medium once, as a health check does: return if it answers.

        Raises:
            StorageError: the medium cannot be read now (the entries folder is not a
                folder or cannot be listed, the database file is not a database).
        """
        ...

    def exclusive(self) -> AbstractContextManager[object]:
        """Hold off every other writer of the entries for a ``with`` block.

        Other threads and processes wait; the store's own calls inside the block go on
        (the lock is re-entrant). For a consistent view over many calls (export,
        migrate); conditional writes use ``expect`` instead.
        """
        ...


class SearchIndex(Protocol):
    """A full-text index of a store's entries, for stores that hold no index of their own.

    What it finds is exactly what ``flextype_core.query.search_match.matches`` finds
    over ``flextype_core.query.search_text.document`` of each entry as the store reads
    it now (every field but the managed ones): writes through any process and the
    edits by hand the store has seen included. It is a cache: losing it loses nothing.
    """

    def search(self, expr: SearchExpr) -> dict[str, float]:
        """Return every matching entry of the whole store: id -> relevance (higher is better)."""
        ...

    def rebuild(self) -> int:
        """Build the index anew from the store's entries; return how many it holds."""
        ...


class SecretStore(Protocol):
    """Secrets the server makes itself and keeps with its data (e.g. to sign cursors)."""

    def secret(self, name: str) -> bytes:
        """Return the secret ``name``: 32 random bytes made on first use and kept.

        Every process and server using the same storage gets the same bytes.
        """
        ...
