"""The change feed's log on PostgreSQL: the ``changes`` table every store's write appends to.

Positions are the table's ``seq``, drawn under the change-log lock held to the commit
(``transaction.Tx.flush``): so they are taken in commit order, and every position below
one a reader can see is committed (or rolled back, a gap) by then. The highest visible
position is therefore safe to move a cursor to; no ``xmin`` horizon is needed. Rows of
tokens and of media folders share the log (the caches of ``feed`` follow them) but are
never shown. The log's name and purge floor are the one row of ``changes_meta``.
"""

from __future__ import annotations

from typing import Any, Final, LiteralString

from psycopg import sql

from flextype_adapters.postgres.database import PostgresDatabase, Tx
from flextype_core.changes import ALL_TYPES, ChangeType, LoggedChange, LogPage
from flextype_core.errors import StorageError

__all__ = ["KINDS", "PostgresChangeLog"]

KINDS: Final[dict[ChangeType, str]] = {"entry": "entries", "media": "media"}
"""The change-log kind of each change type of the feed."""
_TYPES: Final = {kind: change_type for change_type, kind in KINDS.items()}

_HEAD = "SELECT greatest((SELECT coalesce(max(seq), 0) FROM changes), floor_seq) FROM changes_meta"

# One statement, so one snapshot: the head, and the changes up to it. A page is one
# more row than asked for, to tell whether there are more.
_READ = (
    "WITH m AS MATERIALIZED (SELECT greatest((SELECT coalesce(max(seq), 0) FROM changes),"
    "  floor_seq) AS head FROM changes_meta)"
    " SELECT m.head, c.seq, c.op, c.kind, c.id, c.from_id, c.etag, c.at FROM m"
    " LEFT JOIN LATERAL (SELECT seq, op, kind, id, from_id, etag,"
    "  floor(extract(epoch FROM at))::bigint AS at FROM changes"
    "  WHERE seq > %(after)s AND seq <= m.head AND kind = ANY(%(kinds)s) {}"
    "  ORDER BY seq LIMIT %(rows)s) AS c ON true"
)
# At or below the prefix: the id itself, or the range ['a/', 'a0') ('0' follows '/').
_UNDER = (
    "AND (id = %(prefix)s OR (id >= %(low)s AND id < %(high)s)"
    " OR from_id = %(prefix)s OR (from_id >= %(low)s AND from_id < %(high)s))"
)
# A purge removes a run of the oldest positions, never one with a younger one before
# it: up to the first change appended at ``before`` or later (dates grow with
# positions; this holds even if the clock stepped back). The floor rises to the last
# position removed.
_PURGE = (
    "WITH cut AS MATERIALIZED (SELECT coalesce("
    "  (SELECT seq FROM changes WHERE at >= to_timestamp(%(before)s) ORDER BY seq LIMIT 1) - 1,"
    "  (SELECT max(seq) FROM changes)) AS upto),"
    " gone AS (DELETE FROM changes WHERE seq <= (SELECT upto FROM cut) RETURNING seq),"
    " raised AS (UPDATE changes_meta SET floor_seq = greatest(floor_seq, (SELECT max(seq)"
    "  FROM gone)) WHERE EXISTS (SELECT 1 FROM gone) RETURNING floor_seq)"
    " SELECT count(*) FROM gone"
)


def _no_meta() -> StorageError:
    # Migration 0004 makes the row, and nothing of flextype removes it.
    return StorageError("The change log cannot be read: its row in changes_meta was removed.")


class PostgresChangeLog:
    """ChangeLog on a project's PostgreSQL schema (see ``flextype_core.changes.ChangeLog``).

    Reads take no lock and wait for no writer: an uncommitted change is simply not
    visible yet, and no later position can be visible before it.
    """

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db
        self._epoch: str | None = None

    def epoch(self) -> str:
        # Kept once read: migration 0004 names the log and nothing of flextype renames it,
        # so every listing's X-Changes-Cursor costs one round trip (the head), not two.
        if self._epoch is None:
            self._epoch = str(self._one("SELECT epoch FROM changes_meta"))
        return self._epoch

    def head(self) -> int:
        return int(self._one(_HEAD))

    def floor(self) -> int:
        return int(self._one("SELECT floor_seq FROM changes_meta"))

    def _one(self, query: LiteralString) -> Any:
        row = self._db.read(lambda tx: tx.execute(query).fetchone())
        if row is None:
            raise _no_meta()
        return row[0]

    def read(
        self,
        after: int,
        limit: int,
        *,
        id_prefix: str | None = None,
        types: frozenset[str] = ALL_TYPES,
    ) -> LogPage:
        if limit < 1:
            raise ValueError("ChangeLog.read: limit must be at least 1")
        params: dict[str, Any] = {
            "after": after,
            "kinds": [kind for change_type, kind in KINDS.items() if change_type in types],
            "rows": limit + 1,
        }
        under = sql.SQL("")
        if id_prefix:
            under = sql.SQL(_UNDER)
            params.update(prefix=id_prefix, low=id_prefix + "/", high=id_prefix + "0")
        query = sql.SQL(_READ).format(under)
        rows = self._db.read(lambda tx: tx.execute(query, params).fetchall())
        if not rows:
            raise _no_meta()
        head = int(rows[0][0])
        found = [
            LoggedChange(
                position=int(seq),
                op=op,
                type=_TYPES[kind],
                id=change_id,
                from_id=from_id,
                etag=etag,
                at=int(at),
            )
            for _, seq, op, kind, change_id, from_id, etag, at in rows
            if seq is not None
        ]
        if len(found) > limit:
            del found[limit:]
            return LogPage(changes=found, last=found[-1].position, more=True)
        return LogPage(changes=found, last=max(head, after), more=False)

    def purge(self, before: int) -> int:
        def work(tx: Tx) -> int:
            row = tx.execute(_PURGE, {"before": before}).fetchone()
            return int(row[0]) if row else 0

        return self._db.run(work)
