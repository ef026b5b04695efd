"""Reading the change log past what a process remembers: from a thread, or an event loop.

``ChangeLogReader.refresh`` runs on a pooled connection (a worker thread waits for it);
``refresh_async`` on a connection of its own, awaited on the caller's event loop: a
server that checks the log before every batch of lookups must not pay a thread hop and
the GIL hand-offs of a busy loop for it (they made one read take 3 to 10 ms under load,
against 0.2 ms for the round trip itself). Either never waits on a lock more than
``LOCK_TIMEOUT``: only DDL (a migration) locks the log against reads, and the callers
then read the stores as they would without the feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from flextype_adapters.postgres.feed import ChangeFeed, Mark

__all__ = ["LOCK_TIMEOUT", "MOST_CHANGES", "ChangeLogReader"]

LOCK_TIMEOUT = 0.1
"""Seconds a read of the change log waits for a lock at most."""
MOST_CHANGES = 10_000
"""Past this many changes since the last read, every remembered row is forgotten."""
_RETRY = 1.0  # seconds before connecting again after a failed connect


def statement(after: int | None, most: int) -> sql.Composed:
    """The read of the log past ``after``: rows (top, floor, kind, id, moved, token row).

    ``top`` (the newest position, or the purge floor when every change was purged) and
    ``floor`` are on every row; ``moved`` is the old id of a move (its rows changed
    too), else NULL. A changed token's row comes with it (body, calls, last_used_at;
    NULL when deleted), as of the same snapshot: a token remembered here is renewed
    rather than forgotten, so a count flush (every hundred calls) does not send the next
    requests to the database. One simple-protocol query string: its statements run as
    one implicit transaction, so SET LOCAL holds for the SELECT only. The integers are
    ours.
    """
    return sql.SQL(
        "SET LOCAL lock_timeout = {};"
        " SELECT m.top, m.floor_seq, c.kind, c.id, c.moved, t.body, t.calls, t.last_used_at"
        " FROM (SELECT greatest((SELECT coalesce(max(seq), 0) FROM changes), floor_seq) AS top,"
        "  floor_seq FROM changes_meta) AS m"
        " LEFT JOIN LATERAL (SELECT seq, kind, id,"
        "  CASE WHEN op = 'move' THEN from_id END AS moved FROM changes"
        "  WHERE seq > {} AND seq <= m.top ORDER BY seq LIMIT {}) AS c ON true"
        " LEFT JOIN tokens AS t ON c.kind = 'tokens' AND t.id = c.id"
    ).format(
        sql.Literal(f"{round(LOCK_TIMEOUT * 1000)}ms"),
        sql.Literal(after or 0),
        sql.Literal(0 if after is None else most),
    )


def apply(feed: ChangeFeed, mark: Mark, rows: list[tuple[Any, ...]], most: int) -> None:
    """Advance ``feed`` by what ``statement`` read (begun at ``mark``).

    Every row is forgotten when changes past ``mark`` may have been purged (the floor
    passed it: a process idle for longer than the retention).
    """
    top, floor = int(rows[0][0]), int(rows[0][1])
    logged = [row for row in rows if row[2] is not None]
    changed = [(row[2], row[3]) for row in logged]
    changed += [(row[2], row[4]) for row in logged if row[4] is not None]
    renewed = {("tokens", row[3]): row[5:] for row in logged if row[5] is not None}
    known = mark.position is not None and mark.position >= floor and len(logged) < most
    feed.advance(mark, top, changed if known else None, renewed)


class ChangeLogReader:
    """Reads of the change log awaited on an event loop, on a connection of their own.

    One connection per event loop, opened on first use and again after a failure (not
    sooner than ``_RETRY`` seconds after a failed connect).

    Args:
        connect: opens a configured ``AsyncConnection`` (search path, statement timeout).
        unavailable: turns a driver error into the ``ServiceUnavailable`` to raise.
    """

    def __init__(
        self,
        feed: ChangeFeed,
        connect: Callable[[], Any],
        unavailable: Callable[[BaseException], Exception],
    ) -> None:
        self._feed = feed
        self._connect = connect
        self._unavailable = unavailable
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._retry_at = 0.0

    async def refresh(self, *, most: int = MOST_CHANGES) -> None:
        """Bring the feed up to the log as committed now, awaiting one round trip."""
        conn = await self._connection()
        mark = self._feed.mark()
        try:
            cursor = await conn.execute(statement(mark.position, most))
            cursor.nextset()  # past the SET's result
            rows = await cursor.fetchall()
        except psycopg.Error as exc:
            if conn.broken or conn.closed:
                self.close()
            raise self._unavailable(exc) from exc
        apply(self._feed, mark, rows, most)

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        loop = asyncio.get_running_loop()
        conn = self._conn
        if conn is not None and (self._loop is not loop or conn.broken or conn.closed):
            self.close()  # another loop's (a test's app started again), or dead
            conn = None
        if conn is None:
            if time.monotonic() < self._retry_at:
                raise self._unavailable(psycopg.OperationalError("not connected"))
            try:
                conn = await self._connect()
            except psycopg.Error as exc:
                self._retry_at = time.monotonic() + _RETRY
                raise self._unavailable(exc) from exc
            self._conn, self._loop = conn, loop
        return conn

    def close(self) -> None:
        """Drop the connection (closed at once, from any thread: no await needed)."""
        conn, self._conn, self._loop = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.pgconn.finish()
