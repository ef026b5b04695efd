"""Webhooks in PostgreSQL: their rows, secrets, progress and delivery logs (migration 0005).

Every server of a project shares them; ``hold`` is a session advisory lock per webhook
on a connection of its own, so one server delivers each webhook's events and a server
that dies (its connection closes) lets another take over.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import psycopg

from flextype_adapters.postgres.database import PostgresDatabase, Tx
from flextype_adapters.webhook_rows import ENCODER, delivery_of, progress_of, webhook_of
from flextype_core.errors import (
    Conflict,
    ServiceUnavailable,
    WebhookNotFound,
    shown,
)
from flextype_core.webhook_port import Delivery, Hold, Progress, Webhook

__all__ = ["KEPT_DELIVERIES", "PostgresWebhookStore"]

KEPT_DELIVERIES = 100
"""Attempts kept in each webhook's delivery log."""


class PostgresWebhookStore:
    """WebhookStore on a PostgreSQL schema (see ``flextype_core.webhook_port.WebhookStore``).

    A read-change-write locks the webhook's row (``FOR UPDATE``); ``save_progress`` is
    one conditional UPDATE, durable at its commit.
    """

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    # -- webhooks ------------------------------------------------------------------------

    def create(self, hook: Webhook, secret: str, progress: Progress) -> None:
        def work(tx: Tx) -> None:
            inserted = tx.execute(
                "INSERT INTO webhooks (id, created_at, body) VALUES (%s, %s, %s)"
                " ON CONFLICT (id) DO NOTHING RETURNING id",
                [hook.id, hook.created_at, ENCODER.encode(hook)],
            ).fetchone()
            if inserted is None:
                raise Conflict(f"Webhook {shown(hook.id)} already exists.")
            tx.execute(
                "INSERT INTO webhook_secrets (id, secret) VALUES (%s, %s)", [hook.id, secret]
            )
            tx.execute(
                "INSERT INTO webhook_progress (id, position, attempt, next_at, generation)"
                " VALUES (%s, %s, %s, %s, %s)",
                [hook.id, progress.position, progress.attempt, progress.next_at,
                 progress.generation],
            )  # fmt: skip

        self._db.run(work)

    def get(self, webhook_id: str) -> Webhook:
        row = self._db.read(
            lambda tx: tx.execute(
                "SELECT body FROM webhooks WHERE id = %s", [webhook_id]
            ).fetchone()
        )
        if row is None:
            raise WebhookNotFound(webhook_id)
        return webhook_of(webhook_id, row[0])

    def all(self) -> list[Webhook]:
        rows = self._db.read(
            lambda tx: tx.execute(
                "SELECT id, body FROM webhooks ORDER BY created_at, id"
            ).fetchall()
        )
        return [webhook_of(webhook_id, body) for webhook_id, body in rows]

    def update(self, webhook_id: str, change: Callable[[Webhook], Webhook]) -> Webhook:
        def work(tx: Tx) -> Webhook:
            row = tx.execute(
                "SELECT body FROM webhooks WHERE id = %s FOR UPDATE", [webhook_id]
            ).fetchone()
            if row is None:
                raise WebhookNotFound(webhook_id)
            hook = change(webhook_of(webhook_id, row[0]))
            tx.execute(
                "UPDATE webhooks SET body = %s, created_at = %s WHERE id = %s",
                [ENCODER.encode(hook), hook.created_at, webhook_id],
            )
            return hook

        return self._db.run(work)

    def delete(self, webhook_id: str) -> None:
        gone = self._db.run(
            lambda tx: tx.execute(
                "DELETE FROM webhooks WHERE id = %s RETURNING id", [webhook_id]
            ).fetchone()
        )
        if gone is None:
            raise WebhookNotFound(webhook_id)

    def secret(self, webhook_id: str) -> str:
        row = self._db.read(
            lambda tx: tx.execute(
                "SELECT secret FROM webhook_secrets WHERE id = %s", [webhook_id]
            ).fetchone()
        )
        if row is None:
            raise WebhookNotFound(webhook_id)
        return str(row[0])

    # -- progress ------------------------------------------------------------------------

    def progress(self, webhook_id: str) -> Progress:
        row = self._db.read(
            lambda tx: tx.execute(
                "SELECT position, attempt, next_at, generation FROM webhook_progress WHERE id = %s",
                [webhook_id],
            ).fetchone()
        )
        if row is None:
            raise WebhookNotFound(webhook_id)
        return progress_of(row)

    def all_progress(self) -> dict[str, Progress]:
        rows = self._db.read(
            lambda tx: tx.execute(
                "SELECT id, position, attempt, next_at, generation FROM webhook_progress"
            ).fetchall()
        )
        return {str(row[0]): progress_of(row[1:]) for row in rows}

    def save_progress(self, webhook_id: str, progress: Progress) -> bool:
        saved = self._db.run(
            lambda tx: tx.execute(
                "UPDATE webhook_progress SET position = %s, attempt = %s, next_at = %s"
                " WHERE id = %s AND generation = %s AND position <= %s",
                [progress.position, progress.attempt, progress.next_at, webhook_id,
                 progress.generation, progress.position],
            ).rowcount
        )  # fmt: skip
        return saved == 1

    def replay(self, webhook_id: str, position: int) -> Progress:
        row = self._db.run(
            lambda tx: tx.execute(
                "UPDATE webhook_progress SET position = %s, attempt = 0, next_at = NULL,"
                " generation = generation + 1 WHERE id = %s"
                " RETURNING position, attempt, next_at, generation",
                [position, webhook_id],
            ).fetchone()
        )
        if row is None:
            raise WebhookNotFound(webhook_id)
        return progress_of(row)

    # -- the delivery log ----------------------------------------------------------------

    def record(self, webhook_id: str, delivery: Delivery) -> None:
        def work(tx: Tx) -> None:
            # The webhook's row, held against a delete until the commit: no orphan attempt.
            known = tx.execute(
                "SELECT 1 FROM webhooks WHERE id = %s FOR KEY SHARE", [webhook_id]
            ).fetchone()
            if known is None:
                return
            tx.execute(
                "INSERT INTO webhook_deliveries (webhook, body) VALUES (%s, %s)",
                [webhook_id, ENCODER.encode(delivery)],
            )
            tx.execute(
                "DELETE FROM webhook_deliveries WHERE webhook = %s AND seq <= ("
                " SELECT seq FROM webhook_deliveries WHERE webhook = %s"
                " ORDER BY seq DESC OFFSET %s LIMIT 1)",
                [webhook_id, webhook_id, KEPT_DELIVERIES],
            )

        self._db.run(work)

    def deliveries(self, webhook_id: str) -> list[Delivery]:
        # One statement, one snapshot: the webhook and its attempts (NULL: none yet).
        rows = self._db.read(
            lambda tx: tx.execute(
                "SELECT d.body FROM webhooks AS w LEFT JOIN LATERAL ("
                " SELECT seq, body FROM webhook_deliveries WHERE webhook = w.id"
                " ORDER BY seq DESC LIMIT %s) AS d ON true"
                " WHERE w.id = %s ORDER BY d.seq DESC",
                [KEPT_DELIVERIES, webhook_id],
            ).fetchall()
        )
        if not rows:
            raise WebhookNotFound(webhook_id)
        return [delivery_of(webhook_id, body) for (body,) in rows if body is not None]

    # -- the one deliverer ---------------------------------------------------------------

    @contextlib.contextmanager
    def hold(self, webhook_id: str) -> Iterator[Hold | None]:
        key = self._db.lock_key(f"webhook:{webhook_id}")
        with self._db.session() as conn:
            try:
                row = conn.execute(
                    "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key]
                ).fetchone()
            except psycopg.Error as exc:
                raise ServiceUnavailable(
                    "The storage is unavailable: the database cannot be reached. Try again.",
                    retry_after=1,
                ) from exc
            # Released with the session: when the block ends and the connection closes,
            # or when this process dies and the server sees its socket close.
            yield _SessionHold(conn, key) if row and row[0] else None


# pg_locks shows a bigint advisory key as its high half (classid) and low half (objid).
_STILL_HELD = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
    " AND pid = pg_backend_pid() AND granted AND objsubid = 1"
    " AND ((classid::int8 << 32) | objid::int8) = hashtextextended(%s, 0))"
)


class _SessionHold:
    """An advisory lock lives as long as its session: lost if the session dies meanwhile.

    The session sits idle between sends; a database restart, ``idle_session_timeout`` or
    a proxy can end it, releasing the lock to another server while this one delivers.
    """

    def __init__(self, conn: psycopg.Connection[Any], key: str) -> None:
        self._conn = conn
        self._key = key

    def kept(self) -> bool:
        """One round trip on the lock's own session: alive, and still holding the lock."""
        try:
            row = self._conn.execute(_STILL_HELD, [self._key]).fetchone()
        except psycopg.Error:
            return False
        return bool(row and row[0])
