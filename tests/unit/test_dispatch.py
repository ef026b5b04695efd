"""The Dispatcher over the reference fakes: order, progress, retries, states, replay, holds."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from flextype_core.changes import NewChange
from flextype_core.delivery import Outcome, message_id
from flextype_core.dispatch import Dispatcher
from flextype_core.webhook_port import Progress, Webhook
from tests.unit.dispatch_fakes import FakeClock, FakeSender
from tests.unit.feed_fakes import FakeChangeLog, FakeWebhookStore

URL = "https://hooks.example/in"
SECRET = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="


class World:
    def __init__(self, *, schedule: list[float] | None = None, page_size: int = 100) -> None:
        self.clock = FakeClock()
        self.log = FakeChangeLog(clock=self.clock)
        self.store = FakeWebhookStore()
        self.sender = FakeSender()
        self.dispatcher = Dispatcher(
            log=self.log,
            store=self.store,
            sender=self.sender,
            clock=self.clock,
            schedule=[5.0, 60.0] if schedule is None else schedule,
            rand=lambda: 0.5,
            page_size=page_size,
        )

    def hook(
        self, hook_id: str = "w1", *, events: list[str] | None = None, **fields: Any
    ) -> Webhook:
        hook = Webhook(
            id=hook_id,
            url=fields.pop("url", URL),
            events=["*"] if events is None else events,
            created_at=0,
            modified_at=0,
            **fields,
        )
        self.store.create(hook, SECRET, Progress(position=self.log.head()))
        return hook

    def write(self, *ids: str, op: Any = "update", kind: Any = "entry") -> None:
        for one in ids:
            self.log.append([NewChange(op=op, type=kind, id=one, etag=f'"{one}"')])

    def ids_sent(self) -> list[Any]:
        return [body["data"]["id"] for body in self.sender.bodies()]  # type: ignore[index]


def test_every_change_is_sent_once_in_feed_order_and_the_position_follows() -> None:
    world = World()
    world.hook()
    world.write("a", "b", "c")
    run = world.dispatcher.run("w1")
    assert world.ids_sent() == ["a", "b", "c"]
    assert run.held and run.caught_up == 3 and run.due_at is None
    assert world.store.progress("w1") == Progress(position=3)
    log = world.store.deliveries("w1")
    assert [d.cursor for d in log] == [f"{world.log.epoch()}-{n}" for n in (3, 2, 1)]
    assert all(d.status == 200 and d.attempt == 1 for d in log)
    assert world.dispatcher.run("w1").caught_up == 3
    assert len(world.sender.sent) == 3


def test_a_webhook_starts_after_the_position_it_was_created_at() -> None:
    world = World()
    world.write("before")
    world.hook()
    world.write("after")
    world.dispatcher.run("w1")
    assert world.ids_sent() == ["after"]


def test_the_message_carries_the_payload_the_secret_and_a_stable_id() -> None:
    world = World()
    world.hook()
    world.write("a")
    world.dispatcher.run("w1")
    sent = world.sender.sent[0]
    assert sent.url == URL and sent.message.secret == SECRET
    assert sent.message.id == message_id("w1", world.log.epoch(), 1)
    assert msgspec.json.decode(sent.message.body)["data"]["cursor"] == f"{world.log.epoch()}-1"


def test_changes_a_webhook_does_not_take_are_skipped_and_the_position_moves_past_them() -> None:
    world = World()
    world.hook(events=["entry.deleted"])
    world.write("a", "b")
    world.write("c", op="delete")
    world.write("d", kind="media", op="delete")
    world.write("e")
    run = world.dispatcher.run("w1")
    assert world.ids_sent() == ["c"]
    assert run.caught_up == 5 and world.store.progress("w1").position == 5


def test_only_changes_under_the_id_prefix_are_sent() -> None:
    world = World()
    world.hook(id_prefix="movies")
    world.write("movies", "movies/dune", "movies-old/x", "books/y")
    world.dispatcher.run("w1")
    assert world.ids_sent() == ["movies", "movies/dune"]
    assert world.store.progress("w1").position == 4


def test_pages_are_followed_until_caught_up() -> None:
    world = World(page_size=2)
    world.hook()
    world.write(*[f"e{n}" for n in range(7)])
    assert world.dispatcher.run("w1").caught_up == 7
    assert world.ids_sent() == [f"e{n}" for n in range(7)]


def test_a_failure_waits_for_its_retry_then_sends_the_same_message_and_goes_on() -> None:
    world = World()
    world.hook()
    world.sender.script(URL, [500])
    world.write("a", "b")
    run = world.dispatcher.run("w1")
    assert run.due_at == world.clock.now + 5.0
    assert world.store.progress("w1") == Progress(position=0, attempt=1, next_at=run.due_at)
    assert world.dispatcher.run("w1").due_at == run.due_at  # not yet: nothing sent
    assert len(world.sender.sent) == 1
    world.clock.advance(5.0)
    assert world.dispatcher.run("w1").caught_up == 2
    first, again, second = world.sender.sent
    assert first.message.id == again.message.id != second.message.id
    assert first.message.body == again.message.body
    assert world.ids_sent() == ["a", "a", "b"]
    attempts = [(d.attempt, d.status) for d in reversed(world.store.deliveries("w1"))]
    assert attempts == [(1, 500), (2, 200), (1, 200)]
    assert world.store.deliveries("w1")[-1].next_retry_at == int(world.clock.now)


def test_changes_written_while_one_waits_for_its_retry_wait_behind_it() -> None:
    world = World()
    world.hook()
    world.sender.script(URL, [503])
    world.write("a")
    world.dispatcher.run("w1")
    world.write("b")
    world.dispatcher.run("w1")
    assert world.ids_sent() == ["a"]
    world.clock.advance(6)
    world.dispatcher.run("w1")
    assert world.ids_sent() == ["a", "a", "b"]


def test_410_disables_the_webhook_and_nothing_more_is_sent() -> None:
    world = World()
    world.hook()
    world.sender.script(URL, [410])
    world.write("a", "b")
    world.clock.advance(3)
    world.dispatcher.run("w1")
    hook = world.store.get("w1")
    assert hook.state == "disabled" and hook.modified_at == int(world.clock.now)
    world.clock.advance(3600)
    world.dispatcher.run("w1")
    assert world.ids_sent() == ["a"]
    assert world.store.progress("w1").position == 0


def test_after_the_last_retry_it_is_failing_until_enabled_again() -> None:
    world = World(schedule=[1.0, 2.0])
    world.hook()
    world.sender.script(URL, [500, 502, 504])
    world.write("a", "b")
    for _ in range(3):
        world.dispatcher.run("w1")
        world.clock.advance(3)
    assert world.store.get("w1").state == "failing"
    assert [d.attempt for d in world.store.deliveries("w1")] == [3, 2, 1]
    world.clock.advance(10 * 3600)
    world.dispatcher.run("w1")
    assert len(world.sender.sent) == 3
    world.store.update("w1", lambda h: msgspec.structs.replace(h, state="enabled"))
    world.dispatcher.run("w1")
    assert world.ids_sent() == ["a", "a", "a", "a", "b"]
    assert world.store.deliveries("w1")[1].attempt == 1  # a fresh schedule


def test_a_state_set_by_hand_meanwhile_is_not_overwritten() -> None:
    world = World(schedule=[])

    def patched_then_failed() -> int:
        world.store.update("w1", lambda h: msgspec.structs.replace(h, state="disabled"))
        return 500

    world.hook()
    world.sender.script(URL, [patched_then_failed])
    world.write("a")
    world.dispatcher.run("w1")
    assert world.store.get("w1").state == "disabled"


def test_a_webhook_another_deliverer_holds_is_left_alone() -> None:
    world = World()
    world.hook()
    world.write("a")
    with world.store.hold("w1") as held:
        assert held
        run = world.dispatcher.run("w1")
    assert not run.held and world.sender.sent == []
    assert world.dispatcher.run("w1").held and world.ids_sent() == ["a"]


def test_replay_sends_again_from_a_cursor_with_the_same_message_ids() -> None:
    world = World()
    world.hook()
    world.write("a", "b", "c")
    world.dispatcher.run("w1")
    world.store.replay("w1", 1)
    world.dispatcher.run("w1")
    assert world.ids_sent() == ["a", "b", "c", "b", "c"]
    ids = [s.message.id for s in world.sender.sent]
    assert ids[1:3] == ids[3:5]


def test_a_replay_during_a_delivery_wins_over_the_delivery_s_progress() -> None:
    world = World()

    def replayed() -> int:
        world.store.replay("w1", 0)
        return 200

    world.hook()
    world.write("a", "b")
    world.sender.script(URL, [200, replayed])
    run = world.dispatcher.run("w1")
    assert world.ids_sent() == ["a", "b", "a", "b"]
    assert run.caught_up == 2 and world.store.progress("w1").position == 2


def test_a_stop_during_a_failed_attempt_records_nothing_and_keeps_the_change_next() -> None:
    world = World()
    stopping = False

    def shutdown() -> Outcome:
        nonlocal stopping
        stopping = True
        return Outcome(error="connection error: cut", duration_ms=1)

    world.hook()
    world.write("a", "b")
    world.sender.script(URL, [shutdown])
    world.dispatcher.run("w1", stop=lambda: stopping)
    assert world.store.deliveries("w1") == []
    assert world.store.progress("w1") == Progress(position=0)


def test_a_stop_after_a_success_keeps_it_and_sends_no_more() -> None:
    world = World()
    stopping = False

    def delivered_then_stop() -> int:
        nonlocal stopping
        stopping = True
        return 200

    world.hook()
    world.write("a", "b")
    world.sender.script(URL, [delivered_then_stop])
    world.dispatcher.run("w1", stop=lambda: stopping)
    assert world.ids_sent() == ["a"] and world.store.progress("w1").position == 1


@pytest.mark.parametrize("state", ["disabled", "failing"])
def test_a_webhook_not_enabled_is_sent_nothing(state: Any) -> None:
    world = World()
    world.hook(state=state)
    world.write("a")
    run = world.dispatcher.run("w1")
    assert run.held and world.sender.sent == []


def test_a_webhook_deleted_during_a_delivery_ends_the_run() -> None:
    world = World()

    def deleted() -> int:
        world.store.delete("w1")
        return 200

    world.hook()
    world.write("a", "b")
    world.sender.script(URL, [deleted])
    run = world.dispatcher.run("w1")
    assert run.held and world.ids_sent() == ["a"]
    assert world.dispatcher.run("gone").held


def test_changes_purged_before_delivery_are_reported_as_a_gap() -> None:
    world = World()
    world.hook()
    world.write("old")
    world.clock.advance(100)
    world.write("new")
    world.log.purge(int(world.clock.now) - 50)
    run = world.dispatcher.run("w1")
    assert run.gap == 1
    assert world.ids_sent() == ["new"]
    assert world.dispatcher.run("w1").gap is None


def test_a_hold_lost_during_a_run_sends_nothing_more() -> None:
    world = World()

    def lost() -> int:
        world.store.lose("w1")  # the lock's session died: another server may deliver now
        return 200

    world.hook()
    world.write("a", "b", "c")
    world.sender.script(URL, [lost])
    run = world.dispatcher.run("w1")
    assert not run.held
    assert world.ids_sent() == ["a"] and world.store.progress("w1").position == 1


def test_a_webhook_disabled_during_a_run_is_sent_nothing_more() -> None:
    world = World()

    def disabled() -> int:
        world.store.update(
            "w1", lambda h: msgspec.structs.replace(h, state="disabled", url="https://new.example/")
        )
        return 200

    world.hook()
    world.write(*[f"e{n}" for n in range(20)])
    world.sender.script(URL, [disabled])
    world.dispatcher.run("w1")
    assert [s.url for s in world.sender.sent] == [URL]
    assert world.store.progress("w1").position == 1


def test_a_new_url_set_during_a_run_takes_the_next_change() -> None:
    world = World()
    new = "https://new.example/in"

    def moved() -> int:
        world.store.update("w1", lambda h: msgspec.structs.replace(h, url=new))
        return 200

    world.hook()
    world.write("a", "b", "c")
    world.sender.script(URL, [moved])
    assert world.dispatcher.run("w1").caught_up == 3
    assert [s.url for s in world.sender.sent] == [URL, new, new]


@pytest.mark.parametrize(
    ("changes", "sent"),
    [
        ({"events": ["entry.deleted"]}, ["a", "d"]),
        ({"id_prefix": "movies"}, ["a", "movies/x"]),
    ],
)
def test_events_and_id_prefix_changed_during_a_run_take_the_next_change(
    changes: dict[str, Any], sent: list[str]
) -> None:
    world = World()

    def patched() -> int:
        world.store.update("w1", lambda h: msgspec.structs.replace(h, **changes))
        return 200

    world.hook(events=["entry.updated", "entry.deleted"])
    world.write("a", "b", "movies/x")
    world.write("d", op="delete")
    world.sender.script(URL, [patched])
    assert world.dispatcher.run("w1").caught_up == 4
    assert world.ids_sent() == sent


def test_events_widened_during_a_run_take_the_next_change() -> None:
    world = World()

    def widened() -> int:
        world.store.update("w1", lambda h: msgspec.structs.replace(h, events=["*"]))
        return 200

    world.hook(events=["media.deleted"])
    world.write("x", op="delete", kind="media")
    world.write("a")
    world.write("y", op="delete", kind="media")
    world.sender.script(URL, [widened])
    assert world.dispatcher.run("w1").caught_up == 3
    assert world.ids_sent() == ["x", "a", "y"]
