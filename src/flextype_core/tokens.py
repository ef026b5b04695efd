"""TokensService: issue tokens, verify them for an API, and count their calls exactly."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping
from typing import Any, overload

import msgspec

from flextype_core import ids
from flextype_core.errors import (
    AccessTokenInvalid,
    BadRequest,
    CallLimitExceeded,
    InvalidId,
    TokenNotFound,
    ValidationFailed,
    shown,
)
from flextype_core.etags import check_if_match
from flextype_core.given import given_fields
from flextype_core.model import API_NAMES, CallCount, Token, TokenState
from flextype_core.ports import Clock, IdFactory, PasswordHasher, TokenStore

__all__ = ["HASH_COST_MARGIN", "IssuedToken", "TokenChanges", "TokensService"]

HASH_COST_MARGIN = 2
"""How much costlier than its own hashes a client's hash may be (each step doubles)."""


class TokenChanges(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The writable fields of a token, as a client sends them (all optional)."""

    title: str | msgspec.UnsetType = msgspec.UNSET
    state: TokenState | msgspec.UnsetType = msgspec.UNSET
    apis: list[str] | msgspec.UnsetType = msgspec.UNSET
    limit_calls: int | msgspec.UnsetType = msgspec.UNSET
    expires_at: int | msgspec.UnsetType | None = msgspec.UNSET


class IssuedToken(msgspec.Struct, frozen=True, kw_only=True):
    """A token just created or copied, with its access token: the only time it is shown."""

    token: Token
    access_token: str

    def to_public(self) -> dict[str, Any]:
        """Return the token as the API shows it, with its access token (this once only)."""
        return {**self.token.to_public(), "access_token": self.access_token}


def _changes(data: object) -> dict[str, Any]:
    """Validate client data against ``TokenChanges``; return only the fields given."""
    given = given_fields(data, TokenChanges, "token data")
    if "apis" in given:
        unknown = [a for a in given["apis"] if a != "*" and a not in API_NAMES]
        if unknown or not given["apis"]:
            raise ValidationFailed(
                "'apis' must list some of " + ", ".join(API_NAMES) + " or be ['*'].",
                details=["data.apis"],
            )
        given["apis"] = tuple(given["apis"])
    if given.get("limit_calls", 0) < 0:
        raise ValidationFailed("'limit_calls' must be 0 or more.", details=["data.limit_calls"])
    return given


class TokensService:
    """Create, change and verify tokens; count their calls.

    A token with ``limit_calls`` is spent in the store at each call (``TokenStore.spend``:
    the check and the count in one step under the store's lock), so its limit holds
    across every worker of a project. Other tokens' calls are counted in memory and go
    to the store in batches (added, not written over) when ``flush_every`` calls are
    pending, when ``flush_interval`` seconds passed since the last flush, or when
    ``flush()`` is called (at shutdown).

    Args:
        store: where tokens live.
        hasher: hashes and verifies access tokens.
        clock: the time source.
        ids: the source of new tokens and uuids.
        flush_every: flush after this many pending calls.
        flush_interval: flush on the next call this many seconds after the last flush.
        autoflush: flush inside ``verify`` when due. A server passes False and calls
            ``flush`` from a background task when ``flush_due()``, so that no request
            waits for a write.
    """

    def __init__(
        self,
        store: TokenStore,
        hasher: PasswordHasher,
        clock: Clock,
        ids: IdFactory,
        *,
        flush_every: int = 100,
        flush_interval: int = 5,
        autoflush: bool = True,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._clock = clock
        self._ids = ids
        self._flush_every = flush_every
        self._flush_interval = flush_interval
        self._autoflush = autoflush
        # Guards the counts below. Taken last and never held across a store call, so code
        # holding a store's lock (an If-Match check run by the store, in ``exclusive``)
        # may take it.
        self._lock = threading.Lock()
        # Flushes reach the store one at a time; taken before any store lock.
        self._flush_lock = threading.RLock()
        self._pending: dict[str, int] = {}
        self._pending_last: dict[str, int] = {}
        self._inflight: dict[str, int] = {}
        self._inflight_last: dict[str, int] = {}
        self._last_flush = clock.now()
        self._flushes = 0
        # bcrypt is slow by design; remember (hash, sha256 of secret) pairs already proven.
        self._verified: set[tuple[str, str]] = set()

    # -- reading -----------------------------------------------------------------------

    def fetch(self, token_id: object) -> Token:
        """Return a token with its up-to-date call count.

        Raises:
            InvalidId: ``token_id`` is not a valid token id.
            TokenNotFound: there is no such token.
        """
        token_id = ids.parse_token_id(token_id)
        with self._flush_lock:
            return self._with_pending(self._store.get(token_id))

    def unreadable(self) -> list[str]:
        """Return the ids of the tokens ``list`` leaves out: their stored data is damaged."""
        return self._store.unreadable()

    def list(self) -> list[Token]:
        """Return every readable token, ordered by token id, with up-to-date call counts."""
        with self._flush_lock:
            return [self._with_pending(t) for t in self._store.list()]

    # -- writing -----------------------------------------------------------------------

    def create(self, data: object, token_id: object = None) -> IssuedToken:
        """Create a token from ``data`` (title, apis, limit_calls, state, expires_at).

        Args:
            data: the fields; absent ones get their defaults.
            token_id: the token's public id; None to generate 32 hex characters.

        Raises:
            InvalidId: ``token_id`` is given and not 16-64 of ``[A-Za-z0-9_-]``.
            ValidationFailed: an unknown field, a wrong type, or a past ``expires_at``.
            Conflict: a token with this id exists.
        """
        changes = _changes(data)
        now = self._clock.now()
        self._check_expiry(changes, now)
        new_id = self._ids.token() if token_id is None else ids.parse_token_id(token_id)
        access_token = self._ids.token()
        token = Token(
            token=new_id,
            hashed_access_token=self._hasher.hash(access_token),
            uuid=self._ids.uuid(),
            created_at=now,
            modified_at=now,
            **changes,
        )
        self._store.create(token)
        return IssuedToken(token=token, access_token=access_token)

    def update(self, token_id: object, data: object, *, if_match: str | None = None) -> Token:
        """Change the given fields of a token and return it.

        ``if_match`` (an ``If-Match`` header) is checked against the token as ``fetch``
        shows it, in the same step as the write; so for ``move``, ``copy`` and ``delete``.

        Raises:
            InvalidId, TokenNotFound: as for ``fetch``.
            ValidationFailed: as for ``create``.
            PreconditionFailed: ``if_match`` does not name the current token.
        """
        token_id = ids.parse_token_id(token_id)
        changes = _changes(data)
        now = self._clock.now()
        self._check_expiry(changes, now)

        def change(token: Token) -> Token:
            self._check_if_match(token, if_match)
            return msgspec.structs.replace(token, **changes, modified_at=now)

        return self._with_pending(self._store.update(token_id, change))

    def move(self, token_id: object, new_id: object, *, if_match: str | None = None) -> Token:
        """Give a token a new public id (rotation); its access token stays valid.

        Raises:
            InvalidId: either id is not a valid token id.
            TokenNotFound: there is no token ``token_id``.
            Conflict: a token ``new_id`` exists.
            PreconditionFailed: as for ``update``.
        """
        source, target = ids.parse_token_id(token_id), ids.parse_token_id(new_id)
        self.flush()  # pending calls belong to the old id
        return self._store.move(
            source, target, self._clock.now(), expect=self._if_match_check(if_match)
        )

    def copy(self, token_id: object, new_id: object, *, if_match: str | None = None) -> IssuedToken:
        """Copy a token's settings to ``new_id`` with a new access token and no calls.

        Raises:
            As ``move``.
        """
        source_id, target = ids.parse_token_id(token_id), ids.parse_token_id(new_id)
        access_token = self._ids.token()
        hashed = self._hasher.hash(access_token)  # slow by design: not under the lock
        now = self._clock.now()
        with self._store.exclusive():
            source = self._store.get(source_id)
            self._check_if_match(source, if_match)
            copy = msgspec.structs.replace(
                source,
                token=target,
                hashed_access_token=hashed,
                uuid=self._ids.uuid(),
                calls=0,
                last_used_at=None,
                created_at=now,
                modified_at=now,
            )
            self._store.create(copy)
        return IssuedToken(token=copy, access_token=access_token)

    def delete(self, token_id: object, *, if_match: str | None = None) -> None:
        """Delete a token.

        Raises:
            InvalidId, TokenNotFound: as for ``fetch``.
            PreconditionFailed: as for ``update``.
        """
        token_id = ids.parse_token_id(token_id)
        # Without If-Match the store reads nothing: a token too damaged to read can go.
        self._store.delete(token_id, expect=self._if_match_check(if_match))
        with self._lock:
            self._pending.pop(token_id, None)
            self._pending_last.pop(token_id, None)

    # -- verifying and counting --------------------------------------------------------

    def verify(self, token_id: object, access_token: object, api: str, *, write: bool) -> Token:
        """Check that a request may use ``api`` and count the call.

        Args:
            token_id: the ``token`` the request carried (None if it carried none).
            access_token: the ``access_token`` it carried (None if none).
            api: the API family, e.g. ``entries``.
            write: whether the request writes, which also requires the access token.

        Returns:
            The token, its ``calls`` including this call.

        Raises:
            AccessTokenInvalid: missing, unknown, disabled, expired, not allowed for
                ``api``, or (for a write) a missing or wrong access token.
            CallLimitExceeded: the token's ``limit_calls`` is used up; the call is not
                counted.
        """
        token, flushes_before_read, now = self._allowed(token_id, access_token, api, write)
        if token.limit_calls:
            return self._spend(token.token, now)
        return self._count(token, flushes_before_read, now)

    def verify_in_memory(
        self, token_id: object, access_token: object, api: str, *, write: bool
    ) -> Token | None:
        """``verify``, for a caller that must not wait on the store (an event loop).

        The token comes from ``TokenStore.cached``: on a database, what this process
        read before, as of the store's last refresh of the change log.

        Returns:
            As ``verify``; or None, counting nothing, when the call needs the store: the
            token is not in memory, it has ``limit_calls`` (spent in the store), or a
            flush stored counts since it was read. Then call ``verify`` where waiting is
            fine.

        Raises:
            As ``verify``, for a token found in memory (or no token given).
        """
        flushes_before_read = self._flushes
        token = self._known_token(token_id, cached=True)
        if token is None:
            return None
        now = self._check_allowed(token, access_token, api, write)
        if token.limit_calls:
            return None
        counted = self._count_call(token, flushes_before_read, now)
        if counted is None:
            return None
        return self._counted(token, counted, now)

    def _allowed(
        self, token_id: object, access_token: object, api: str, write: bool
    ) -> tuple[Token, int, int]:
        """The token if it may make this call, the flushes seen before reading it, and now.

        Raises:
            AccessTokenInvalid: as ``verify``.
        """
        flushes_before_read = self._flushes
        token = self._known_token(token_id)
        return token, flushes_before_read, self._check_allowed(token, access_token, api, write)

    def _check_allowed(self, token: Token, access_token: object, api: str, write: bool) -> int:
        """Return now if ``token`` may make this call.

        Raises:
            AccessTokenInvalid: as ``verify``.
        """
        now = self._clock.now()
        if token.state != "enabled":
            raise AccessTokenInvalid(f"Token {shown(token.token)} is disabled.", reason="disabled")
        if token.expires_at is not None and now >= token.expires_at:
            raise AccessTokenInvalid(f"Token {shown(token.token)} has expired.", reason="expired")
        if not token.allows(api):
            raise AccessTokenInvalid(
                f"Token {shown(token.token)} may not use the {api} API.", reason="scope"
            )
        if write and not self._access_token_matches(token, access_token):
            raise AccessTokenInvalid("The access token is missing or wrong.", reason="access_token")
        return now

    def _count(self, token: Token, flushes_before_read: int, now: int) -> Token:
        """Count a call of an unlimited token in memory; return the token with it counted."""
        counted = self._count_call(token, flushes_before_read, now)
        while counted is None:
            # A flush moved pending calls into the store after our read: read again, or
            # the count shown would miss what it wrote. Rare, so flushes wait meanwhile.
            with self._flush_lock:
                flushes_before_read = self._flushes
                token = self._known_token(token.token)
                counted = self._count_call(token, flushes_before_read, now)
        return self._counted(token, counted, now)

    def _counted(self, token: Token, counted: tuple[int, bool], now: int) -> Token:
        """The token with this call counted (``counted`` from ``_count_call``); flush if due."""
        pending, due = counted
        if due:
            self.flush()
        return msgspec.structs.replace(token, calls=token.calls + pending + 1, last_used_at=now)

    def _spend(self, token_id: str, now: int) -> Token:
        """Count a call of a limited token in the store, in one step with the limit check.

        Calls this process counted while the token had no limit go to the store first,
        so that they count against it.

        Raises:
            CallLimitExceeded: the token's calls are used up.
            AccessTokenInvalid: the token was deleted meanwhile.
        """
        with self._lock:
            held = token_id in self._pending or token_id in self._inflight
        if held:
            self.flush()
        try:
            spent = self._store.spend(token_id, now)
        except TokenNotFound as exc:
            raise AccessTokenInvalid("The token is not valid.") from exc
        return self._with_pending(spent)

    def _count_call(self, token: Token, flushes_seen: int, now: int) -> tuple[int, bool] | None:
        """Count a call of ``token``, read when ``flushes_seen`` flushes had stored counts.

        Returns:
            The calls pending before this one, and whether a flush is due; None, counting
            nothing, if a flush stored counts since the read.

        Raises:
            CallLimitExceeded: the token's calls are used up.
        """
        name = token.token
        with self._lock:
            if self._flushes != flushes_seen:
                return None
            pending = self._pending.get(name, 0) + self._inflight.get(name, 0)
            if token.limit_calls and token.calls + pending >= token.limit_calls:
                raise CallLimitExceeded(
                    f"Token {shown(name)} has used all {token.limit_calls} of its calls."
                )
            self._pending[name] = self._pending.get(name, 0) + 1
            self._pending_last[name] = now
            return pending, self._autoflush and self._due(now)

    def flush_due(self) -> bool:
        """Tell whether pending counts should be written now (by count or by age)."""
        with self._lock:
            return self._due(self._clock.now())

    def flush(self) -> None:
        """Add the pending call counts to the store and clear them.

        Counts being written still count against ``limit_calls``; if the write fails
        they are pending again, so none is lost.
        """
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, {}
                last, self._pending_last = self._pending_last, {}
                self._inflight, self._inflight_last = batch, last
                self._last_flush = self._clock.now()
            if not batch:
                return  # nothing stored: a token read before is still current
            counts = {t: CallCount(calls=n, last_used_at=last[t]) for t, n in batch.items()}
            try:
                # The counts leave ``_inflight`` in the same locked step as they enter the
                # store: a token read under the store's lock is never counted twice.
                with self._store.exclusive():
                    self._store.add_calls(counts)
                    with self._lock:
                        self._inflight, self._inflight_last = {}, {}
                        self._flushes += 1
            except BaseException:
                with self._lock:
                    for token_id, calls in batch.items():
                        self._pending[token_id] = self._pending.get(token_id, 0) + calls
                        self._pending_last[token_id] = max(
                            last[token_id], self._pending_last.get(token_id, 0)
                        )
                    self._inflight, self._inflight_last = {}, {}
                raise

    def _due(self, now: int) -> bool:
        if not self._pending:
            return False
        return (
            sum(self._pending.values()) >= self._flush_every
            or now - self._last_flush >= self._flush_interval
        )

    # -- helpers without a stored token ------------------------------------------------

    def generate(self) -> str:
        """Return a new random token (32 hex characters); nothing is stored."""
        return self._ids.token()

    def generate_hash(self, secret: str) -> str:
        """Return the bcrypt hash of ``secret``."""
        return self._hasher.hash(secret)

    def verify_hash(self, secret: str, hashed: str) -> bool:
        """Tell whether ``secret`` matches the bcrypt ``hashed`` (False if malformed).

        Raises:
            BadRequest: ``hashed`` costs more than ``HASH_COST_MARGIN`` above the hashes
                this service makes: checking it would take the server's time, not the
                caller's (each step of cost doubles it; 31 takes days).
        """
        cost = self._hasher.cost_of(hashed)
        if cost is None:
            return False
        most = self._hasher.cost + HASH_COST_MARGIN
        if cost > most:
            raise BadRequest(
                f"The hash's cost {cost} is over {most}, the most checked here "
                f"(hashes made here cost {self._hasher.cost})."
            )
        return self._hasher.verify(secret, hashed)

    # -- private -----------------------------------------------------------------------

    @overload
    def _known_token(self, token_id: object) -> Token: ...

    @overload
    def _known_token(self, token_id: object, *, cached: bool) -> Token | None: ...

    def _known_token(self, token_id: object, *, cached: bool = False) -> Token | None:
        """The token a request names; with ``cached``, None when not in the store's memory."""
        if token_id is None or token_id == "":
            raise AccessTokenInvalid("A token is required.", reason="missing")
        try:
            valid_id = ids.parse_token_id(token_id)
            return self._store.cached(valid_id) if cached else self._store.get(valid_id)
        except (TokenNotFound, InvalidId) as exc:
            raise AccessTokenInvalid("The token is not valid.") from exc

    def _access_token_matches(self, token: Token, access_token: object) -> bool:
        if not isinstance(access_token, str) or access_token == "":
            return False
        proof = (token.hashed_access_token, hashlib.sha256(access_token.encode()).hexdigest())
        if proof in self._verified:
            return True
        if not self._hasher.verify(access_token, token.hashed_access_token):
            return False
        self._verified.add(proof)
        return True

    def _if_match_check(self, if_match: str | None) -> Callable[[Token], None] | None:
        """The ``expect`` of a store write that checks ``if_match``; None without one."""
        if if_match is None:
            return None
        return lambda stored: self._check_if_match(stored, if_match)

    def _check_if_match(self, stored: Token, if_match: str | None) -> None:
        if if_match is not None:
            shown_now = self._with_pending(stored).to_public()
            check_if_match(if_match, shown_now, f"Token {shown(stored.token)}")

    def _with_pending(self, token: Token) -> Token:
        """The token as stored plus the calls counted here and not yet in the store.

        ``last_used_at`` is that of the latest call, so a flush (which stores exactly
        these values) does not change what a client sees, nor the token's ETag.
        """
        name = token.token
        with self._lock:
            calls = self._pending.get(name, 0) + self._inflight.get(name, 0)
            last = max(self._pending_last.get(name, 0), self._inflight_last.get(name, 0))
        return token.counted(CallCount(calls=calls, last_used_at=last)) if calls else token

    def _check_expiry(self, changes: Mapping[str, Any], now: int) -> None:
        expires_at = changes.get("expires_at")
        if expires_at is not None and expires_at <= now:
            raise ValidationFailed("'expires_at' lies in the past.", details=["data.expires_at"])
