"""In-memory fakes of the core's ports: the reference behaviour every adapter must match."""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from flextype_core import ids
from flextype_core.changes import NewChange
from flextype_core.errors import Conflict, EntryNotFound, StorageError, TokenNotFound
from flextype_core.model import CallCount, Entry, Selection, Token
from flextype_core.query import Collections, Query
from tests.unit.feed_fakes import FakeChangeLog

Fields = dict[str, Any]


class FakeEntryStore:
    """EntryStore over a dict of id -> fields (deep-copied in and out, like a real store).

    With ``changes``, each write appends its changes there (ops and ids as the real
    stores append them; no etags), in the same lock as the write.
    """

    def __init__(self, *, changes: FakeChangeLog | None = None) -> None:
        self._changes = changes
        self._entries: dict[str, Fields] = {}
        self._damaged: set[str] = set()
        self._lock = threading.RLock()
        self._version = 0
        self._collections = Collections(self)

    def exclusive(self) -> threading.RLock:
        return self._lock

    def check(self) -> None:
        """A dict always answers."""

    def damage(self, entry_id: str) -> None:
        """Make an existing entry unreadable, as a file broken by hand is."""
        self._damaged.add(entry_id)
        self._version += 1

    def get(self, entry_id: str) -> Entry:
        if entry_id in self._damaged and entry_id in self._entries:
            raise StorageError(f"Entry '{entry_id}' cannot be read: damaged.")
        try:
            return Entry(id=entry_id, fields=copy.deepcopy(self._entries[entry_id]))
        except KeyError:
            raise EntryNotFound(entry_id) from None

    def cached(self, entry_id: str) -> Entry | None:
        # All in memory: everything is answered from here, as a copy like ``get``.
        return self.get(entry_id) if entry_id in self._entries else None

    def exists(self, entry_id: str) -> bool:
        return entry_id in self._entries

    def has_descendants(self, entry_id: str) -> bool:
        return any(i != entry_id and ids.is_within(i, entry_id) for i in self._entries)

    def descendants(self, entry_id: str, depth: int | None) -> list[Entry]:
        found = self._below(entry_id, depth)
        return [self.get(i) for i in found if i not in self._damaged]

    def unreadable(self, entry_id: str, depth: int | None) -> list[str]:
        return [i for i in self._below(entry_id, depth) if i in self._damaged]

    def _below(self, entry_id: str, depth: int | None) -> list[str]:
        return sorted(
            i
            for i in self._entries
            if i != entry_id
            and ids.is_within(i, entry_id)
            and (depth is None or ids.child_depth(i, entry_id) <= depth)
        )

    def version(self) -> int:
        return self._version

    def create(self, entries: Mapping[str, Fields]) -> None:
        self._create(entries, [NewChange(op="create", type="entry", id=i) for i in entries])

    def _create(self, entries: Mapping[str, Fields], changes: list[NewChange]) -> None:
        with self._lock:
            self._version += 1
            taken = [i for i in entries if i in self._entries]
            if taken:
                raise Conflict(f"Entry '{taken[0]}' already exists.")
            for entry_id, fields in entries.items():
                self._entries[entry_id] = copy.deepcopy(dict(fields))
            self._log(changes)

    def _log(self, changes: list[NewChange]) -> None:
        if self._changes is not None:
            self._changes.append(changes)

    def update(self, entry_id: str, change: Callable[[Fields], Fields]) -> Entry:
        with self._lock:
            self._version += 1
            current = self.get(entry_id)
            self._entries[entry_id] = copy.deepcopy(change(current.fields))
            self._log([NewChange(op="update", type="entry", id=entry_id)])
            return self.get(entry_id)

    def select(self, parent: str, query: Query) -> Selection:
        return self._collections.select(parent, query)

    def move(
        self, entry_id: str, new_id: str, *, expect: Callable[[Entry], None] | None = None
    ) -> None:
        with self._lock:
            self._check_free(entry_id, new_id, expect)
            self._version += 1
            moved = sorted(i for i in self._entries if ids.is_within(i, entry_id))
            for old in moved:
                self._entries[ids.rebase(old, entry_id, new_id)] = self._entries.pop(old)
            self._log(
                [
                    NewChange(
                        op="move", type="entry", id=ids.rebase(old, entry_id, new_id), from_id=old
                    )
                    for old in moved
                ]
            )

    def copy(
        self,
        entry_id: str,
        new_id: str,
        renew: Callable[[Fields], Fields],
        *,
        expect: Callable[[Entry], None] | None = None,
    ) -> Entry:
        with self._lock:
            self._check_free(entry_id, new_id, expect)
            broken = self.unreadable(entry_id, None)
            if broken:
                raise StorageError(f"Entry '{broken[0]}' cannot be read: damaged.")
            copies = {
                ids.rebase(entry.id, entry_id, new_id): renew(entry.fields)
                for entry in [self.get(entry_id), *self.descendants(entry_id, None)]
            }
            self._create(
                copies,
                [
                    NewChange(
                        op="copy", type="entry", id=i, from_id=ids.rebase(i, new_id, entry_id)
                    )
                    for i in copies
                ],
            )
            return self.get(new_id)

    def _check_free(
        self, entry_id: str, new_id: str, expect: Callable[[Entry], None] | None
    ) -> None:
        if entry_id not in self._entries:
            raise EntryNotFound(entry_id)
        if new_id in self._entries or self.has_descendants(new_id):
            raise Conflict(f"Entry '{new_id}' already exists.")
        if expect is not None:
            expect(self.get(entry_id))

    def delete(
        self, entry_id: str, *, expect: Callable[[Entry | None], None] | None = None
    ) -> None:
        with self._lock:
            doomed = [i for i in self._entries if ids.is_within(i, entry_id)]
            if not doomed:
                raise EntryNotFound(entry_id)
            if expect is not None:
                expect(self.get(entry_id) if entry_id in self._entries else None)
            self._version += 1
            for i in doomed:
                del self._entries[i]
            self._log([NewChange(op="delete", type="entry", id=i) for i in sorted(doomed)])


