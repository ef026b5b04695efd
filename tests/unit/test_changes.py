"""The change feed's core: cursors, filters, and the reference log's paging."""

from __future__ import annotations

from typing import Any

import pytest

from flextype_core.addresses import forbidden_reason
from flextype_core.changes import (
    ChangeLog,
    LoggedChange,
    NewChange,
    format_cursor,
    matches,
    parse_cursor,
    public,
)
from flextype_core.errors import BadRequest, ResyncRequired
from flextype_core.webhook_port import EVENTS, WebhookStore, event_of
from tests.unit.feed_fakes import FakeChangeLog, FakeWebhookStore


def test_a_cursor_names_its_position_and_its_log() -> None:
    cursor = format_cursor("abc12", 42)
    assert parse_cursor(cursor, "abc12", 0) == 42
    with pytest.raises(ResyncRequired):
        parse_cursor(cursor, "other", 0)
    with pytest.raises(ResyncRequired, match="no longer kept"):
        parse_cursor(cursor, "abc12", 43)
    assert parse_cursor(cursor, "abc12", 42) == 42


@pytest.mark.parametrize("text", ["", "42", "abc-", "-4", "ABC-4", "abc-4x", "abc-٣", "a b-1"])
def test_what_is_not_a_cursor_is_a_bad_request(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_cursor(text, "abc", 0)


def _change(
    op: Any, change_id: str, from_id: str | None = None, kind: Any = "entry"
) -> LoggedChange:
    return LoggedChange(position=1, op=op, type=kind, id=change_id, from_id=from_id, etag="e", at=0)


def test_a_prefix_takes_the_id_itself_what_lies_below_and_moves_out_of_it() -> None:
    everything = frozenset({"entry", "media"})
    assert matches(_change("update", "movies"), "movies", everything)
    assert matches(_change("update", "movies/dune"), "movies", everything)
    assert not matches(_change("update", "movies-old/dune"), "movies", everything)
    assert matches(_change("move", "archive/dune", "movies/dune"), "movies", everything)
    assert not matches(_change("update", "movies/dune"), "movies", frozenset({"media"}))


def test_the_public_shape_keeps_from_id_for_moves_and_copies_and_no_etag_on_delete() -> None:
    shown = public([_change("delete", "a"), _change("copy", "b", "a")], "ep")
    assert shown[0].etag is None and shown[0].from_id is None
    assert shown[0].cursor == "ep-1"
    assert shown[1].from_id == "a"


def test_events_are_named_from_the_type_and_the_op() -> None:
    assert event_of(_change("move", "a", "b", kind="media")) == "media.moved"
    assert len(EVENTS) == 10 and "entry.copied" in EVENTS


def test_the_reference_log_pages_and_moves_past_what_filters_leave_out() -> None:
    fake = FakeChangeLog(clock=lambda: 100.0)
    log: ChangeLog = fake
    fake.append([NewChange(op="create", type="entry", id=f"a/{n}") for n in range(3)])
    fake.append([NewChange(op="create", type="media", id="m.png")])
    first = log.read(0, 2)
    assert [c.position for c in first.changes] == [1, 2] and first.more and first.last == 2
    rest = log.read(first.last, 2)
    assert [c.position for c in rest.changes] == [3, 4] and not rest.more and rest.last == 4
    entries_only = log.read(2, 10, types=frozenset({"entry"}))
    assert [c.id for c in entries_only.changes] == ["a/2"] and entries_only.last == 4


def test_purging_raises_the_floor() -> None:
    now = [100.0]
    fake = FakeChangeLog(clock=lambda: now[0])
    fake.append([NewChange(op="create", type="entry", id="a")])
    now[0] = 200.0
    fake.append([NewChange(op="create", type="entry", id="b")])
    assert fake.purge(150) == 1
    assert fake.floor() == 1
    assert [c.id for c in fake.read(0, 10).changes] == ["b"]


def test_the_fake_webhook_store_is_a_webhook_store() -> None:
    store: WebhookStore = FakeWebhookStore()
    with store.hold("w") as first, store.hold("w") as second:
        assert first and not second


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.9", "private"),
        ("172.16.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),
        ("fd00::1", "private"),
        ("100.100.100.200", "not globally reachable"),
        ("100.64.0.1", "not globally reachable"),
        ("fec0::1", "site-local"),
        ("2002:a9fe:a9fe::1", "6to4 of a link-local address"),
        ("2002:5db8:d822::1", None),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
        ("example.com", "not an IP address"),
    ],
)
def test_the_guard_names_why_an_address_is_not_public(address: str, reason: str | None) -> None:
    assert forbidden_reason(address) == reason
