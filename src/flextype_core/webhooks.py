"""WebhooksService: webhooks as a user manages them (create, change, remove, replay).

Delivering is not here: a webhook is a durable consumer of the change feed, and the
delivery worker moves its ``Progress``. This service makes webhooks with a fresh signing
secret (shown once), starting at the head of the feed; checks where they may point (the
private-network guard, after name resolution); and restarts their deliveries from a
cursor of the feed (``replay``).
"""

from __future__ import annotations

import base64
import re
from typing import Any, Final
from urllib.parse import urlsplit

import msgspec

from flextype_core import ids
from flextype_core.addresses import forbidden_reason
from flextype_core.changes import ChangeLog, parse_cursor
from flextype_core.errors import (
    BadRequest,
    InvalidId,
    ResyncRequired,
    ValidationFailed,
    shown,
)
from flextype_core.given import given_fields
from flextype_core.ports import Clock, HostResolver, IdFactory
from flextype_core.webhook_port import EVENTS, Delivery, Progress, Webhook, WebhookStore

__all__ = [
    "MAX_TITLE_LENGTH",
    "MAX_URL_LENGTH",
    "SECRET_PREFIX",
    "CreatedWebhook",
    "WebhookChanges",
    "WebhooksService",
    "parse_webhook_id",
    "stored_problem",
]

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - a prefix, not a secret
"""Standard Webhooks' prefix of a signing secret (the base64 of the key follows)."""
MAX_URL_LENGTH: Final = 2048
MAX_TITLE_LENGTH: Final = 1000
SECRET_BYTES: Final = range(24, 65)
"""How long a signing key may be (Standard Webhooks: 24 to 64 bytes); ``create`` makes 24."""

_WEBHOOK_ID = re.compile(r"[0-9a-f]{32}")
_SETTABLE_STATES: Final = ("enabled", "disabled")


