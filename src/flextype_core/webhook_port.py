"""Webhooks: what they are, the events they take, and the WebhookStore port.

A webhook is a durable consumer of the change feed: its ``Progress`` names the last
change it has dealt with (delivered, or not meant for it), so a restart, a crash or a
second server never loses an event, and the one process that holds the webhook
(``WebhookStore.hold``) sends each event once, in feed order.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Final, Literal, Protocol

import msgspec

from flextype_core.changes import LoggedChange

__all__ = [
    "EVENTS",
    "Delivery",
    "Hold",
    "Progress",
    "Webhook",
    "WebhookState",
    "WebhookStore",
    "event_of",
]

WebhookState = Literal["enabled", "disabled", "failing"]

_PAST: Final = {
    "create": "created",
    "update": "updated",
    "move": "moved",
    "copy": "copied",
    "delete": "deleted",
}
EVENTS: Final[tuple[str, ...]] = tuple(
    f"{kind}.{past}" for kind in ("entry", "media") for past in _PAST.values()
)
"""Every event a webhook may ask for (``*`` asks for all)."""


def event_of(change: LoggedChange) -> str:
    """Return the event name of a change, e.g. ``entry.moved``."""
    return f"{change.type}.{_PAST[change.op]}"


class Webhook(msgspec.Struct, frozen=True, kw_only=True):
    """A webhook as the API shows it: never its secret."""

    id: str
    url: str
    events: list[str]
    """Event names (``EVENTS``), or ``["*"]``."""
    id_prefix: str | None = None
    """Only changes whose id (or, for a move or copy, old id) is this id or lies below it."""
    title: str = ""
    state: WebhookState = "enabled"
    """``failing``: the last retry failed; nothing is sent until PATCHed to ``enabled``."""
    created_at: int
    modified_at: int


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    """Where a webhook's deliveries stand in the change feed."""

    position: int
    """The change-log position dealt with last: the next change to send comes after it."""
    attempt: int = 0
    """Failed attempts so far at the next change (0: none failed)."""
    next_at: float | None = None
    """Unix time (seconds) before which the next attempt must not be made; None: now."""
    generation: int = 0
    """Grows whenever the position is set from outside the delivery (a replay): a
    deliverer's ``save_progress`` made from an older generation is refused."""


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """One attempt to deliver one change to one webhook, as the delivery log keeps it."""

    cursor: str
    """The change's cursor in the feed."""
    event: str
    message_id: str
    """The ``webhook-id`` header: the same for every attempt of one change."""
    attempt: int
    """1 for the first attempt."""
    status: int | None = None
    """The receiver's HTTP status; None when no answer came (``error`` says why)."""
    error: str | None = None
    duration_ms: float
    at: int
    """Unix seconds when the attempt was made."""
    next_retry_at: int | None = None
    """Unix seconds of the next attempt of this change; None when there is none."""


class Hold(Protocol):
    """This process's hold of one webhook (``WebhookStore.hold``): it is its one deliverer."""

    def kept(self) -> bool:
        """Tell whether the hold is still in force (cheap: asked before each send).

        False once it was lost while the block runs: on PostgreSQL the lock's session
        died (a database restart, an idle timeout, a proxy), on files the lock file was
        removed (the webhook deleted). Another deliverer may have the webhook then.
        """
        ...


class WebhookStore(Protocol):
    """Webhooks, their secrets, their progress through the feed and their delivery log.

    Secrets are kept so they can sign (never hashed) and leave the store only through
    ``secret``.
    """

    def create(self, hook: Webhook, secret: str, progress: Progress) -> None:
        """Keep a new webhook, its secret and where its deliveries start.

        Raises:
            Conflict: a webhook with this id exists.
        """
        ...

    def get(self, webhook_id: str) -> Webhook:
        """Return the webhook.

        Raises:
            WebhookNotFound: there is none with this id.
        """
        ...

    def all(self) -> list[Webhook]:
        """Return every webhook, oldest first (then by id)."""
        ...

    def update(self, webhook_id: str, change: Callable[[Webhook], Webhook]) -> Webhook:
        """Replace the webhook with ``change(current)`` as one step; return the result.

        Raises:
            WebhookNotFound: there is none with this id.
            Any error ``change`` raises, with nothing written.
        """
        ...

    def delete(self, webhook_id: str) -> None:
        """Remove the webhook, its secret, progress and delivery log.

        Raises:
            WebhookNotFound: there is none with this id.
        """
        ...

    def secret(self, webhook_id: str) -> str:
        """Return the webhook's signing secret (``whsec_...``).

        Raises:
            WebhookNotFound: there is none with this id.
        """
        ...

    def progress(self, webhook_id: str) -> Progress:
        """Return where the webhook's deliveries stand.

        Raises:
            WebhookNotFound: there is none with this id.
        """
        ...

    def all_progress(self) -> dict[str, Progress]:
        """Return every webhook's progress, by id, in one read (the delivery worker's look)."""
        ...

    def save_progress(self, webhook_id: str, progress: Progress) -> bool:
        """Store ``progress`` if it follows the stored one; tell whether it was stored.

        It follows when its ``generation`` is the stored one and its position is not
        behind the stored position: within a generation the position only moves forward,
        so a deliverer that lost its hold (and was overtaken) cannot move it back.
        Durable before it returns. False (nothing written) when a replay set the
        position since the deliverer read it, the position is behind, or the webhook is
        gone.
        """
        ...

    def replay(self, webhook_id: str, position: int) -> Progress:
        """Restart deliveries after ``position``: no failed attempt, a new generation.

        Raises:
            WebhookNotFound: there is none with this id.
        """
        ...

    def record(self, webhook_id: str, delivery: Delivery) -> None:
        """Append an attempt to the webhook's delivery log (the last 100 are kept)."""
        ...

    def deliveries(self, webhook_id: str) -> list[Delivery]:
        """Return the webhook's last 100 attempts, newest first.

        Raises:
            WebhookNotFound: there is none with this id.
        """
        ...

    def hold(self, webhook_id: str) -> AbstractContextManager[Hold | None]:
        """Try to become the one deliverer of this webhook for a ``with`` block.

        Yields the ``Hold`` when this process holds it (no other process or server does
        until the block ends, this process dies, or the hold is lost: see
        ``Hold.kept``), None when another holder has it. Never waits for it.
        """
        ...
