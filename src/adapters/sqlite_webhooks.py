"""Webhooks of a project on files (yaml, tinydb): one SQLite file, shared by its processes.

``<project>/webhooks.sqlite3`` (mode 0600: it holds the signing secrets) keeps the
webhooks, their secrets, their progress through the change feed and their delivery
logs. Every server worker and command of the project opens it at once: SQLite's WAL
lets readers go on while one writer commits, ``BEGIN IMMEDIATE`` makes each
read-change-write one step, and ``synchronous=FULL`` makes each commit durable before
it returns. ``hold`` is an ``flock`` on a lock file per webhook, beside the database.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

from flextype_adapters.file_lock import try_hold
from flextype_adapters.sqlite_busy import retry_busy
from flextype_adapters.webhook_rows import ENCODER, delivery_of, progress_of, webhook_of
from flextype_core.errors import (
    Conflict,
    ServiceUnavailable,
    StorageError,
    WebhookNotFound,
    shown,
)
from flextype_core.webhook_port import Delivery, Hold, Progress, Webhook

__all__ = ["DATABASE_FILE", "DATABASE_FILES", "KEPT_DELIVERIES", "SqliteWebhookStore"]

DATABASE_FILE: Final = "webhooks.sqlite3"
DATABASE_FILES: Final = (DATABASE_FILE, f"{DATABASE_FILE}-wal", f"{DATABASE_FILE}-shm")
"""The database and SQLite's companions of it (WAL mode): they move or go together."""
KEPT_DELIVERIES: Final = 100
"""Attempts kept in each webhook's delivery log."""
BUSY_TIMEOUT: Final = 30.0
"""Seconds a write waits for another process's write to end before it answers 503."""
_SCHEMA_VERSION: Final = 1

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS webhooks ("
    " id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, body BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS webhook_secrets ("
    " id TEXT PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE, secret TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS webhook_progress ("
    " id TEXT PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE,"
    " position INTEGER NOT NULL, attempt INTEGER NOT NULL, next_at REAL,"
    " generation INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS webhook_deliveries ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " webhook TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE, body BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_by_webhook ON webhook_deliveries (webhook, seq)",
)


