"""The delivery worker that runs inside ``flextype serve``: the Dispatcher for every webhook.

One scheduler thread polls the log's head (every ``POLL_SECONDS``, a cheap read) and the
list of webhooks with their progress (every ``REFRESH_SECONDS``: new, re-enabled and
replayed webhooks, and those another server held), and hands each webhook that has
something to do (its position behind the head, or a retry due) to a small pool of
threads, one run at a time per webhook: a slow or failing receiver holds up only its own
webhook. An idle webhook is not run: a run takes ``WebhookStore.hold``, on PostgreSQL a
database session of its own. Every process of ``serve --workers N`` runs one;
``WebhookStore.hold`` makes one of them the deliverer of each webhook.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Final

import msgspec
from anyio import to_thread

from flextype_adapters.system import SystemResolver
from flextype_adapters.webhook_sender import HttpWebhookSender
from flextype_core.changes import ChangeLog
from flextype_core.dispatch import Dispatcher, Run
from flextype_core.errors import FlextypeError
from flextype_core.webhook_port import WebhookStore
from flextype_entrypoints.container import Container
from flextype_entrypoints.settings import WebhooksSettings

__all__ = [
    "POLL_SECONDS",
    "REFRESH_SECONDS",
    "STOP_SECONDS",
    "THREADS",
    "WebhookWorker",
    "webhook_deliveries",
    "webhook_worker",
]

POLL_SECONDS: Final = 0.1
"""How often the log's head is read: a write is sent within about this much."""
REFRESH_SECONDS: Final = 1.0
"""How often the webhooks are listed and each is looked at, whether the log moved or not."""
THREADS: Final = 8
"""Webhooks delivered at once by one process."""
STOP_SECONDS: Final = 2.0
"""The longest ``stop`` waits for the threads (requests in flight are cut first)."""
_COMPLAIN_EVERY: Final = 60.0
"""The same failure is logged again after this many seconds, not more often."""

log = logging.getLogger("flextype.webhooks")


class _Lane(msgspec.Struct, kw_only=True):
    """What the scheduler knows of one webhook between its runs."""

    busy: bool = False
    position: int
    """Its position in the log as last seen (by the listing, or its last run's end)."""
    due_at: float | None = None
    """When its waiting retry is due."""
    not_before: float = 0.0
    """No run before this (another server holds it, or its last run failed)."""
    runs: int = 0
    """Runs ended so far: a listing read before a run ended does not undo what it learnt."""


