"""The Dispatcher: delivers one webhook's pending changes, in feed order, over the ports.

A delivery worker calls ``Dispatcher.run`` for a webhook whenever the log moved or a
retry is due; the run holds the webhook (``WebhookStore.hold``: one deliverer across
processes and servers), reads its progress, sends the changes it takes one at a time and
stores the progress after each, so a crash re-sends at most the change in flight. Before
each send it checks that it still holds the webhook and reads the webhook again, so a
lost hold, a PATCH or a delete takes effect at the next change, not the next page.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Final, Literal

import msgspec

from flextype_core.changes import ChangeLog, LogPage
from flextype_core.delivery import (
    Message,
    WebhookSender,
    after_attempt,
    message_id,
    payload,
    read_types,
    takes,
)
from flextype_core.errors import WebhookNotFound
from flextype_core.webhook_port import Hold, Progress, Webhook, WebhookState, WebhookStore

__all__ = ["PAGE_SIZE", "Dispatcher", "Run"]

PAGE_SIZE: Final = 100
"""Changes read from the log at a time."""

_Next = Literal["page done", "read again"]


class Run(msgspec.Struct, frozen=True, kw_only=True):
    """What one ``Dispatcher.run`` found, so the worker knows when to come back."""

    held: bool
    """This process held the webhook (False: another deliverer has it now)."""
    caught_up: int | None = None
    """The log position the webhook has dealt with everything up to, when the run ended
    for want of changes (nothing to do until the log's head passes it)."""
    due_at: float | None = None
    """Unix time when the next attempt is due (a retry waits)."""
    gap: int | None = None
    """The log's floor, when the webhook's progress was below it: the changes between
    were purged before they were delivered (``changes.retention_days``)."""


class Dispatcher:
    """Delivers the change feed to webhooks, at least once and in order per webhook."""

    def __init__(
        self,
        *,
        log: ChangeLog,
        store: WebhookStore,
        sender: WebhookSender,
        clock: Callable[[], float],
        schedule: Sequence[float],
        rand: Callable[[], float],
        page_size: int = PAGE_SIZE,
    ) -> None:
        """Deliver with these ports.

        Args:
            log: the change log.
            store: the webhooks, their secrets, progress and delivery log.
            sender: signs and POSTs.
            clock: Unix time in seconds (fractions too: retries may be sub-second).
            schedule: ``webhooks.retry_schedule`` (seconds before each retry).
            rand: uniform random numbers in [0, 1), for the retries' jitter.
            page_size: changes read from the log at a time.
        """
        self._log = log
        self._store = store
        self._sender = sender
        self._clock = clock
        self._schedule = tuple(schedule)
        self._rand = rand
        self._page_size = page_size

    def run(self, webhook_id: str, stop: Callable[[], bool] = lambda: False) -> Run:
        """Deliver what is due to ``webhook_id`` until it is caught up, fails, or ``stop()``.

        Does nothing (``held=False``) when another deliverer holds the webhook, and
        nothing either when it is not ``enabled``, gone, or waiting for a retry. Ends
        (``held=False``) as soon as its hold is found lost. An attempt cut short by
        ``stop()`` (a shutdown) is not recorded: the change is attempted again, as the
        first attempt it was.

        Raises:
            Whatever the store or the log raise (nothing is lost: progress is stored
            after each delivery).
        """
        with self._store.hold(webhook_id) as hold:
            if hold is None:
                return Run(held=False)
            return self._run_held(webhook_id, hold, stop)

    def _run_held(self, webhook_id: str, hold: Hold, stop: Callable[[], bool]) -> Run:
        epoch = self._log.epoch()
        gap: int | None = None
        while not stop():
            try:
                hook = self._store.get(webhook_id)
                progress = self._store.progress(webhook_id)
            except WebhookNotFound:
                break
            if hook.state != "enabled":
                break
            if progress.next_at is not None and progress.next_at > self._clock():
                return Run(held=True, due_at=progress.next_at, gap=gap)
            floor = self._log.floor()
            if progress.position < floor:
                gap = floor
            page = self._log.read(
                progress.position,
                self._page_size,
                id_prefix=hook.id_prefix,
                types=read_types(hook),
            )
            result = self._deliver(hook, progress, page, epoch, hold, stop)
            if isinstance(result, Run):
                return msgspec.structs.replace(result, gap=gap)
            if result == "page done" and not page.more:
                return Run(held=True, caught_up=page.last, gap=gap)
        return Run(held=True, gap=gap)

    def _deliver(
        self,
        hook: Webhook,
        progress: Progress,
        page: LogPage,
        epoch: str,
        hold: Hold,
        stop: Callable[[], bool],
    ) -> Run | _Next:
        """Send the page's changes that ``hook`` takes, in order, until one fails."""
        stored = progress.position
        secret: str | None = None
        for change in page.changes:
            if not takes(hook, change):
                # Dealt with: stored with the next delivery, or at the end of the page.
                progress = msgspec.structs.replace(progress, position=change.position)
                continue
            cannot = self._cannot_send(hook, hold, stop)
            if cannot is not None:
                return cannot
            if secret is None:
                secret = self._store.secret(hook.id)
            mid = message_id(hook.id, epoch, change.position)
            body = payload(change, epoch)
            outcome = self._sender.send(hook.url, Message(id=mid, body=body, secret=secret))
            step = after_attempt(
                hook=hook,
                progress=progress,
                change=change,
                epoch=epoch,
                message=mid,
                outcome=outcome,
                now=self._clock(),
                schedule=self._schedule,
                rand=self._rand,
            )
            if not step.delivered and stop():
                return Run(held=True)  # most likely our own shutdown cut it short
            self._store.record(hook.id, step.delivery)
            if not self._store.save_progress(hook.id, step.progress):
                return "read again"  # replayed (or deleted) meanwhile
            if step.state is not None:
                self._set_state(hook.id, step.state)
            if not step.delivered:
                return Run(held=True, due_at=step.progress.next_at)
            progress = step.progress
            stored = progress.position
        if page.last > stored:
            moved = msgspec.structs.replace(progress, position=page.last)
            if not self._store.save_progress(hook.id, moved):
                return "read again"
        return "page done"

    def _cannot_send(
        self, hook: Webhook, hold: Hold, stop: Callable[[], bool]
    ) -> Run | _Next | None:
        """Why the next change is not sent to ``hook`` as read; None: it is.

        A stop, a hold lost (another deliverer may have the webhook), the webhook gone or
        taken out of delivery end the run; a new URL, events or ``id_prefix`` read the
        log again from the stored position, with the webhook as it is now.
        """
        if stop():
            return Run(held=True)
        if not hold.kept():
            return Run(held=False)
        try:
            current = self._store.get(hook.id)
        except WebhookNotFound:
            return Run(held=True)
        if current.state != "enabled":
            return Run(held=True)
        if (current.url, current.events, current.id_prefix) != (
            hook.url,
            hook.events,
            hook.id_prefix,
        ):
            return "read again"
        return None

    def _set_state(self, webhook_id: str, state: WebhookState) -> None:
        """Take the webhook out of delivery, unless it was changed from ``enabled`` meanwhile."""
        now = int(self._clock())

        def change(current: Webhook) -> Webhook:
            if current.state != "enabled":
                return current
            return msgspec.structs.replace(current, state=state, modified_at=now)

        with contextlib.suppress(WebhookNotFound):
            self._store.update(webhook_id, change)
