"""TokenStore over the ``tokens`` table of a TinyDB JSON file (``<project>/db.json``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from tinydb import TinyDB

from flextype_adapters.log_limit import warn_limited
from flextype_adapters.tinydb_file import storage_errors
from flextype_adapters.tinydb_table import TinyDBTable
from flextype_core.errors import Conflict, StorageError, TokenNotFound, shown
from flextype_core.model import CallCount, Token

__all__ = ["TinyDBTokenStore"]


class TinyDBTokenStore(TinyDBTable):
    """TokenStore over the ``tokens`` table: one document per token, as its Struct fields.

    Args:
        db: the database, from ``open_tinydb``; share it with a ``TinyDBEntryStore``.
    """

    def __init__(self, db: TinyDB) -> None:
        super().__init__(db, "tokens", key="token", kind="token")

    def get(self, token_id: str) -> Token:
        with self._lock:
            docs = self._docs()
            if token_id not in docs:
                raise TokenNotFound(token_id)
            return self._decode(token_id, docs[token_id][1])

    def unreadable(self) -> list[str]:
        with self._lock:
            docs = self._docs()
            found = []
            for token_id in sorted(docs):
                try:
                    self._decode(token_id, docs[token_id][1])
                except StorageError:
                    found.append(token_id)
            return found

    def list(self) -> list[Token]:
        with self._lock:
            docs = self._docs()
            tokens = []
            for token_id in sorted(docs):
                try:
                    tokens.append(self._decode(token_id, docs[token_id][1]))
                except StorageError as exc:
                    warn_limited(
                        f"token:{self._name_of_file()}:{token_id}",
                        "%s It is left out of the token list.",
                        exc.message,
                    )
            return tokens

    def create(self, token: Token) -> None:
        with self._transaction():
            if token.token in self._docs():
                raise Conflict(f"Token '{token.token}' already exists.")
            table = self._table()
            doc_id = str(self._next_doc_id(table))
            self._write({**table, doc_id: msgspec.to_builtins(token)})

    def update(self, token_id: str, change: Callable[[Token], Token]) -> Token:
        with self._transaction():
            changed = change(self.get(token_id))
            self._put(token_id, changed)
            return changed

    def move(
        self,
        token_id: str,
        new_id: str,
        modified_at: int,
        *,
        expect: Callable[[Token], None] | None = None,
    ) -> Token:
        with self._transaction():
            token = self.get(token_id)
            if new_id in self._docs():
                raise Conflict(f"Token '{new_id}' already exists.")
            if expect is not None:
                expect(token)
            moved = msgspec.structs.replace(token, token=new_id, modified_at=modified_at)
            self._put(token_id, moved)
            return moved

    def delete(self, token_id: str, *, expect: Callable[[Token], None] | None = None) -> None:
        with self._transaction():
            docs = self._docs()
            if token_id not in docs:
                raise TokenNotFound(token_id)
            if expect is not None:
                expect(self._decode(token_id, docs[token_id][1]))
            # No decoding: a token too damaged to read can still be deleted.
            doc_id = docs[token_id][0]
            self._write({k: d for k, d in self._table().items() if k != doc_id})

    def spend(self, token_id: str, at: int) -> Token:
        with self._transaction():
            self._read_afresh()
            spent = self.get(token_id).spent(at)
            self._put(token_id, spent)
            return spent

    def add_calls(self, counts: Mapping[str, CallCount]) -> None:
        with self._transaction():
            self._read_afresh()
            docs = self._docs()
            table = dict(self._table())
            for token_id, count in counts.items():
                if token_id in docs:
                    doc_id, doc = docs[token_id]
                    token = self._decode(token_id, doc)
                    table[doc_id] = msgspec.to_builtins(token.counted(count))
            if any(token_id in docs for token_id in counts):
                self._write(table)

    def _put(self, token_id: str, token: Token) -> None:
        """Store ``token`` in the document that holds ``token_id``: one write."""
        doc_id = self._docs()[token_id][0]
        self._write({**self._table(), doc_id: msgspec.to_builtins(token)})

    def _decode(self, token_id: str, doc: Any) -> Token:
        with storage_errors(f"Token {shown(token_id)} cannot be read"):
            return msgspec.convert(doc, type=Token)
