"""The delivery worker end to end, in-process: the fakes, the real sender, a real receiver.

Retries use a schedule of 0.05 s and 0.1 s; every wait is for something observed (a
request arriving, a state or a position stored), never a sleep.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from flextype_adapters.system import SystemResolver
from flextype_adapters.webhook_sender import HttpWebhookSender
from flextype_core.changes import NewChange
from flextype_core.dispatch import Dispatcher
from flextype_core.errors import ServiceUnavailable
from flextype_core.webhook_port import Delivery, Hold, Progress, Webhook, WebhookState
from flextype_entrypoints.webhook_worker import WebhookWorker
from tests.unit.feed_fakes import FakeChangeLog, FakeWebhookStore
from tests.webhook_receiver import Answer, Received, WebhookReceiver

SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
SCHEDULE = [0.05, 0.1]


def eventually(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Wait until ``check()`` holds (a state the worker stores), looking every 10 ms."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        pause.wait(0.01)


class FlakyWebhookStore(FakeWebhookStore):
    """The reference store, whose listing and progress fail a number of times first."""

    def __init__(self) -> None:
        super().__init__()
        self.listing_failures = 0
        self.progress_failures = 0

    def all(self) -> list[Webhook]:
        if self.listing_failures > 0:
            self.listing_failures -= 1
            raise ServiceUnavailable("The webhook store does not answer.")
        return super().all()

    def progress(self, webhook_id: str) -> Progress:
        if self.progress_failures > 0:
            self.progress_failures -= 1
            raise ServiceUnavailable("The webhook store does not answer.")
        return super().progress(webhook_id)


class CountingWebhookStore(FakeWebhookStore):
    """The reference store, counting its listings and the holds asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.listings = 0
        self.holds = 0

    def all(self) -> list[Webhook]:
        self.listings += 1
        return super().all()

    @contextlib.contextmanager
    def hold(self, webhook_id: str) -> Iterator[Hold | None]:
        self.holds += 1
        with super().hold(webhook_id) as taken:
            yield taken


class Deliveries:
    """A change log, a webhook store, and the workers delivering from them."""

    def __init__(self, store: FakeWebhookStore | None = None) -> None:
        self.log = FakeChangeLog()
        self.store = FakeWebhookStore() if store is None else store
        self.workers: list[WebhookWorker] = []

    def hook(self, url: str, hook_id: str = "w1", **fields: Any) -> Webhook:
        hook = Webhook(
            id=hook_id,
            url=url,
            events=fields.pop("events", ["*"]),
            created_at=0,
            modified_at=0,
            **fields,
        )
        self.store.create(hook, SECRET, Progress(position=self.log.head()))
        return hook

    def worker(
        self, *, private: bool = True, timeout: float = 5.0, refresh: float = 0.2
    ) -> WebhookWorker:
        sender = HttpWebhookSender(
            resolver=SystemResolver(), allow_private_networks=private, timeout=timeout
        )
        dispatcher = Dispatcher(
            log=self.log,
            store=self.store,
            sender=sender,
            clock=time.time,
            schedule=SCHEDULE,
            rand=random.random,
        )
        worker = WebhookWorker(
            log=self.log,
            store=self.store,
            dispatcher=dispatcher,
            refresh=refresh,
            on_stop=sender.close,
        )
        worker.start()
        self.workers.append(worker)
        return worker

    def write(self, *ids: str) -> None:
        for one in ids:
            self.log.append([NewChange(op="update", type="entry", id=one, etag=f'"{one}"')])

    def position(self, hook_id: str = "w1") -> int:
        return self.store.progress(hook_id).position

    def state(self, hook_id: str = "w1") -> WebhookState:
        return self.store.get(hook_id).state

    def attempts(self, hook_id: str = "w1") -> list[Delivery]:
        return list(reversed(self.store.deliveries(hook_id)))

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


def ids(requests: list[Received]) -> list[str]:
    return [r.json()["data"]["id"] for r in requests]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


@pytest.fixture
def world() -> Iterator[Deliveries]:
    deliveries = Deliveries()
    yield deliveries
    deliveries.stop()


def test_a_write_is_delivered_signed_and_the_signature_verifies(
    world: Deliveries, receiver: WebhookReceiver
) -> None:
    world.hook(receiver.url())
    world.worker()
    world.log.append([NewChange(op="move", type="entry", id="b", from_id="a", etag='"e"')])
    (request,) = receiver.wait_for(1)
    body = Verifier(SECRET).verify(request.body, request.headers)
    assert body["type"] == "entry.moved"
    assert body["data"] == {
        "id": "b",
        "from_id": "a",
        "etag": '"e"',
        "cursor": f"{world.log.epoch()}-1",
    }
    eventually(lambda: world.position() == 1, "the position to move")
    (attempt,) = world.attempts()
    assert attempt.status == 200 and attempt.attempt == 1
    assert attempt.message_id == request.headers["webhook-id"]