class WebhookChanges(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The writable fields of a webhook, as a client sends them (all optional here)."""

    url: str | msgspec.UnsetType = msgspec.UNSET
    events: list[str] | msgspec.UnsetType = msgspec.UNSET
    id_prefix: str | msgspec.UnsetType | None = msgspec.UNSET
    title: str | msgspec.UnsetType = msgspec.UNSET
    state: str | msgspec.UnsetType = msgspec.UNSET


class CreatedWebhook(Webhook, frozen=True, kw_only=True):
    """A webhook just created, with its signing secret: the only time it is shown."""

    secret: str
    """``whsec_`` and the base64 of the key; receivers verify signatures with it."""


def parse_webhook_id(raw: object) -> str:
    """Validate a webhook id (32 lowercase hex characters, as ``create`` makes them).

    Raises:
        InvalidId: anything else.
    """
    if not isinstance(raw, str):
        raise InvalidId(f"Invalid webhook id: expected a string, got {type(raw).__name__}.")
    if not _WEBHOOK_ID.fullmatch(raw):
        raise InvalidId(f"Invalid webhook id {shown(raw)}: expected 32 characters of 0-9, a-f.")
    return raw


def _given(data: object) -> dict[str, Any]:
    """Decode client data against ``WebhookChanges``; return only the fields given."""
    return given_fields(data, WebhookChanges, "webhook data")


def _url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook's address (before resolving it); None if it can."""
    if len(url) > MAX_URL_LENGTH:
        return f"it is longer than {MAX_URL_LENGTH} characters"
    if any(c.isspace() or not c.isprintable() for c in url):
        return "it holds a space or a control character"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "it is not a URL (a bad host or port)"
    if parts.scheme.lower() not in ("http", "https"):
        return "it must start with http:// or https://"
    if "@" in parts.netloc:
        return "it must not carry a user name or password (the signature proves the sender)"
    if not parts.hostname:
        return "it names no host"
    if port == 0:
        return "port 0 is no port"
    return None


def _host_and_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    default = 443 if parts.scheme.lower() == "https" else 80
    return parts.hostname or "", parts.port or default


def _events(events: list[str]) -> tuple[list[str], str | None]:
    """The events without repeats, or why they are refused."""
    unique = list(dict.fromkeys(events))
    if not unique:
        return unique, "'events' must list at least one event (or be ['*'])"
    if "*" in unique and len(unique) > 1:
        return unique, "'*' means every event: send it alone"
    unknown = [e for e in unique if e != "*" and e not in EVENTS]
    if unknown:
        names = ", ".join(shown(e) for e in unknown)
        return unique, f"unknown events {names}: use some of {', '.join(EVENTS)}, or '*'"
    return unique, None


def _id_prefix(raw: str | None) -> tuple[str | None, str | None]:
    """The prefix (None for none), or why it is refused: an entry, folder or file id."""
    if raw is None or raw == "":
        return None, None
    try:
        return ids.parse_entry_id(raw), None
    except InvalidId:
        pass
    try:
        return ids.parse_file_id(raw), None
    except InvalidId as exc:
        return None, f"'id_prefix' is not an entry, folder or file id: {exc.message}"


def _secret_problem(secret: str) -> str | None:
    """Why ``secret`` is no ``whsec_`` signing secret; it is never quoted."""
    key = secret.removeprefix(SECRET_PREFIX)
    if key == secret:
        return "it has no valid signing secret (whsec_ and base64)"
    try:
        size = len(base64.b64decode(key, validate=True))
    except ValueError:
        return "it has no valid signing secret (whsec_ and base64)"
    if size not in SECRET_BYTES:
        return "it has no valid signing secret (a key of 24 to 64 bytes)"
    return None


def stored_problem(hook: Webhook, secret: str) -> str | None:
    """Why a webhook from outside the store (an archive) cannot be kept; None if it can.

    What ``create`` checks without resolving names (deliveries apply the private-network
    guard anyway): the id, the URL's form, the events, ``id_prefix``, the title's
    length, and the secret's form. Neither the secret nor the URL is quoted.
    """
    try:
        parse_webhook_id(hook.id)
    except InvalidId as exc:
        return f"it has a bad id: {exc.message}"
    url = _url_problem(hook.url)
    events, why = _events(hook.events)
    prefix, prefix_problem = _id_prefix(hook.id_prefix)
    for problem in (
        f"'url' is refused: {url}." if url is not None else None,
        why + "." if why is not None else None,
        "'events' lists an event twice." if events != hook.events else None,
        prefix_problem,
        "'id_prefix' is not in its normal form." if prefix != hook.id_prefix else None,
        f"'title' is longer than {MAX_TITLE_LENGTH} characters."
        if len(hook.title) > MAX_TITLE_LENGTH
        else None,
        _secret_problem(secret),
    ):
        if problem is not None:
            return problem
    return None


class WebhooksService:
    """Create, change, remove and replay webhooks; read their delivery logs.

    Args:
        store: where webhooks, their secrets, progress and delivery logs live.
        changes: the change log the webhooks consume (a new one starts at its head).
        clock: the time source.
        ids: the source of webhook ids and secrets.
        resolver: name resolution, for the private-network guard.
        allow_private_networks: allow URLs that resolve to loopback, private,
            link-local or multicast addresses (``webhooks.allow_private_networks``).
    """

    def __init__(
        self,
        store: WebhookStore,
        changes: ChangeLog,
        clock: Clock,
        ids: IdFactory,
        resolver: HostResolver,
        *,
        allow_private_networks: bool = False,
    ) -> None:
        self._store = store
        self._changes = changes
        self._clock = clock
        self._ids = ids
        self._resolver = resolver
        self._allow_private = allow_private_networks

    # -- reading -----------------------------------------------------------------------

    def fetch(self, webhook_id: object) -> Webhook:
        """Return the webhook (never its secret).

        Raises:
            InvalidId: ``webhook_id`` is not a webhook id.
            WebhookNotFound: there is none with this id.
        """
        return self._store.get(parse_webhook_id(webhook_id))

    def deliveries(self, webhook_id: object) -> list[Delivery]:
        """Return the webhook's last 100 delivery attempts, newest first.

        Raises:
            InvalidId: ``webhook_id`` is not a webhook id.
            WebhookNotFound: there is none with this id.
        """
        return self._store.deliveries(parse_webhook_id(webhook_id))

    # -- writing -----------------------------------------------------------------------

    def create(self, data: object) -> CreatedWebhook:
        """Create a webhook from ``data``; the answer holds its secret, this once.

        ``data``: ``url`` and ``events`` (required), ``id_prefix``, ``title``, ``state``
        (``enabled`` or ``disabled``). It gets the changes made after it was created.

        Raises:
            ValidationFailed: a field is missing or invalid, or the URL's host does not
                resolve or resolves to an address the guard refuses; ``details`` names
                the fields.
        """
        given = _given(data)
        missing = [name for name in ("url", "events") if name not in given]
        if missing:
            raise ValidationFailed(
                " ".join(f"'{name}' is required." for name in missing),
                details=[f"data.{name}" for name in missing],
            )
        fields = self._checked(given)
        now = self._clock.now()
        hook = Webhook(
            id=self._ids.token(),
            url=fields["url"],
            events=fields["events"],
            id_prefix=fields.get("id_prefix"),
            title=fields.get("title", ""),
            state=fields.get("state", "enabled"),
            created_at=now,
            modified_at=now,
        )
        secret = SECRET_PREFIX + base64.b64encode(self._ids.secret()).decode("ascii")
        # The head is read first: a change made meanwhile is sent (at least once), not lost.
        self._store.create(hook, secret, Progress(position=self._changes.head()))
        return CreatedWebhook(**msgspec.structs.asdict(hook), secret=secret)

    def update(self, webhook_id: object, data: object) -> Webhook:
        """Change the webhook's url, events, id_prefix, title or state; return it.

        A new URL passes the guard again. ``state`` may be set to ``enabled`` or
        ``disabled`` (``failing`` is the delivery's to set); setting ``enabled`` on a
        webhook that was not resumes its deliveries where they stopped, with no failed
        attempt counted and no retry to wait for.

        Raises:
            InvalidId: ``webhook_id`` is not a webhook id.
            WebhookNotFound: there is none with this id.
            ValidationFailed: as ``create``.
        """
        hook_id = parse_webhook_id(webhook_id)
        fields = self._checked(_given(data))
        current = self._store.get(hook_id)
        if fields.get("state") == "enabled" and current.state != "enabled":
            # A new generation, so a deliverer still holding the old attempt count
            # cannot write it back; nothing is sent while the state is not enabled yet.
            self._store.replay(hook_id, self._store.progress(hook_id).position)
        now = self._clock.now()

        def change(hook: Webhook) -> Webhook:
            return msgspec.structs.replace(hook, **fields, modified_at=now)

        return self._store.update(hook_id, change)

    def delete(self, webhook_id: object) -> None:
        """Delete the webhook, its secret, progress and delivery log.

        Raises:
            InvalidId: ``webhook_id`` is not a webhook id.
            WebhookNotFound: there is none with this id.
        """
        self._store.delete(parse_webhook_id(webhook_id))

    def replay(self, webhook_id: object, since: object) -> Webhook:
        """Restart the webhook's deliveries after the change cursor ``since``.

        ``since`` is a cursor of the change feed (``meta.next``, a change's ``cursor``),
        or ``now`` to skip every change not yet delivered. Failed attempts are forgotten.

        Raises:
            InvalidId: ``webhook_id`` is not a webhook id.
            WebhookNotFound: there is none with this id.
            BadRequest: ``since`` is not a cursor.
            ResyncRequired: ``since`` is of another change log, older than it keeps, or
                ahead of it (as the feed answers such a cursor).
        """
        hook_id = parse_webhook_id(webhook_id)
        if not isinstance(since, str):
            raise BadRequest("The parameter 'since' must be a change cursor (or 'now').")
        head = self._changes.head()
        if since == "now":
            position = head
        else:
            position = parse_cursor(since, self._changes.epoch(), self._changes.floor())
            if position > head:
                raise ResyncRequired(
                    f"The cursor {shown(since)} is ahead of the change log: it was not "
                    "issued by this one (a log restored from an older copy?)."
                )
        hook = self._store.get(hook_id)
        self._store.replay(hook_id, position)
        return hook

    # -- checks --------------------------------------------------------------------------

    def _checked(self, given: dict[str, Any]) -> dict[str, Any]:
        """Check the fields given (every problem at once); the URL last, through the guard."""
        fields = dict(given)
        problems: dict[str, str] = {}
        if "url" in fields:
            url_problem = _url_problem(fields["url"])
            if url_problem is not None:
                # Not quoted back: a refused URL may carry a password.
                problems["url"] = f"'url' is refused: {url_problem}."
        if "events" in fields:
            fields["events"], why = _events(fields["events"])
            if why is not None:
                problems["events"] = why + "."
        if "id_prefix" in fields:
            fields["id_prefix"], why = _id_prefix(fields["id_prefix"])
            if why is not None:
                problems["id_prefix"] = why
        if "title" in fields and len(fields["title"]) > MAX_TITLE_LENGTH:
            problems["title"] = f"'title' is longer than {MAX_TITLE_LENGTH} characters."
        if "state" in fields and fields["state"] not in _SETTABLE_STATES:
            problems["state"] = (
                f"'state' must be enabled or disabled, not {shown(fields['state'])} "
                "(failing is set by the delivery: set enabled to resume)."
            )
        if problems:
            raise ValidationFailed(
                " ".join(problems.values()), details=[f"data.{name}" for name in problems]
            )
        if "url" in fields:
            self._guard(fields["url"])
        return fields

    def _guard(self, url: str) -> None:
        """Refuse a URL whose host does not resolve, or resolves to a non-public address.

        Every address counts: a name resolving to one public and one private address
        could be sent to either.
        """
        host, port = _host_and_port(url)
        try:
            addresses = self._resolver.resolve(host, port)
        except OSError:
            addresses = []
        if not addresses:
            raise ValidationFailed(
                f"'url' is refused: its host {shown(host)} does not resolve.",
                details=["data.url"],
            )
        if self._allow_private:
            return
        for address in addresses:
            reason = forbidden_reason(address)
            if reason is not None:
                raise ValidationFailed(
                    f"'url' is refused: its host {shown(host)} resolves to a {reason} "
                    "address, and webhooks may only be sent to public addresses (set "
                    "webhooks.allow_private_networks: true to allow it).",
                    details=["data.url"],
                )

    def list(self) -> list[Webhook]:  # last: after the methods whose hints say ``list``
        """Return every webhook, oldest first."""
        return self._store.all()