class WebhookWorker:
    """Runs ``Dispatcher.run`` for each enabled webhook whenever it has something to do."""

    def __init__(
        self,
        *,
        log: ChangeLog,
        store: WebhookStore,
        dispatcher: Dispatcher,
        threads: int = THREADS,
        poll: float = POLL_SECONDS,
        refresh: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.time,
        on_stop: Callable[[], object] | None = None,
    ) -> None:
        """Deliver with ``dispatcher`` over ``log`` and ``store``.

        Args:
            log: the change log (its head says when to look).
            store: the webhooks.
            dispatcher: delivers one webhook's pending changes.
            threads: webhooks delivered at once.
            poll: seconds between two reads of the log's head.
            refresh: seconds between two listings of the webhooks.
            clock: Unix time, the dispatcher's.
            on_stop: called first by ``stop`` (the sender's ``close``: it cuts the
                requests in flight).
        """
        self._log = log
        self._store = store
        self._dispatcher = dispatcher
        self._poll = poll
        self._refresh = refresh
        self._clock = clock
        self._on_stop = on_stop
        self._lanes: dict[str, _Lane] = {}
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._complaints: dict[str, tuple[str, float]] = {}
        # Daemon threads: a request stuck in connect() must not keep the process alive.
        self._threads = [
            threading.Thread(target=self._schedule, name="flextype-webhooks", daemon=True)
        ] + [
            threading.Thread(target=self._work, name=f"flextype-webhooks-{n}", daemon=True)
            for n in range(threads)
        ]

    def start(self) -> None:
        """Start the scheduler and the delivery threads."""
        for thread in self._threads:
            thread.start()

    @property
    def running(self) -> bool:
        """Whether any of its threads still runs."""
        return any(thread.is_alive() for thread in self._threads)

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Stop delivering: cut the requests in flight, then wait up to ``timeout`` for the threads.

        A delivery cut short is not recorded; it is sent again by the next deliverer.
        """
        self._stopping.set()
        self._wake.set()
        if self._on_stop is not None:
            self._on_stop()
        for _ in self._threads:
            self._jobs.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))

    def _schedule(self) -> None:
        next_refresh = 0.0
        while not self._stopping.is_set():
            now = self._clock()
            try:
                head = self._log.head()
                if now >= next_refresh:
                    self._sync()
                    next_refresh = now + self._refresh
            except Exception as exc:  # never let the server's worker die
                self._complain("", "reading the change log or the webhooks failed", exc)
                self._stopping.wait(self._refresh)
                continue
            self._forget("")
            wait = self._submit(head, now)
            self._wake.wait(wait)
            self._wake.clear()

    def _sync(self) -> None:
        """Follow the enabled webhooks and where each stands (a replay, a PATCH, another server).

        A run looks again at each one's state; the listing only says which have something
        to do. A webhook running, or whose run ended since the listing was read, keeps
        what its run learnt.
        """
        with self._lock:
            runs = {hook_id: lane.runs for hook_id, lane in self._lanes.items()}
        hooks = self._store.all()
        progress = self._store.all_progress()
        enabled = {hook.id for hook in hooks if hook.state == "enabled"}
        with self._lock:
            for gone in self._lanes.keys() - enabled:
                del self._lanes[gone]
            for hook_id in enabled:
                found = progress.get(hook_id)
                lane = self._lanes.get(hook_id)
                if found is None:
                    continue  # deleted between the two reads
                if lane is None:
                    self._lanes[hook_id] = _Lane(position=found.position, due_at=found.next_at)
                elif not lane.busy and lane.runs == runs.get(hook_id):
                    lane.position, lane.due_at = found.position, found.next_at

    def _submit(self, head: int, now: float) -> float:
        """Queue the webhooks that have something to do; return the seconds until the next look.

        Something to do: its position is behind the log's head, or its retry is due.
        """
        wait = self._poll
        with self._lock:
            for hook_id, lane in self._lanes.items():
                if lane.busy or now < lane.not_before:
                    continue
                if lane.due_at is not None and lane.due_at > now:
                    wait = min(wait, lane.due_at - now)
                    continue
                if lane.due_at is not None or head > lane.position:
                    lane.busy = True
                    self._jobs.put(hook_id)
        return max(wait, 0.001)

    def _work(self) -> None:
        while True:
            hook_id = self._jobs.get()
            if hook_id is None or self._stopping.is_set():
                return
            try:
                run: Run | None = self._dispatcher.run(hook_id, stop=self._stopping.is_set)
            except Exception as exc:  # one line, and the webhook waits a while
                self._complain(hook_id, f"delivering to webhook {hook_id} failed", exc)
                run = None
            else:
                self._forget(hook_id)
            self._done(hook_id, run)

    def _done(self, hook_id: str, run: Run | None) -> None:
        now = self._clock()
        with self._lock:
            lane = self._lanes.get(hook_id)
            if lane is not None:
                lane.busy = False
                lane.runs += 1
                lane.due_at = None if run is None else run.due_at
                if run is not None and run.caught_up is not None:
                    lane.position = run.caught_up
                elif lane.due_at is None:
                    # Held elsewhere, disabled, gone or failed: look again at the next refresh.
                    lane.not_before = now + self._refresh
        if run is not None and run.gap is not None:
            log.warning(
                "webhook %s: changes up to position %d were purged (changes.retention_days) "
                "before they were delivered; delivery goes on after them",
                hook_id,
                run.gap,
            )
        self._wake.set()

    def _complain(self, key: str, what: str, exc: Exception) -> None:
        """Log a failure in one line, once a minute at most while it stays the same."""
        reason = exc.message if isinstance(exc, FlextypeError) else f"{exc.__class__.__name__}"
        if not isinstance(exc, FlextypeError) and str(exc):
            reason += f": {exc}"
        now = time.monotonic()
        with self._lock:
            last = self._complaints.get(key)
            if last is not None and last[0] == reason and now - last[1] < _COMPLAIN_EVERY:
                return
            self._complaints[key] = (reason, now)
        log.warning("%s (will retry): %s", what, reason)

    def _forget(self, key: str) -> None:
        with self._lock:
            self._complaints.pop(key, None)


def webhook_worker(container: Container) -> WebhookWorker | None:
    """Return the delivery worker of a project's server, or None if it has no change log yet."""
    change_log: ChangeLog | None = container.delivery_change_log()
    store: WebhookStore | None = container.delivery_webhook_store()
    if change_log is None or store is None:
        return None
    settings = msgspec.convert(container.config.webhooks(), WebhooksSettings)
    sender = HttpWebhookSender(
        resolver=SystemResolver(),
        allow_private_networks=settings.allow_private_networks,
        timeout=settings.timeout,
    )
    dispatcher = Dispatcher(
        log=change_log,
        store=store,
        sender=sender,
        clock=time.time,
        schedule=settings.retry_schedule,
        rand=random.random,
    )
    return WebhookWorker(log=change_log, store=store, dispatcher=dispatcher, on_stop=sender.close)


@contextlib.asynccontextmanager
async def webhook_deliveries(container: Container, app: object) -> AsyncIterator[None]:
    """Run the delivery worker while the app serves (a lifespan hook of ``create_app``).

    Args:
        container: the project's container.
        app: the app (Litestar passes it to lifespan hooks).
    """
    try:
        worker = await to_thread.run_sync(webhook_worker, container)
    except Exception as exc:  # the API serves on; deliveries wait for a restart
        reason = exc.message if isinstance(exc, FlextypeError) else exc.__class__.__name__
        log.error("webhook deliveries did not start: %s", reason)
        worker = None
    if worker is None:
        yield
        return
    worker.start()
    try:
        yield
    finally:
        await to_thread.run_sync(worker.stop)
