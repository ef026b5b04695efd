"""Webhook deliveries, pure: what a webhook takes, what is sent, and what an attempt means.

No I/O here: the sender (``WebhookSender``) signs and posts, the dispatcher
(``flextype_core.dispatch``) reads the log and the store; this module decides the payload,
the message id, and the progress, state and delivery record that follow an attempt.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final, Protocol

import msgspec

from flextype_core.changes import ALL_TYPES, LoggedChange, format_cursor, matches
from flextype_core.webhook_port import Delivery, Progress, Webhook, WebhookState, event_of

__all__ = [
    "JITTER",
    "RETRY_AFTER_MAX",
    "Message",
    "Outcome",
    "Step",
    "WebhookSender",
    "after_attempt",
    "message_id",
    "payload",
    "read_types",
    "retry_after_seconds",
    "takes",
]

JITTER: Final = 0.1
"""Each retry waits its scheduled delay times a random factor in [1 - JITTER, 1 + JITTER],
so receivers that failed together are not all retried in the same second."""

RETRY_AFTER_MAX: Final = 86_400.0
"""The longest wait a receiver's ``Retry-After`` can ask for (seconds): a day."""


class Message(msgspec.Struct, frozen=True, kw_only=True):
    """One signed POST to make: the sender adds ``webhook-timestamp`` and the signature."""

    id: str
    """The ``webhook-id`` header (``message_id``)."""
    body: bytes
    """The JSON body (``payload``), signed byte for byte."""
    secret: str
    """The webhook's ``whsec_...`` secret."""


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """What one attempt gave: the receiver's status, or why none came."""

    status: int | None = None
    """The HTTP status of the answer; None when there was none (``error`` says why)."""
    error: str | None = None
    """Why the attempt failed without an answer (refused, timeout, connection error)."""
    retry_after: str | None = None
    """The answer's ``Retry-After`` header, as received."""
    duration_ms: float


class WebhookSender(Protocol):
    """Signs and POSTs a message to a webhook's URL, once, and tells what came of it."""

    def send(self, url: str, message: Message) -> Outcome:
        """POST ``message`` to ``url`` with the Standard Webhooks headers; never follow a redirect.

        Every failure (the URL's host resolves to an address the private-network guard
        refuses, no connection, a timeout) is an ``Outcome`` with ``error``, not an
        exception.
        """
        ...


class Step(msgspec.Struct, frozen=True, kw_only=True):
    """What follows one attempt: the webhook's new progress and state, and the record."""

    progress: Progress
    state: WebhookState | None
    """The state the webhook takes now (``disabled``, ``failing``); None: unchanged."""
    delivery: Delivery
    delivered: bool
    """The receiver accepted the change (2xx)."""


class _Data(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    from_id: str | None = None
    etag: str | None = None
    cursor: str


class _Payload(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    timestamp: str
    data: _Data


_ENCODER = msgspec.json.Encoder()


def takes(hook: Webhook, change: LoggedChange) -> bool:
    """Tell whether ``hook`` is sent ``change``: one of its events, under its ``id_prefix``."""
    wanted = "*" in hook.events or event_of(change) in hook.events
    return wanted and matches(change, hook.id_prefix, ALL_TYPES)


def read_types(hook: Webhook) -> frozenset[str]:
    """Return the change types (``entry``, ``media``) the webhook's events name."""
    if "*" in hook.events:
        return ALL_TYPES
    return frozenset(event.partition(".")[0] for event in hook.events) & ALL_TYPES


def payload(change: LoggedChange, epoch: str) -> bytes:
    """Return the JSON body sent for ``change``: thin, the same for every attempt.

    ``timestamp`` is when the change was committed (RFC 3339, UTC); ``data`` has the id,
    ``from_id`` (move and copy), ``etag`` (not for a delete) and the change's cursor.
    """
    moved = change.op in ("move", "copy")
    body = _Payload(
        type=event_of(change),
        timestamp=datetime.fromtimestamp(change.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        data=_Data(
            id=change.id,
            from_id=change.from_id if moved else None,
            etag=None if change.op == "delete" else change.etag,
            cursor=format_cursor(epoch, change.position),
        ),
    )
    return _ENCODER.encode(body)


def message_id(webhook_id: str, epoch: str, position: int) -> str:
    """Return the ``webhook-id`` of the change at ``position`` sent to ``webhook_id``.

    The same for every attempt (and a replay) of one change to one webhook, different
    for another webhook or another log; header-safe whatever the webhook's id holds.
    """
    digest = hashlib.sha256(f"{webhook_id}\n{epoch}\n{position}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Return the wait a ``Retry-After`` header asks for (seconds or an HTTP date), or None.

    A date in the past asks for no wait (0); a value that is neither is ignored (None).
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def after_attempt(
    *,
    hook: Webhook,
    progress: Progress,
    change: LoggedChange,
    epoch: str,
    message: str,
    outcome: Outcome,
    now: float,
    schedule: Sequence[float],
    rand: Callable[[], float],
) -> Step:
    """Decide what follows an attempt to deliver ``change`` to ``hook``.

    2xx: the position moves to the change, no failed attempt. 410: the webhook is
    ``disabled`` (the change stays next, for when it is enabled again). Anything else,
    or no answer: retried after ``schedule[n - 1]`` seconds (n: failed attempts so far)
    with +-``JITTER``, or after what ``Retry-After`` asks if longer (at most
    ``RETRY_AFTER_MAX``); once the schedule is used up, the webhook is ``failing`` and
    the next attempt waits until it is enabled again (with a fresh schedule).

    Args:
        hook: the webhook.
        progress: its progress before the attempt (the change is the next after it).
        change: the change attempted.
        epoch: the change log's name (for the cursor).
        message: the attempt's ``webhook-id``.
        outcome: what the attempt gave.
        now: Unix time when the attempt ended (seconds).
        schedule: ``webhooks.retry_schedule``.
        rand: a uniform random number in [0, 1) (the jitter).
    """
    attempt = progress.attempt + 1
    record = Delivery(
        cursor=format_cursor(epoch, change.position),
        event=event_of(change),
        message_id=message,
        attempt=attempt,
        status=outcome.status,
        error=outcome.error,
        duration_ms=round(outcome.duration_ms, 1),
        at=int(now - outcome.duration_ms / 1000),
    )
    status = outcome.status
    if status is not None and 200 <= status < 300:
        done = Progress(position=change.position, generation=progress.generation)
        return Step(progress=done, state=None, delivery=record, delivered=True)
    again = Progress(position=progress.position, generation=progress.generation)
    if status == 410:
        return Step(progress=again, state="disabled", delivery=record, delivered=False)
    if attempt > len(schedule):
        state: WebhookState = "failing"
        return Step(progress=again, state=state, delivery=record, delivered=False)
    wait = schedule[attempt - 1] * (1 + JITTER * (2 * rand() - 1))
    asked = retry_after_seconds(outcome.retry_after, now)
    if asked is not None:
        wait = max(wait, min(asked, RETRY_AFTER_MAX))
    retry_at = now + wait
    return Step(
        progress=msgspec.structs.replace(again, attempt=attempt, next_at=retry_at),
        state=None,
        delivery=msgspec.structs.replace(record, next_retry_at=math.ceil(retry_at)),
        delivered=False,
    )