class FakeTokenStore:
    """TokenStore over a dict of token id -> Token."""

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}
        self.damaged: set[str] = set()
        """Ids of tokens to treat as unreadable, as a file broken by hand is."""
        self._lock = threading.RLock()

    def exclusive(self) -> threading.RLock:
        return self._lock

    def check(self) -> None:
        """A dict always answers."""

    def get(self, token_id: str) -> Token:
        if token_id in self.damaged and token_id in self._tokens:
            raise StorageError(f"Token '{token_id}' cannot be read: damaged.")
        try:
            return self._tokens[token_id]
        except KeyError:
            raise TokenNotFound(token_id) from None

    def cached(self, token_id: str) -> Token | None:
        try:
            return self.get(token_id)
        except TokenNotFound:
            return None

    def unreadable(self) -> list[str]:
        return sorted(k for k in self._tokens if k in self.damaged)

    def list(self) -> list[Token]:
        return [self._tokens[k] for k in sorted(self._tokens) if k not in self.damaged]

    def create(self, token: Token) -> None:
        with self._lock:
            if token.token in self._tokens:
                raise Conflict(f"Token '{token.token}' already exists.")
            self._tokens[token.token] = token

    def update(self, token_id: str, change: Callable[[Token], Token]) -> Token:
        with self._lock:
            self._tokens[token_id] = change(self.get(token_id))
            return self._tokens[token_id]

    def move(
        self,
        token_id: str,
        new_id: str,
        modified_at: int,
        *,
        expect: Callable[[Token], None] | None = None,
    ) -> Token:
        with self._lock:
            token = self.get(token_id)
            if new_id in self._tokens:
                raise Conflict(f"Token '{new_id}' already exists.")
            if expect is not None:
                expect(token)
            del self._tokens[token_id]
            moved = msgspec.structs.replace(token, token=new_id, modified_at=modified_at)
            self._tokens[new_id] = moved
            return moved

    def delete(self, token_id: str, *, expect: Callable[[Token], None] | None = None) -> None:
        with self._lock:
            if token_id not in self._tokens:  # no read: a damaged token can be deleted
                raise TokenNotFound(token_id)
            if expect is not None:
                expect(self.get(token_id))
            del self._tokens[token_id]
            self.damaged.discard(token_id)

    def add_calls(self, counts: Mapping[str, CallCount]) -> None:
        with self._lock:
            for token_id, count in counts.items():
                if token_id in self._tokens:
                    self._tokens[token_id] = self._tokens[token_id].counted(count)

    def spend(self, token_id: str, at: int) -> Token:
        with self._lock:
            self._tokens[token_id] = self.get(token_id).spent(at)
            return self._tokens[token_id]


class FixedClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: int = 1_700_000_000) -> None:
        self.current = now

    def now(self) -> int:
        return self.current

    def advance(self, seconds: int) -> None:
        self.current += seconds


class SequenceIdFactory:
    """Predictable uuids and tokens: ``00000000-...-000000000001``, then ``...0002``."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def uuid(self) -> str:
        return f"00000000-0000-4000-8000-{next(self._counter):012d}"

    def token(self) -> str:
        return f"{next(self._counter):032x}"

    def secret(self) -> bytes:
        return next(self._counter).to_bytes(24, "big")


class FakeHasher:
    """A reversible 'hash' that keeps the bcrypt shape, so tests need no bcrypt cost."""

    cost = 4

    def cost_of(self, hashed: str) -> int | None:
        prefix = hashed[:7]
        if len(prefix) < 7 or prefix[:4] != "$2y$" or not prefix[4:6].isdecimal():
            return None
        return int(prefix[4:6])

    def hash(self, secret: str) -> str:
        return "$2y$04$fake" + secret

    def verify(self, secret: str, hashed: str) -> bool:
        return hashed == "$2y$04$fake" + secret