@contextlib.contextmanager
def _mapped() -> Iterator[None]:
    """Turn SQLite's failures into domain errors, naming no path."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise ServiceUnavailable(
                "The webhook store is busy with another process's write. Try again.",
                retry_after=1,
            ) from exc
        raise _storage_error(exc) from exc
    except sqlite3.Error as exc:
        raise _storage_error(exc) from exc
    except OSError as exc:
        raise StorageError(
            f"The webhook store cannot be opened ({exc.strerror or type(exc).__name__})."
        ) from exc


def _storage_error(exc: sqlite3.Error) -> StorageError:
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    return StorageError(f"The webhook store refused an operation ({name}).")


class SqliteWebhookStore:
    """WebhookStore in one SQLite file (see ``flextype_core.webhook_port.WebhookStore``).

    Args:
        path: the database file, created (0600) on first use.
        locks: the folder of the per-webhook lock files of ``hold``; by default
            ``.<file name>.locks`` beside the database.
    """

    def __init__(self, path: Path, locks: Path | None = None) -> None:
        self._path = path
        self._locks = locks if locks is not None else path.with_name(f".{path.name}.locks")
        self._idle: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._ready = False

    def __repr__(self) -> str:
        return "SqliteWebhookStore()"  # never the path: reprs end up in messages

    # -- connections ---------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        if not self._path.exists():
            # Created private before SQLite opens it: its -wal and -shm files take the
            # database's mode, and the secrets are never readable by others.
            os.close(os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600))
        conn = sqlite3.connect(
            self._path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        try:
            retry_busy(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchall(), BUSY_TIMEOUT)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            if not self._ready:
                self._create_schema(conn)
                self._ready = True
        except BaseException:
            conn.close()
            raise
        return conn

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection of this store's own (one per concurrent caller, kept for reuse)."""
        with self._guard:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._open()
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            with self._guard:
                self._idle.append(conn)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (``BEGIN IMMEDIATE``): read-change-write."""
        with _mapped(), self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: a snapshot for the statements of the block."""
        with _mapped(), self._connection() as conn:
            conn.execute("BEGIN")
            yield conn
            conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connections kept (a later call opens new ones)."""
        with self._guard:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- webhooks ------------------------------------------------------------------------

    def create(self, hook: Webhook, secret: str, progress: Progress) -> None:
        with self._write() as conn:
            try:
                conn.execute(
                    "INSERT INTO webhooks (id, created_at, body) VALUES (?, ?, ?)",
                    (hook.id, hook.created_at, ENCODER.encode(hook)),
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"Webhook {shown(hook.id)} already exists.") from exc
            conn.execute(
                "INSERT INTO webhook_secrets (id, secret) VALUES (?, ?)", (hook.id, secret)
            )
            conn.execute(
                "INSERT INTO webhook_progress (id, position, attempt, next_at, generation)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    hook.id,
                    progress.position,
                    progress.attempt,
                    progress.next_at,
                    progress.generation,
                ),
            )

    def get(self, webhook_id: str) -> Webhook:
        with _mapped(), self._connection() as conn:
            row = conn.execute("SELECT body FROM webhooks WHERE id = ?", (webhook_id,)).fetchone()
        if row is None:
            raise WebhookNotFound(webhook_id)
        return webhook_of(webhook_id, row[0])

    def all(self) -> list[Webhook]:
        if not self._ready and not self._path.exists():
            return []  # a project that never had a webhook gets no file by being read
        with _mapped(), self._connection() as conn:
            rows = conn.execute("SELECT id, body FROM webhooks ORDER BY created_at, id").fetchall()
        return [webhook_of(webhook_id, body) for webhook_id, body in rows]

    def update(self, webhook_id: str, change: Callable[[Webhook], Webhook]) -> Webhook:
        with self._write() as conn:
            row = conn.execute("SELECT body FROM webhooks WHERE id = ?", (webhook_id,)).fetchone()
            if row is None:
                raise WebhookNotFound(webhook_id)
            hook = change(webhook_of(webhook_id, row[0]))
            conn.execute(
                "UPDATE webhooks SET body = ?, created_at = ? WHERE id = ?",
                (ENCODER.encode(hook), hook.created_at, webhook_id),
            )
        return hook

    def delete(self, webhook_id: str) -> None:
        with self._write() as conn:
            gone = conn.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,)).rowcount
            if not gone:
                raise WebhookNotFound(webhook_id)
        with contextlib.suppress(OSError):  # its holder sees the hold lost (_FileHold)
            self._lock_file(webhook_id).unlink()

    def secret(self, webhook_id: str) -> str:
        with _mapped(), self._connection() as conn:
            row = conn.execute(
                "SELECT secret FROM webhook_secrets WHERE id = ?", (webhook_id,)
            ).fetchone()
        if row is None:
            raise WebhookNotFound(webhook_id)
        return str(row[0])

    # -- progress ------------------------------------------------------------------------

    def progress(self, webhook_id: str) -> Progress:
        with _mapped(), self._connection() as conn:
            row = conn.execute(
                "SELECT position, attempt, next_at, generation FROM webhook_progress WHERE id = ?",
                (webhook_id,),
            ).fetchone()
        if row is None:
            raise WebhookNotFound(webhook_id)
        return progress_of(row)

    def all_progress(self) -> dict[str, Progress]:
        if not self._ready and not self._path.exists():
            return {}  # as ``all``: reading creates no file
        with _mapped(), self._connection() as conn:
            rows = conn.execute(
                "SELECT id, position, attempt, next_at, generation FROM webhook_progress"
            ).fetchall()
        return {row[0]: progress_of(row[1:]) for row in rows}

    def save_progress(self, webhook_id: str, progress: Progress) -> bool:
        with self._write() as conn:
            saved = conn.execute(
                "UPDATE webhook_progress SET position = ?, attempt = ?, next_at = ?"
                " WHERE id = ? AND generation = ? AND position <= ?",
                (
                    progress.position,
                    progress.attempt,
                    progress.next_at,
                    webhook_id,
                    progress.generation,
                    progress.position,
                ),
            ).rowcount
        return saved == 1

    def replay(self, webhook_id: str, position: int) -> Progress:
        with self._write() as conn:
            row = conn.execute(
                "UPDATE webhook_progress SET position = ?, attempt = 0, next_at = NULL,"
                " generation = generation + 1 WHERE id = ?"
                " RETURNING position, attempt, next_at, generation",
                (position, webhook_id),
            ).fetchone()
            if row is None:
                raise WebhookNotFound(webhook_id)
        return progress_of(row)

    # -- the delivery log ----------------------------------------------------------------

    def record(self, webhook_id: str, delivery: Delivery) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO webhook_deliveries (webhook, body)"
                " SELECT ?, ? WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = ?)",
                (webhook_id, ENCODER.encode(delivery), webhook_id),
            )
            conn.execute(
                "DELETE FROM webhook_deliveries WHERE webhook = ? AND seq <= ("
                " SELECT seq FROM webhook_deliveries WHERE webhook = ?"
                " ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                (webhook_id, webhook_id, KEPT_DELIVERIES),
            )

    def deliveries(self, webhook_id: str) -> list[Delivery]:
        with self._read() as conn:
            if (
                conn.execute("SELECT 1 FROM webhooks WHERE id = ?", (webhook_id,)).fetchone()
                is None
            ):
                raise WebhookNotFound(webhook_id)
            rows = conn.execute(
                "SELECT body FROM webhook_deliveries WHERE webhook = ? ORDER BY seq DESC LIMIT ?",
                (webhook_id, KEPT_DELIVERIES),
            ).fetchall()
        return [delivery_of(webhook_id, body) for (body,) in rows]

    # -- the one deliverer ---------------------------------------------------------------

    def _lock_file(self, webhook_id: str) -> Path:
        # Hashed: whatever the id holds, the name is a plain file name in the folder.
        return self._locks / (hashlib.sha256(webhook_id.encode()).hexdigest()[:40] + ".lock")

    @contextlib.contextmanager
    def hold(self, webhook_id: str) -> Iterator[Hold | None]:
        with contextlib.ExitStack() as stack:
            with _mapped():
                fd = stack.enter_context(try_hold(self._lock_file(webhook_id)))
            yield None if fd is None else _FileHold(fd)


class _FileHold:
    """An ``flock`` lives as long as its open file; it is lost only with the file's name.

    ``delete`` removes the lock file: a webhook created again with the id (an import)
    gets a new file another process may lock, so this one must stop delivering.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def kept(self) -> bool:
        try:
            return os.fstat(self._fd).st_nlink > 0
        except OSError:
            return False
