"""``SecretStore`` on PostgreSQL: the ``secrets`` table (migration 0007), one row a secret."""

from __future__ import annotations

import secrets
import threading

from flextype_adapters.postgres.database import PostgresDatabase, Tx

__all__ = ["PostgresSecretStore"]


class PostgresSecretStore:
    """Secrets shared by every server on the schema; each read once per process."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._known: dict[str, bytes] = {}

    def secret(self, name: str) -> bytes:
        """Return the secret ``name``: 32 random bytes made on first use and kept."""
        with self._lock:
            known = self._known.get(name)
            if known is None:
                known = self._known[name] = self._db.run(lambda tx: _read_or_make(tx, name))
            return known


def _read_or_make(tx: Tx, name: str) -> bytes:
    # Whoever inserts first wins; everyone then reads the row that won.
    tx.execute(
        "INSERT INTO secrets (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
        [name, secrets.token_bytes(32)],
    )
    row = tx.execute("SELECT value FROM secrets WHERE name = %s", [name]).fetchone()
    if row is None:  # pragma: no cover - the insert or another's made it
        raise AssertionError("the secrets row vanished")
    return bytes(row[0])
