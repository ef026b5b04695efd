"""One PostgreSQL transaction of a store: its connection, and the change-log rows it appends."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, LiteralString, NamedTuple, TypeVar

import psycopg
from psycopg import sql
from psycopg.abc import Params

__all__ = ["Logged", "Tx"]

T = TypeVar("T")
Query = LiteralString | bytes | sql.SQL | sql.Composed


class Logged(NamedTuple):
    """One change-log row a transaction will append (the table ``changes``)."""

    kind: str
    id: str
    op: str
    from_id: str | None
    etag: str | None


# The lock and the rows in one statement: the lock is held until the commit, so every
# round trip it costs is time all other writers wait. The CTEs run in order (each
# MATERIALIZED one reads the one before): the lock first, then the date, taken while
# holding it (so dates grow with positions), then the rows, numbered (their positions
# drawn) in order. With synchronous_commit off, a commit is visible before it is on
# disk: this transaction's is made durable first ('local'), for a reader must never
# list a change a crash can take back.
_APPEND = (
    "WITH held AS MATERIALIZED (SELECT pg_advisory_xact_lock(hashtextextended(%b, 0)),"
    "  CASE WHEN current_setting('synchronous_commit') = 'off'"
    "  THEN set_config('synchronous_commit', 'local', true) END),"
    " dated AS MATERIALIZED (SELECT clock_timestamp() AS t FROM held)"
    " INSERT INTO changes (kind, id, op, from_id, etag, at) SELECT k, i, o, f, e, dated.t"
    " FROM dated, unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[])"
    " WITH ORDINALITY AS c(k, i, o, f, e, n) ORDER BY n"
)


class Tx:
    """One transaction: its connection and the change-log rows it will append.

    Change rows are appended by ``flush``, the last step before the commit, under the
    schema's change-log lock: so change-log positions are taken in commit order, and
    the highest visible position never passes a change still uncommitted (PostgreSQL
    makes a commit visible before it releases the transaction's locks, so the next
    writer draws its positions only once this one's rows can be read).
    """

    def __init__(self, conn: psycopg.Connection[Any], log_lock: str) -> None:
        self.conn = conn
        self._log_lock = log_lock
        self._pending: list[Logged] = []
        self._renewed: set[tuple[str, str]] = set()
        self.logged: list[tuple[str, str]] = []
        """(kind, id) of the rows the changes appended by ``flush`` touched, that this
        process must forget at the commit (a move's old id too; all but those logged
        with ``renewed``)."""
        self._after: list[Callable[[], None]] = []

    def execute(self, query: Query, params: Params | None = None) -> psycopg.Cursor[Any]:
        """Execute one statement, results in the binary protocol."""
        return self.conn.execute(query, params, binary=True)

    def lock(self, key: str, *, shared: bool) -> None:
        """Take the transaction-level advisory lock hashed from ``key``."""
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        self.conn.execute(
            sql.SQL("SELECT {}(hashtextextended(%s, 0))").format(sql.Identifier(function)),
            [key],
        )

    def log(
        self,
        kind: str,
        op: str,
        ids: Iterable[str],
        *,
        from_ids: Sequence[str | None] | None = None,
        etags: Sequence[str | None] | None = None,
        renewed: bool = False,
    ) -> None:
        """Record a change of each of ``ids`` (appended to ``changes`` at the commit).

        ``from_ids``: for a move, the old id of each (for a copy, its source); ``etags``:
        the ETag of each as GET answers it after the write. Both in the order of ``ids``.
        ``renewed``: what this process remembers of these rows may stay until the next
        refresh of the feed, which reads them anew (token counts: what a token allows
        stays the same, and every request refreshes before its lookups).
        """
        listed = list(ids)
        froms = [None] * len(listed) if from_ids is None else list(from_ids)
        tags = [None] * len(listed) if etags is None else list(etags)
        if not len(froms) == len(tags) == len(listed):
            raise ValueError("Tx.log: from_ids and etags must match ids one for one")
        self._pending.extend(
            Logged(kind, entry_id, op, from_id, etag)
            for entry_id, from_id, etag in zip(listed, froms, tags, strict=True)
        )
        if renewed:
            self._renewed.update((kind, entry_id) for entry_id in listed)

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once this transaction committed, never if it rolls back.

        In an ``exclusive`` block, after the block's commit (the outermost one): for the
        removal of what only the rows it drops still name. ``action`` should not raise:
        the commit is done.
        """
        self._after.append(action)

    def committed(self) -> None:
        """Run the ``after_commit`` actions, in order (the transaction has committed)."""
        actions, self._after = self._after, []
        for action in actions:
            action()

    def nested(self, work: Callable[[Tx], T]) -> T:
        """Run ``work`` in a savepoint; its log rows and ``after_commit`` actions go if it fails."""
        mark, after = len(self._pending), len(self._after)
        try:
            with self.conn.transaction():
                return work(self)
        except BaseException:
            del self._pending[mark:]
            del self._after[after:]
            raise

    def flush(self) -> None:
        """Append the logged changes, in order, under the change-log lock."""
        if not self._pending:
            return
        for row in self._pending:
            touched = [(row.kind, row.id)]
            if row.op == "move" and row.from_id is not None:
                touched.append((row.kind, row.from_id))
            self.logged.extend(c for c in touched if c not in self._renewed)
        columns = [list(column) for column in zip(*self._pending, strict=True)]
        self.conn.execute(_APPEND, [self._log_lock, *columns])
        self._pending.clear()