def test_500_then_200_retries_with_the_same_webhook_id_and_moves_the_position_once(
    world: Deliveries, receiver: WebhookReceiver
) -> None:
    receiver.script(500)
    world.hook(receiver.url())
    world.worker()
    world.write("a", "b")
    first, retry, second = receiver.wait_for(3)
    assert ids([first, retry, second]) == ["a", "a", "b"]
    assert first.headers["webhook-id"] == retry.headers["webhook-id"]
    assert second.headers["webhook-id"] != first.headers["webhook-id"]
    assert first.body == retry.body
    eventually(lambda: world.position() == 2, "both delivered")
    assert [(d.attempt, d.status) for d in world.attempts()] == [(1, 500), (2, 200), (1, 200)]
    assert world.attempts()[0].next_retry_at is not None
    world.write("c")
    assert ids(receiver.wait_for(4)) == ["a", "a", "b", "c"]


def test_410_disables_the_webhook_and_nothing_more_is_sent(world: Deliveries) -> None:
    with WebhookReceiver() as gone, WebhookReceiver() as other:
        gone.script(410)
        world.hook(gone.url(), "w1")
        world.hook(other.url(), "w2")
        world.worker()
        world.write("a", "b")
        eventually(lambda: world.state("w1") == "disabled", "the webhook disabled")
        world.write("c")
        assert ids(other.wait_for(3)) == ["a", "b", "c"]
        assert ids(gone.received) == ["a"]
        assert world.position("w1") == 0
        assert [d.status for d in world.attempts("w1")] == [410]


def test_after_the_last_retry_it_is_failing_until_patched_back_to_enabled(
    world: Deliveries, receiver: WebhookReceiver
) -> None:
    receiver.script(500, 502, 503)
    world.hook(receiver.url())
    world.worker()
    world.write("a")
    eventually(lambda: world.state() == "failing", "the webhook failing")
    assert [(d.attempt, d.status) for d in world.attempts()] == [(1, 500), (2, 502), (3, 503)]
    assert world.attempts()[-1].next_retry_at is None
    world.write("b")
    world.store.update("w1", lambda h: msgspec.structs.replace(h, state="enabled"))
    requests = receiver.wait_for(5)
    assert ids(requests) == ["a", "a", "a", "a", "b"]
    assert len({r.headers["webhook-id"] for r in requests[:4]}) == 1
    eventually(lambda: world.position() == 2, "both delivered")
    assert len(receiver.received) == 5


def test_retry_after_asking_for_longer_than_the_schedule_is_honoured(
    world: Deliveries, receiver: WebhookReceiver
) -> None:
    receiver.script(Answer(status=503, headers={"Retry-After": "1"}))
    world.hook(receiver.url())
    world.worker()
    world.write("a")
    first, retry = receiver.wait_for(2)
    assert retry.at - first.at >= 0.95
    assert ids([first, retry]) == ["a", "a"]


def test_a_302_is_not_followed_it_is_a_failed_attempt(
    world: Deliveries, receiver: WebhookReceiver
) -> None:
    receiver.script(Answer(status=302, headers={"Location": "/elsewhere"}))
    world.hook(receiver.url("/hook"))
    world.worker()
    world.write("a")
    requests = receiver.wait_for(2)
    assert [r.path for r in requests] == ["/hook", "/hook"]
    eventually(lambda: world.position() == 1, "the retry delivered")
    assert [d.status for d in world.attempts()] == [302, 200]


def test_each_webhook_gets_its_changes_in_order_and_a_stuck_one_holds_up_no_other(
    world: Deliveries,
) -> None:
    release = threading.Event()
    with WebhookReceiver() as stuck, WebhookReceiver() as flaky, WebhookReceiver() as fine:
        stuck.script(Answer(hold=release))
        flaky.script(200, 500, 200, 503, 200, 200, 502)
        world.hook(stuck.url(), "stuck")
        world.hook(flaky.url(), "flaky")
        world.hook(fine.url(), "fine")
        world.worker()
        written = [f"e{n}" for n in range(12)]
        world.write(*written)
        try:
            assert ids(fine.wait_for(12)) == written
            delivered = ids(flaky.wait_for(15))
            assert list(dict.fromkeys(delivered)) == written
            assert ids(stuck.received) == ["e0"]
        finally:
            release.set()
        assert ids(stuck.wait_for(12)) == written


def test_a_loopback_receiver_is_refused_at_delivery_without_allow_private_networks(
    world: Deliveries, receiver: WebhookReceiver
) -> None:
    world.hook(receiver.url())
    world.worker(private=False)
    world.write("a")
    eventually(lambda: len(world.attempts()) >= 1, "an attempt recorded")
    attempt = world.attempts()[0]
    assert attempt.status is None and attempt.error is not None
    assert "resolves to a loopback address" in attempt.error
    assert "allow_private_networks" in attempt.error
    assert receiver.received == []
    assert world.position() == 0


