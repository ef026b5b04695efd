"""Entries in PostgreSQL: one row per entry, ids as materialized paths, every write logged."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import msgspec
from psycopg import sql

from flextype_adapters.postgres import entry_queries
from flextype_adapters.postgres.database import PostgresDatabase, Tx
from flextype_adapters.postgres.feed import SELECTIONS
from flextype_adapters.postgres.rows import (
    EntryRow,
    decode_fields,
    depth_of,
    encode_fields,
    parent_of,
    subtree,
)
from flextype_core.changes import entry_etag
from flextype_core.errors import Conflict, EntryNotFound, ServiceUnavailable, StorageError, shown
from flextype_core.model import Entry, Selection
from flextype_core.query.model import Query

__all__ = ["PostgresEntryStore"]

Fields = dict[str, Any]
KIND = "entries"
_KEPT_ITEMS = 100
"""Collection answers of at most this many items are remembered (and of at most the
feed's ``max_bytes`` as JSON)."""
_SIZE = msgspec.json.Encoder(enc_hook=str)


def _selection_key(parent: str, query: Query) -> bytes:
    """What a collection answer depends on, typed: 1, 1.0 and true differ (not for ==)."""
    store_part = msgspec.structs.replace(
        query, return_="all", group_by=None, only=None, except_=None, method=None
    )
    return msgspec.msgpack.encode((parent, store_part))


_INSERT = sql.SQL(
    "INSERT INTO entries (id, parent, depth, data, data_exact, body, search, search_of,"
    " search_exact) SELECT * FROM unnest(%b::text[], %b::text[], %b::int[], %b::jsonb[],"
    " %b::bool[], %b::bytea[], %b::tsvector[], %b::bytea[], %b::bool[])"
    " ON CONFLICT (id) DO NOTHING RETURNING id"
)


def _insert(tx: Tx, rows: list[EntryRow]) -> list[str]:
    """Insert the rows whose ids are free; return the ids inserted."""
    columns = [
        [row.id for row in rows],
        [row.parent for row in rows],
        [row.depth for row in rows],
        [row.data for row in rows],
        [row.data_exact for row in rows],
        [row.body for row in rows],
        [row.search for row in rows],
        [row.search_of for row in rows],
        [row.search_exact for row in rows],
    ]
    return [found[0] for found in tx.execute(_INSERT, columns).fetchall()]


def _etag(entry_id: str, body: bytes) -> str | None:
    """The ETag GET answers for a stored row; None if it cannot be read (GET fails)."""
    try:
        return entry_etag(entry_id, decode_fields(entry_id, body))
    except StorageError:
        return None


def _depth_bounds(
    entry_id: str, lowest: int, deepest: int | None
) -> tuple[sql.Composable, list[Any]]:
    """The condition "between ``lowest`` and ``deepest`` levels below ``entry_id``"."""
    base = depth_of(entry_id) if entry_id else 0
    parts: list[sql.Composable] = []
    params: list[Any] = []
    if lowest > 1:
        parts.append(sql.SQL("depth >= %s"))
        params.append(base + lowest)
    if deepest is not None:
        parts.append(sql.SQL("depth <= %s"))
        params.append(base + deepest)
    if not parts:
        return sql.SQL("true"), []
    return sql.SQL(" AND ").join(parts), params


class PostgresEntryStore:
    """EntryStore on a PostgreSQL schema (see ``flextype_core.ports.EntryStore``).

    Creates and updates take the schema's entries lock shared (updates lock their row),
    so they run side by side; moves, copies and deletes of subtrees take it exclusively
    and are one transaction each. Every write appends its change-log rows in the same
    transaction; ``version`` is the highest visible change-log position of an entry.
    Nothing is kept in memory: another server's writes are seen at once.
    """

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db
        self._lock = db.lock_key(KIND)

    # -- reads ---------------------------------------------------------------------------

    def _body(self, tx: Tx, entry_id: str, *, for_update: bool = False) -> bytes | None:
        query = sql.SQL("SELECT body FROM entries WHERE id = %s{}").format(
            sql.SQL(" FOR UPDATE") if for_update else sql.SQL("")
        )
        row = tx.execute(query, [entry_id]).fetchone()
        return None if row is None else bytes(row[0])

    def _has_descendants(self, tx: Tx, entry_id: str) -> bool:
        below, params = subtree(entry_id)
        query = sql.SQL("SELECT EXISTS (SELECT 1 FROM entries WHERE {})").format(below)
        row = tx.execute(query, params).fetchone()
        return bool(row and row[0])

    def _rows(
        self, tx: Tx, entry_id: str, lowest: int, deepest: int | None
    ) -> list[tuple[str, bytes]]:
        below, params = subtree(entry_id)
        levels, more = _depth_bounds(entry_id, lowest, deepest)
        query = sql.SQL("SELECT id, body FROM entries WHERE {} AND {} ORDER BY id").format(
            below, levels
        )
        return [(row[0], bytes(row[1])) for row in tx.execute(query, [*params, *more])]

    def get(self, entry_id: str) -> Entry:
        ticket = self._db.ticket()
        body = self._db.read(lambda tx: self._body(tx, entry_id))
        if body is None:
            raise EntryNotFound(entry_id)
        entry = Entry(id=entry_id, fields=decode_fields(entry_id, body))
        self._db.feed.remember(ticket, KIND, entry_id, body, len(body))
        return entry

    def cached(self, entry_id: str) -> Entry | None:
        """The entry as of the database's last ``refresh``, if remembered; else None.

        Remembered: this process read it since, and no change was logged for it.
        """
        body = self._db.feed.recall(KIND, entry_id)
        return None if body is None else Entry(id=entry_id, fields=decode_fields(entry_id, body))

    def exists(self, entry_id: str) -> bool:
        return self._db.read(lambda tx: self._body(tx, entry_id)) is not None

    def has_descendants(self, entry_id: str) -> bool:
        return self._db.read(lambda tx: self._has_descendants(tx, entry_id))

    @staticmethod
    def _decoded(rows: list[tuple[str, bytes]]) -> tuple[list[Entry], list[str]]:
        entries, damaged = [], []
        for entry_id, body in rows:
            try:
                entries.append(Entry(id=entry_id, fields=decode_fields(entry_id, body)))
            except StorageError:
                damaged.append(entry_id)
        return entries, damaged

    def descendants(self, entry_id: str, depth: int | None) -> list[Entry]:
        rows = self._db.read(lambda tx: self._rows(tx, entry_id, 1, depth))
        return self._decoded(rows)[0]

    def unreadable(self, entry_id: str, depth: int | None) -> list[str]:
        rows = self._db.read(lambda tx: self._rows(tx, entry_id, 1, depth))
        return self._decoded(rows)[1]

    def select(self, parent: str, query: Query) -> Selection:
        """The collection part of ``query``, pushed down to SQL (``entry_queries.select``).

        The answer is remembered (its items shared: callers must not change them) and
        given again while no entry changes: each call first reads the change log (one
        round trip), so an answer is never older than the writes committed before it.

        SQL answers where it is exact for the stored data; elsewhere it narrows the rows
        and the core's own tests and sort decide, so answers are the file drivers'.
        """
        try:
            self._db.refresh()  # begun after this call: what is remembered then is current
        except ServiceUnavailable:
            return self._select(parent, query)  # the query itself answers, or says why not
        ticket = self._db.ticket()
        key = _selection_key(parent, query)
        kept: Selection | None = self._db.feed.recall(SELECTIONS, key)
        if kept is not None:
            return kept
        found = self._select(parent, query)
        if len(found.items) <= _KEPT_ITEMS:
            size = len(_SIZE.encode(found.items))
            self._db.feed.remember(ticket, SELECTIONS, key, found, size)
        return found

    def _select(self, parent: str, query: Query) -> Selection:
        return self._db.read(
            lambda tx: entry_queries.select(
                tx.conn, parent, query, self._db.indexed_columns(tx.conn)
            )
        )

    def version(self) -> int:
        """The change-log position of the last entry change visible now (0: none yet).

        Or the purge floor, when that is higher: a purge may remove the last entry
        change, and the value must never come back to one it had before.
        """
        row = self._db.read(
            lambda tx: tx.execute(
                "SELECT greatest((SELECT coalesce(max(seq), 0) FROM changes WHERE kind = %s),"
                " (SELECT floor_seq FROM changes_meta))",
                [KIND],
            ).fetchone()
        )
        return int(row[0]) if row else 0

    def check(self) -> None:
        self._db.read(lambda tx: tx.execute("SELECT 1 FROM entries LIMIT 1").fetchall())

    # -- writes --------------------------------------------------------------------------

    def create(self, entries: Mapping[str, Fields]) -> None:
        rows = [encode_fields(entry_id, fields) for entry_id, fields in entries.items()]

        def work(tx: Tx) -> None:
            tx.lock(self._lock, shared=True)
            created = _insert(tx, rows)
            if len(created) < len(rows):
                taken = sorted(set(entries) - set(created))
                raise Conflict(f"Entry {shown(taken[0])} already exists.")
            tx.log(KIND, "create", created, etags=[entry_etag(i, entries[i]) for i in created])

        if rows:
            self._db.run(work)

    def update(self, entry_id: str, change: Callable[[Fields], Fields]) -> Entry:
        def work(tx: Tx) -> Entry:
            tx.lock(self._lock, shared=True)
            body = self._body(tx, entry_id, for_update=True)
            if body is None:
                raise EntryNotFound(entry_id)
            fields = change(decode_fields(entry_id, body))
            row = encode_fields(entry_id, fields)
            tx.execute(
                "UPDATE entries SET data = %s, data_exact = %s, body = %s, search = %s::tsvector,"
                " search_of = %s, search_exact = %s WHERE id = %s",
                [
                    row.data,
                    row.data_exact,
                    row.body,
                    row.search,
                    row.search_of,
                    row.search_exact,
                    entry_id,
                ],
            )
            tx.log(KIND, "update", [entry_id], etags=[entry_etag(entry_id, fields)])
            return Entry(id=entry_id, fields=fields)

        return self._db.run(work)

    def _current(self, tx: Tx, entry_id: str, *, decode: bool) -> Entry:
        body = self._body(tx, entry_id)
        if body is None:
            raise EntryNotFound(entry_id)
        return Entry(id=entry_id, fields=decode_fields(entry_id, body) if decode else {})

    def _check_free(self, tx: Tx, new_id: str) -> None:
        if self._body(tx, new_id) is not None or self._has_descendants(tx, new_id):
            raise Conflict(f"Entry {shown(new_id)} already exists.")

    def move(
        self, entry_id: str, new_id: str, *, expect: Callable[[Entry], None] | None = None
    ) -> None:
        def work(tx: Tx) -> None:
            tx.lock(self._lock, shared=False)
            entry = self._current(tx, entry_id, decode=expect is not None)
            self._check_free(tx, new_id)
            if expect is not None:
                expect(entry)
            below, params = subtree(entry_id)
            cut = len(entry_id) + 1  # substr() counts characters from 1, as len() does
            moved = tx.execute(
                sql.SQL(
                    "UPDATE entries SET id = %s || substr(id, %s),"
                    " parent = CASE WHEN id = %s THEN %s ELSE %s || substr(parent, %s) END,"
                    " depth = depth + %s WHERE id = %s OR ({}) RETURNING id, body"
                ).format(below),
                [
                    new_id,
                    cut,
                    entry_id,
                    parent_of(new_id),
                    new_id,
                    cut,
                    depth_of(new_id) - depth_of(entry_id),
                    entry_id,
                    *params,
                ],
            ).fetchall()
            moved.sort()
            tx.log(
                KIND,
                "move",
                [row[0] for row in moved],
                from_ids=[entry_id + row[0][len(new_id) :] for row in moved],
                etags=[_etag(row[0], bytes(row[1])) for row in moved],
            )

        self._db.run(work)

    def copy(
        self,
        entry_id: str,
        new_id: str,
        renew: Callable[[Fields], Fields],
        *,
        expect: Callable[[Entry], None] | None = None,
    ) -> Entry:
        def work(tx: Tx) -> Entry:
            tx.lock(self._lock, shared=False)
            root = self._current(tx, entry_id, decode=True)
            originals = [root] + [
                Entry(id=i, fields=decode_fields(i, body))
                for i, body in self._rows(tx, entry_id, 1, None)
            ]
            self._check_free(tx, new_id)
            if expect is not None:
                expect(root)
            copies = {new_id + e.id[len(entry_id) :]: renew(e.fields) for e in originals}
            rows = [encode_fields(copy_id, fields) for copy_id, fields in copies.items()]
            if len(_insert(tx, rows)) < len(rows):  # cannot happen: the target is free
                raise Conflict(f"Entry {shown(new_id)} already exists.")
            tx.log(
                KIND,
                "copy",
                list(copies),
                from_ids=[e.id for e in originals],
                etags=[entry_etag(i, fields) for i, fields in copies.items()],
            )
            return Entry(id=new_id, fields=copies[new_id])

        return self._db.run(work)

    def delete(
        self, entry_id: str, *, expect: Callable[[Entry | None], None] | None = None
    ) -> None:
        def work(tx: Tx) -> None:
            tx.lock(self._lock, shared=False)
            body = self._body(tx, entry_id)
            if body is None and not self._has_descendants(tx, entry_id):
                raise EntryNotFound(entry_id)
            if expect is not None:
                current = None if body is None else decode_fields(entry_id, body)
                expect(None if current is None else Entry(id=entry_id, fields=current))
            below, params = subtree(entry_id)
            deleted = tx.execute(
                sql.SQL("DELETE FROM entries WHERE id = %s OR ({}) RETURNING id").format(below),
                [entry_id, *params],
            ).fetchall()
            tx.log(KIND, "delete", sorted(row[0] for row in deleted))

        self._db.run(work)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[object]:
        with self._db.exclusive(KIND) as tx:
            yield tx
