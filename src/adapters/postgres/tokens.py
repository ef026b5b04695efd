"""Tokens in PostgreSQL: one row each, their counts in columns that one UPDATE changes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import msgspec

from flextype_adapters.postgres.database import PostgresDatabase, Tx
from flextype_core.errors import Conflict, StorageError, TokenNotFound, shown
from flextype_core.model import CallCount, Token

__all__ = ["PostgresTokenStore"]

KIND = "tokens"
_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Token)
_COLUMNS = "body, calls, last_used_at"


def _decode(token_id: str, row: tuple[Any, ...]) -> Token:
    """The token of a row: its body, with the counts of the columns (they win)."""
    body, calls, last_used_at = row
    try:
        token = _DECODER.decode(bytes(body))
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageError(f"Token {shown(token_id)} cannot be read: damaged row ({exc}).") from exc
    return msgspec.structs.replace(
        token, token=token_id, calls=int(calls), last_used_at=last_used_at
    )


def _columns(token: Token) -> list[Any]:
    return [token.token, _ENCODER.encode(token), token.calls, token.limit_calls, token.last_used_at]


class PostgresTokenStore:
    """TokenStore on a PostgreSQL schema (see ``flextype_core.ports.TokenStore``).

    Every write takes the schema's tokens lock shared, so ``exclusive`` holds them all
    off; rows are locked in id order. ``spend`` is one conditional UPDATE: N spends of
    a token limited to N pass, on any number of servers. Every write appends its
    change-log rows in its transaction.
    """

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db
        self._lock = db.lock_key(KIND)

    def _row(self, tx: Tx, token_id: str, *, for_update: bool = False) -> Token | None:
        query = (
            "SELECT body, calls, last_used_at FROM tokens WHERE id = %s FOR UPDATE"
            if for_update
            else "SELECT body, calls, last_used_at FROM tokens WHERE id = %s"
        )
        row = tx.execute(query, [token_id]).fetchone()
        return None if row is None else _decode(token_id, row)

    def _existing(self, tx: Tx, token_id: str) -> Token:
        token = self._row(tx, token_id, for_update=True)
        if token is None:
            raise TokenNotFound(token_id)
        return token

    def get(self, token_id: str) -> Token:
        ticket = self._db.ticket()
        row = self._db.read(
            lambda tx: tx.execute(
                "SELECT body, calls, last_used_at FROM tokens WHERE id = %s", [token_id]
            ).fetchone()
        )
        if row is None:
            raise TokenNotFound(token_id)
        token = _decode(token_id, row)
        self._db.feed.remember(ticket, KIND, token_id, row, len(row[0]))
        return token

    def cached(self, token_id: str) -> Token | None:
        """The token as of the database's last ``refresh``, if remembered; else None.

        Remembered: this process read it since, and no change was logged for it.
        """
        row = self._db.feed.recall(KIND, token_id)
        return None if row is None else _decode(token_id, row)

    def _all(self) -> tuple[list[Token], list[str]]:
        rows = self._db.read(
            lambda tx: tx.execute(
                "SELECT id, body, calls, last_used_at FROM tokens ORDER BY id"
            ).fetchall()
        )
        tokens, damaged = [], []
        for row in rows:
            try:
                tokens.append(_decode(row[0], row[1:]))
            except StorageError:
                damaged.append(row[0])
        return tokens, damaged

    def unreadable(self) -> list[str]:
        return self._all()[1]

    def list(self) -> list[Token]:  # after the methods whose hints say ``list``
        return self._all()[0]

    def check(self) -> None:
        self._db.read(lambda tx: tx.execute("SELECT 1 FROM tokens LIMIT 1").fetchall())

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[object]:
        with self._db.exclusive(KIND) as tx:
            yield tx

    def _insert(self, tx: Tx, token: Token) -> None:
        inserted = tx.execute(
            "INSERT INTO tokens (id, body, calls, limit_calls, last_used_at)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING RETURNING id",
            _columns(token),
        ).fetchone()
        if inserted is None:
            raise Conflict(f"Token {shown(token.token)} already exists.")
        tx.log(KIND, "create", [token.token])

    def create(self, token: Token) -> None:
        def work(tx: Tx) -> None:
            tx.lock(self._lock, shared=True)
            self._insert(tx, token)

        self._db.run(work)

    def update(self, token_id: str, change: Callable[[Token], Token]) -> Token:
        def work(tx: Tx) -> Token:
            tx.lock(self._lock, shared=True)
            changed = change(self._existing(tx, token_id))
            tx.execute(
                "UPDATE tokens SET body = %s, calls = %s, limit_calls = %s, last_used_at = %s"
                " WHERE id = %s",
                [*_columns(changed)[1:], token_id],
            )
            tx.log(KIND, "update", [token_id])
            return changed

        return self._db.run(work)

    def move(
        self,
        token_id: str,
        new_id: str,
        modified_at: int,
        *,
        expect: Callable[[Token], None] | None = None,
    ) -> Token:
        def work(tx: Tx) -> Token:
            tx.lock(self._lock, shared=True)
            token = self._existing(tx, token_id)
            if self._row(tx, new_id) is not None:
                raise Conflict(f"Token {shown(new_id)} already exists.")
            if expect is not None:
                expect(token)
            moved = msgspec.structs.replace(token, token=new_id, modified_at=modified_at)
            tx.execute("DELETE FROM tokens WHERE id = %s", [token_id])
            tx.log(KIND, "delete", [token_id])
            self._insert(tx, moved)
            return moved

        return self._db.run(work)

    def delete(self, token_id: str, *, expect: Callable[[Token], None] | None = None) -> None:
        def work(tx: Tx) -> None:
            tx.lock(self._lock, shared=True)
            if expect is not None:
                expect(self._existing(tx, token_id))
            gone = tx.execute("DELETE FROM tokens WHERE id = %s RETURNING id", [token_id])
            if gone.fetchone() is None:
                raise TokenNotFound(token_id)
            tx.log(KIND, "delete", [token_id])

        self._db.run(work)

    def spend(self, token_id: str, at: int) -> Token:
        def work(tx: Tx) -> Token:
            tx.lock(self._lock, shared=True)
            while True:
                row = tx.execute(
                    "UPDATE tokens SET calls = calls + 1,"
                    " last_used_at = greatest(last_used_at, %s)"
                    " WHERE id = %s AND (limit_calls = 0 OR calls < limit_calls)"
                    " RETURNING body, calls, last_used_at",
                    [at, token_id],
                ).fetchone()
                if row is not None:
                    tx.log(KIND, "update", [token_id])
                    return _decode(token_id, row)
                token = self._row(tx, token_id)
                if token is None:
                    raise TokenNotFound(token_id)
                token.spent(at)  # raises CallLimitExceeded; passes if the limit grew meanwhile

        return self._db.run(work)

    def add_calls(self, counts: Mapping[str, CallCount]) -> None:
        ordered = sorted(counts)

        def work(tx: Tx) -> None:
            tx.lock(self._lock, shared=True)
            # Rows locked in id order first: two flushes never wait on each other in a ring.
            tx.execute("SELECT id FROM tokens WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [ordered])
            counted = tx.execute(
                "UPDATE tokens AS t SET calls = t.calls + c.n,"
                " last_used_at = greatest(t.last_used_at, c.at)"
                " FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) AS c(id, n, at)"
                " WHERE t.id = c.id RETURNING t.id",
                [
                    ordered,
                    [counts[i].calls for i in ordered],
                    [counts[i].last_used_at for i in ordered],
                ],
            ).fetchall()
            # Counts only: a token remembered here stays usable until the refresh renews it.
            tx.log(KIND, "update", sorted(row[0] for row in counted), renewed=True)

        if ordered:
            self._db.run(work)