def test_two_workers_over_one_store_deliver_each_change_exactly_once(world: Deliveries) -> None:
    with WebhookReceiver() as receiver:
        hooks = ["w1", "w2", "w3"]
        for hook_id in hooks:
            world.hook(receiver.url(f"/{hook_id}"), hook_id)
        world.worker()
        world.worker()
        written = [f"e{n}" for n in range(40)]
        for one in written:
            world.write(one)
        for hook_id in hooks:
            assert ids(receiver.wait_for(40, path=f"/{hook_id}")) == written
        eventually(lambda: all(world.position(h) == 40 for h in hooks), "all delivered")
        world.write("last")
        for hook_id in hooks:
            got = ids(receiver.wait_for(41, path=f"/{hook_id}"))
            assert got == [*written, "last"]
        eventually(lambda: all(world.position(h) == 41 for h in hooks), "the last delivered")
        assert len(receiver.received) == 3 * 41


def test_replay_restarts_deliveries_from_a_cursor(
    world: Deliveries, receiver: WebhookReceiver
) -> None:
    world.hook(receiver.url())
    world.worker()
    world.write("a", "b", "c")
    first = receiver.wait_for(3)
    eventually(lambda: world.position() == 3, "all delivered")
    world.store.replay("w1", 1)
    again = receiver.wait_for(5)[3:]
    assert ids(again) == ["b", "c"]
    assert [r.headers["webhook-id"] for r in again] == [r.headers["webhook-id"] for r in first[1:]]
    eventually(lambda: world.position() == 3, "the replay delivered")


def test_stop_returns_at_once_with_a_delivery_in_flight_which_is_sent_again_later(
    world: Deliveries, receiver: WebhookReceiver
) -> None:
    release = threading.Event()
    receiver.script(Answer(hold=release))
    world.hook(receiver.url())
    worker = world.worker(timeout=30)
    world.write("a")
    receiver.wait_for(1)
    started = time.monotonic()
    worker.stop()
    assert time.monotonic() - started < 1.5
    assert not worker.running
    release.set()
    assert world.attempts() == [] and world.position() == 0
    world.worker()
    assert ids(receiver.wait_for(2)) == ["a", "a"]
    eventually(lambda: world.position() == 1, "delivered after the restart")


def test_a_failing_store_is_logged_and_retried_without_stopping_deliveries(
    receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    store = FlakyWebhookStore()
    world = Deliveries(store)
    world.hook(receiver.url())
    store.listing_failures = 2
    store.progress_failures = 3
    try:
        with caplog.at_level(logging.WARNING, logger="flextype.webhooks"):
            world.worker()
            world.write("a")
            assert ids(receiver.wait_for(1)) == ["a"]
    finally:
        world.stop()
    assert store.listing_failures == store.progress_failures == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "flextype.webhooks"]
    # One line where it failed (the listing, the webhook), not one per retry.
    assert len(lines) == 2
    assert all(line.endswith("(will retry): The webhook store does not answer.") for line in lines)


def test_an_idle_worker_holds_no_webhook(receiver: WebhookReceiver) -> None:
    # On PostgreSQL each hold is a new database session: an idle server must not open
    # one per webhook per refresh.
    store = CountingWebhookStore()
    world = Deliveries(store)
    hooks = [f"w{n}" for n in range(20)]
    for hook_id in hooks:
        world.hook(receiver.url(f"/{hook_id}"), hook_id)
    try:
        world.worker(refresh=0.02)
        eventually(lambda: store.listings >= 10, "ten listings")
        assert store.holds == 0
        world.write("a")
        eventually(lambda: all(world.position(h) == 1 for h in hooks), "all delivered")
        busy = store.holds
        assert busy >= len(hooks)
        seen = store.listings
        eventually(lambda: store.listings >= seen + 10, "ten more listings")
        assert store.holds == busy
        assert len(receiver.received) == len(hooks)
    finally:
        world.stop()


def test_a_retry_waiting_is_not_held_before_it_is_due(receiver: WebhookReceiver) -> None:
    store = CountingWebhookStore()
    world = Deliveries(store)
    receiver.script(Answer(status=503, headers={"Retry-After": "3600"}))
    world.hook(receiver.url())
    try:
        world.worker(refresh=0.02)
        world.write("a")
        eventually(lambda: store.progress("w1").next_at is not None, "the retry scheduled")
        held = store.holds
        seen = store.listings
        eventually(lambda: store.listings >= seen + 10, "ten more listings")
        assert store.holds == held
        assert len(receiver.received) == 1
    finally:
        world.stop()
