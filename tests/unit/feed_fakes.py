"""In-memory fakes of the change log and the webhook store: the reference behaviour."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from flextype_core.changes import ALL_TYPES, LoggedChange, LogPage, NewChange, matches
from flextype_core.errors import Conflict, WebhookNotFound
from flextype_core.webhook_port import Delivery, Hold, Progress, Webhook

__all__ = ["FakeChangeLog", "FakeWebhookStore"]

_EPOCHS = itertools.count(1)


class FakeChangeLog:
    """ChangeLog over a list; ``append`` is what a store calls inside its write."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._epoch = f"fake{next(_EPOCHS)}"
        self._changes: list[LoggedChange] = []
        self._next = 1
        self._floor = 0
        self._clock = clock
        self._lock = threading.Lock()

    def append(self, changes: Sequence[NewChange]) -> None:
        with self._lock:
            at = int(self._clock())
            for change in changes:
                self._changes.append(
                    LoggedChange(
                        position=self._next,
                        op=change.op,
                        type=change.type,
                        id=change.id,
                        from_id=change.from_id,
                        etag=change.etag,
                        at=at,
                    )
                )
                self._next += 1

    def epoch(self) -> str:
        return self._epoch

    def head(self) -> int:
        with self._lock:
            return self._changes[-1].position if self._changes else self._floor

    def floor(self) -> int:
        return self._floor

    def read(
        self,
        after: int,
        limit: int,
        *,
        id_prefix: str | None = None,
        types: frozenset[str] = ALL_TYPES,
    ) -> LogPage:
        with self._lock:
            head = self._changes[-1].position if self._changes else self._floor
            found: list[LoggedChange] = []
            for change in self._changes:
                if change.position <= after or not matches(change, id_prefix, types):
                    continue
                if len(found) == limit:
                    return LogPage(changes=found, last=found[-1].position, more=True)
                found.append(change)
            return LogPage(changes=found, last=max(head, after), more=False)

    def purge(self, before: int) -> int:
        with self._lock:
            # The oldest run only: up to the first change dated at or after ``before``.
            cut = next((n for n, c in enumerate(self._changes) if c.at >= before), None)
            gone = self._changes if cut is None else self._changes[:cut]
            if gone:
                self._floor = max(self._floor, gone[-1].position)
                self._changes = self._changes[len(gone) :]
            return len(gone)


class _FakeHold:
    def __init__(self) -> None:
        self.lost = False

    def kept(self) -> bool:
        return not self.lost


class FakeWebhookStore:
    """WebhookStore over dicts; ``hold`` is a per-webhook lock of this process.

    ``lose`` takes a hold away from its holder, as a database session that dies does.
    """

    def __init__(self) -> None:
        self._hooks: dict[str, Webhook] = {}
        self._secrets: dict[str, str] = {}
        self._progress: dict[str, Progress] = {}
        self._log: dict[str, list[Delivery]] = {}
        self._held: dict[str, _FakeHold] = {}
        self._lock = threading.RLock()

    def _known(self, webhook_id: str) -> None:
        if webhook_id not in self._hooks:
            raise WebhookNotFound(webhook_id)

    def create(self, hook: Webhook, secret: str, progress: Progress) -> None:
        with self._lock:
            if hook.id in self._hooks:
                raise Conflict(f"Webhook '{hook.id}' already exists.")
            self._hooks[hook.id] = hook
            self._secrets[hook.id] = secret
            self._progress[hook.id] = progress
            self._log[hook.id] = []

    def get(self, webhook_id: str) -> Webhook:
        with self._lock:
            self._known(webhook_id)
            return self._hooks[webhook_id]

    def all(self) -> list[Webhook]:
        with self._lock:
            return sorted(self._hooks.values(), key=lambda h: (h.created_at, h.id))

    def update(self, webhook_id: str, change: Callable[[Webhook], Webhook]) -> Webhook:
        with self._lock:
            self._known(webhook_id)
            hook = change(self._hooks[webhook_id])
            self._hooks[webhook_id] = hook
            return hook

    def delete(self, webhook_id: str) -> None:
        with self._lock:
            self._known(webhook_id)
            del self._hooks[webhook_id], self._secrets[webhook_id]
            del self._progress[webhook_id], self._log[webhook_id]

    def secret(self, webhook_id: str) -> str:
        with self._lock:
            self._known(webhook_id)
            return self._secrets[webhook_id]

    def progress(self, webhook_id: str) -> Progress:
        with self._lock:
            self._known(webhook_id)
            return self._progress[webhook_id]

    def all_progress(self) -> dict[str, Progress]:
        with self._lock:
            return dict(self._progress)

    def save_progress(self, webhook_id: str, progress: Progress) -> bool:
        with self._lock:
            stored = self._progress.get(webhook_id)
            if stored is None or stored.generation != progress.generation:
                return False
            if progress.position < stored.position:
                return False
            self._progress[webhook_id] = progress
            return True

    def replay(self, webhook_id: str, position: int) -> Progress:
        with self._lock:
            self._known(webhook_id)
            generation = self._progress[webhook_id].generation + 1
            progress = Progress(position=position, generation=generation)
            self._progress[webhook_id] = progress
            return progress

    def record(self, webhook_id: str, delivery: Delivery) -> None:
        with self._lock:
            if webhook_id in self._log:
                self._log[webhook_id] = [delivery, *self._log[webhook_id]][:100]

    def deliveries(self, webhook_id: str) -> list[Delivery]:
        with self._lock:
            self._known(webhook_id)
            return list(self._log[webhook_id])

    @contextlib.contextmanager
    def hold(self, webhook_id: str) -> Iterator[Hold | None]:
        with self._lock:
            if webhook_id in self._held:
                taken = None
            else:
                taken = self._held[webhook_id] = _FakeHold()
        try:
            yield taken
        finally:
            with self._lock:
                if taken is not None and self._held.get(webhook_id) is taken:
                    del self._held[webhook_id]

    def lose(self, webhook_id: str) -> None:
        """End the current hold of ``webhook_id`` without its holder knowing."""
        with self._lock:
            gone = self._held.pop(webhook_id, None)
            if gone is not None:
                gone.lost = True
