"""The TokenStore port: persistent API tokens and their call counts.

Re-exported by ``flextype_core.ports``, where the other ports live.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Protocol

from flextype_core.model import CallCount, Token

__all__ = ["TokenStore"]


class TokenStore(Protocol):
    """Persistent tokens, addressed by validated token ids."""

    def get(self, token_id: str) -> Token:
        """Return the token.

        Raises:
            TokenNotFound: there is no such token.
            StorageError: the stored token cannot be read.
        """
        ...

    def unreadable(self) -> list[str]:
        """Return the ids of the tokens whose stored data is damaged, in code-point order."""
        ...

    def list(self) -> list[Token]:
        """Return every token, ordered by token id in code-point order.

        Tokens that cannot be read are left out (``unreadable`` names them).
        """
        ...

    def create(self, token: Token) -> None:
        """Store a new token.

        Raises:
            Conflict: a token with this id exists; nothing was written.
        """
        ...

    def update(self, token_id: str, change: Callable[[Token], Token]) -> Token:
        """Replace the token with ``change(current)`` as one step and return the result.

        ``change`` keeps the token id.

        Raises:
            TokenNotFound: there is no such token.
        """
        ...

    def move(
        self,
        token_id: str,
        new_id: str,
        modified_at: int,
        *,
        expect: Callable[[Token], None] | None = None,
    ) -> Token:
        """Give the token the id ``new_id`` (and ``modified_at``) as one step; return it.

        ``expect(current token)`` runs inside the store's lock or transaction, after the
        token is found and ``new_id`` is known to be free, before anything is written.

        Raises:
            TokenNotFound: there is no token ``token_id``.
            Conflict: a token ``new_id`` exists.
            Any error ``expect`` raises, with nothing written.
        """
        ...

    def delete(self, token_id: str, *, expect: Callable[[Token], None] | None = None) -> None:
        """Delete the token, as one step.

        Without ``expect`` the token is not read: one too damaged to read can be
        deleted. ``expect(current token)`` runs inside the store's lock or transaction,
        after the token is found, before anything is written.

        Raises:
            TokenNotFound: there is no such token.
            StorageError: the token cannot be read (only when ``expect`` is given).
            Any error ``expect`` raises, with nothing written.
        """
        ...

    def add_calls(self, counts: Mapping[str, CallCount]) -> None:
        """Add each ``counts[token_id].calls`` to the token's ``calls``, as one step.

        Counts are added to what is stored, never written over it, so several processes
        may flush their counts; ``last_used_at`` becomes the later of the stored one and
        the count's. Tokens that no longer exist are skipped.
        """
        ...

    def check(self) -> None:
        """Read the medium once, as a health check does: return if it answers.

        Raises:
            StorageError: the medium cannot be read now (the tokens folder is not a
                folder or cannot be listed, the database file is not a database).
        """
        ...

    def spend(self, token_id: str, at: int) -> Token:
        """Count one call of the token if it has calls left, as one step; return the result.

        Under the store's writers' lock (across processes) the stored token is read
        afresh; if ``limit_calls`` is set and ``calls`` has reached it, nothing is
        written, else ``calls`` grows by one and ``last_used_at`` becomes the later of
        the stored one and ``at``. So N spends of a token limited to N pass, however
        many threads and processes make them. ``limit_calls`` 0 (no limit) always passes.

        Raises:
            TokenNotFound: there is no such token.
            CallLimitExceeded: the token's calls are used up; nothing was written.
        """
        ...

    def exclusive(self) -> AbstractContextManager[object]:
        """Hold off every other writer of the tokens for a ``with`` block.

        Other threads and processes wait; the store's own calls inside the block go on
        (the lock is re-entrant). The core wraps a check and the write it guards in one
        block (``If-Match``, then the copy's create; a flush of call counts), so no other
        write comes in between; ``move`` and ``delete`` take ``expect`` instead.
        """
        ...
