"""What a webhook is sent, and what an attempt's outcome means (pure, with a fake clock)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import msgspec
import pytest

from flextype_core.changes import LoggedChange
from flextype_core.delivery import (
    JITTER,
    RETRY_AFTER_MAX,
    Outcome,
    after_attempt,
    message_id,
    payload,
    read_types,
    retry_after_seconds,
    takes,
)
from flextype_core.webhook_port import Progress, Webhook

NOW = 1_700_000_000.0
SCHEDULE = [5.0, 300.0, 1800.0]


def _hook(events: list[str], id_prefix: str | None = None) -> Webhook:
    return Webhook(
        id="w1",
        url="https://hooks.example/in",
        events=events,
        id_prefix=id_prefix,
        created_at=0,
        modified_at=0,
    )


def _change(
    op: Any = "update",
    change_id: str = "movies/dune",
    *,
    from_id: str | None = None,
    kind: Any = "entry",
    position: int = 7,
) -> LoggedChange:
    return LoggedChange(
        position=position,
        op=op,
        type=kind,
        id=change_id,
        from_id=from_id,
        etag='"abc"',
        at=1_700_000_123,
    )


def test_a_webhook_takes_its_events_or_all_with_a_star() -> None:
    assert takes(_hook(["*"]), _change("delete", kind="media"))
    assert takes(_hook(["entry.updated"]), _change("update"))
    assert not takes(_hook(["entry.updated"]), _change("create"))
    assert not takes(_hook(["entry.updated"]), _change("update", kind="media"))
    assert not takes(_hook([]), _change("update"))


def test_a_webhook_takes_only_changes_under_its_prefix_moves_out_included() -> None:
    hook = _hook(["*"], id_prefix="movies")
    assert takes(hook, _change("update", "movies/dune"))
    assert not takes(hook, _change("update", "movies-old/dune"))
    assert takes(hook, _change("move", "archive/dune", from_id="movies/dune"))


def test_the_log_is_read_only_for_the_types_the_events_name() -> None:
    assert read_types(_hook(["*"])) == {"entry", "media"}
    assert read_types(_hook(["entry.created", "entry.deleted"])) == {"entry"}
    assert read_types(_hook(["media.moved"])) == {"media"}
    assert read_types(_hook([])) == frozenset()


def test_the_payload_is_thin_with_from_id_only_for_moves_and_copies_and_no_etag_on_delete() -> None:
    body = msgspec.json.decode(payload(_change("update"), "ep1"))
    assert body == {
        "type": "entry.updated",
        "timestamp": "2023-11-14T22:15:23Z",
        "data": {"id": "movies/dune", "etag": '"abc"', "cursor": "ep1-7"},
    }
    moved = msgspec.json.decode(payload(_change("move", "b", from_id="a"), "ep1"))
    assert moved["type"] == "entry.moved"
    assert moved["data"] == {"id": "b", "from_id": "a", "etag": '"abc"', "cursor": "ep1-7"}
    gone = msgspec.json.decode(payload(_change("delete", kind="media", from_id="x"), "ep1"))
    assert gone["type"] == "media.deleted"
    assert gone["data"] == {"id": "movies/dune", "cursor": "ep1-7"}
    assert list(moved) == ["type", "timestamp", "data"]


def test_the_timestamp_is_rfc_3339_in_utc() -> None:
    stamp = msgspec.json.decode(payload(_change(), "e"))["timestamp"]
    assert datetime.fromisoformat(stamp) == datetime.fromtimestamp(1_700_000_123, UTC)


def test_the_message_id_is_one_per_change_and_webhook_and_header_safe() -> None:
    first = message_id("w1", "ep1", 7)
    assert first == message_id("w1", "ep1", 7)
    others = {message_id("w2", "ep1", 7), message_id("w1", "ep2", 7), message_id("w1", "ep1", 8)}
    assert first not in others and len(others) == 3
    odd = message_id("w\n1 ünïcode", "ep1", 7)
    assert odd.startswith("msg_") and odd.isascii()
    assert all(c.isalnum() or c == "_" for c in odd)


def _step(outcome: Outcome, progress: Progress | None = None, rand: float = 0.5) -> Any:
    return after_attempt(
        hook=_hook(["*"]),
        progress=progress or Progress(position=6, generation=3),
        change=_change(),
        epoch="ep1",
        message="msg_x",
        outcome=outcome,
        now=NOW,
        schedule=SCHEDULE,
        rand=lambda: rand,
    )


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_a_2xx_moves_the_position_to_the_change_and_clears_the_failures(status: int) -> None:
    step = _step(Outcome(status=status, duration_ms=12.34), Progress(position=6, attempt=2))
    assert step.delivered and step.state is None
    assert step.progress == Progress(position=7, attempt=0, next_at=None, generation=0)
    assert step.delivery.status == status and step.delivery.attempt == 3
    assert step.delivery.next_retry_at is None and step.delivery.duration_ms == 12.3
    assert step.delivery.cursor == "ep1-7" and step.delivery.event == "entry.updated"
    assert step.delivery.message_id == "msg_x"


def test_410_disables_the_webhook_and_keeps_the_change_next() -> None:
    step = _step(Outcome(status=410, duration_ms=1), Progress(position=6, attempt=1, generation=3))
    assert not step.delivered and step.state == "disabled"
    assert step.progress == Progress(position=6, attempt=0, next_at=None, generation=3)
    assert step.delivery.status == 410 and step.delivery.next_retry_at is None


@pytest.mark.parametrize(
    "outcome",
    [
        Outcome(status=500, duration_ms=1),
        Outcome(status=302, duration_ms=1),
        Outcome(status=404, duration_ms=1),
        Outcome(error="timeout: no answer within 10 s", duration_ms=10_000),
        Outcome(error="connection error: refused", duration_ms=1),
    ],
)
def test_anything_else_is_retried_after_the_first_delay_of_the_schedule(outcome: Outcome) -> None:
    step = _step(outcome)
    assert not step.delivered and step.state is None
    assert step.progress.position == 6 and step.progress.attempt == 1
    assert step.progress.generation == 3
    assert step.progress.next_at == NOW + 5.0
    assert step.delivery.attempt == 1
    assert step.delivery.status == outcome.status and step.delivery.error == outcome.error
    assert step.delivery.next_retry_at == NOW + 5


def test_each_retry_waits_the_next_delay_of_the_schedule() -> None:
    waits = [
        _step(Outcome(status=503, duration_ms=1), Progress(position=6, attempt=n)).progress.next_at
        for n in range(3)
    ]
    assert waits == [NOW + 5.0, NOW + 300.0, NOW + 1800.0]


@pytest.mark.parametrize(("rand", "factor"), [(0.0, 1 - JITTER), (0.999999, 1 + JITTER)])
def test_the_jitter_is_ten_percent_either_way(rand: float, factor: float) -> None:
    step = _step(Outcome(status=500, duration_ms=1), Progress(position=6, attempt=1), rand=rand)
    assert step.progress.next_at == pytest.approx(NOW + 300.0 * factor, abs=1e-3)
    assert JITTER == 0.1


def test_after_the_last_retry_the_webhook_is_failing_with_a_fresh_schedule_for_later() -> None:
    step = _step(Outcome(status=500, duration_ms=1), Progress(position=6, attempt=3, generation=2))
    assert step.state == "failing" and not step.delivered
    assert step.progress == Progress(position=6, attempt=0, next_at=None, generation=2)
    assert step.delivery.attempt == 4 and step.delivery.next_retry_at is None


def test_an_empty_schedule_makes_the_first_failure_failing() -> None:
    step = after_attempt(
        hook=_hook(["*"]),
        progress=Progress(position=6),
        change=_change(),
        epoch="e",
        message="m",
        outcome=Outcome(status=500, duration_ms=1),
        now=NOW,
        schedule=[],
        rand=lambda: 0.5,
    )
    assert step.state == "failing"


def test_a_retry_after_asking_for_longer_is_honoured_a_shorter_one_is_not() -> None:
    longer = _step(Outcome(status=503, retry_after="120", duration_ms=1))
    assert longer.progress.next_at == NOW + 120
    shorter = _step(Outcome(status=503, retry_after="1", duration_ms=1))
    assert shorter.progress.next_at == NOW + 5.0


def test_a_retry_after_date_is_honoured_and_a_huge_one_is_capped_at_a_day() -> None:
    when = format_datetime(datetime.fromtimestamp(NOW + 3600, UTC), usegmt=True)
    dated = _step(Outcome(status=429, retry_after=when, duration_ms=1))
    assert dated.progress.next_at == NOW + 3600
    huge = _step(Outcome(status=429, retry_after="999999999", duration_ms=1))
    assert huge.progress.next_at == NOW + RETRY_AFTER_MAX


def test_retry_after_reads_seconds_and_http_dates_and_ignores_the_rest() -> None:
    assert retry_after_seconds("30", NOW) == 30.0
    assert retry_after_seconds(" 7 ", NOW) == 7.0
    assert retry_after_seconds(None, NOW) is None
    assert retry_after_seconds("soon", NOW) is None
    assert retry_after_seconds("-5", NOW) is None
    assert retry_after_seconds("1.5", NOW) is None
    past = format_datetime(datetime.fromtimestamp(NOW - 60, UTC), usegmt=True)
    assert retry_after_seconds(past, NOW) == 0.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480.0 - 10) == 10.0


def test_the_record_says_when_the_attempt_started() -> None:
    step = _step(Outcome(status=200, duration_ms=2500))
    assert step.delivery.at == int(NOW - 2.5)
