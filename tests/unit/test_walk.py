"""Cursor walks with a change log: what changed since the first page is left out of later ones."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from flextype_core.changes import NewChange
from flextype_core.entries import EntriesService
from flextype_core.errors import BadRequest, ResyncRequired, StorageError
from flextype_core.model import Selection
from flextype_core.query import Query, cursor
from flextype_core.walk import MAX_CHANGED, leave_out
from tests.unit.fakes import FakeEntryStore, FixedClock, SequenceIdFactory
from tests.unit.feed_fakes import FakeChangeLog

BY_RANK: dict[str, Any] = {"sort_by": {"key": "rank"}}


KEYS = cursor.MemorySecrets()


def _service(store: FakeEntryStore, log: FakeChangeLog | None) -> EntriesService:
    return EntriesService(store, FixedClock(), SequenceIdFactory(), secrets=KEYS, changes=log)


def _shelf(count: int) -> tuple[FakeEntryStore, FakeChangeLog, EntriesService]:
    log = FakeChangeLog()
    store = FakeEntryStore(changes=log)
    store.create({f"s/e{n}": {"rank": n} for n in range(count)})
    return store, log, _service(store, log)


def _page(service: EntriesService, limit: int, after: str | None = None) -> tuple[list[str], Any]:
    filters: dict[str, Any] = {**BY_RANK, "limit": limit}
    if after is not None:
        filters["after"] = after
    page = service.query("s", {"filter": filters})
    assert page.meta is not None
    return [item["id"] for item in page.data], page.meta


def _walk_on(service: EntriesService, limit: int, after: str | None) -> list[str]:
    seen: list[str] = []
    while after is not None:
        ids, meta = _page(service, limit, after)
        seen += ids
        after = meta.next
    return seen


def test_an_entry_updated_past_the_cursor_is_not_repeated() -> None:
    _, _, service = _shelf(6)
    first, meta = _page(service, 2)
    assert first == ["s/e0", "s/e1"]
    service.update("s/e0", {"rank": 99})  # now after the cursor: it came already
    service.update("s/e4", {"rank": 98})  # changed before it came: may be skipped
    assert _walk_on(service, 2, meta.next) == ["s/e2", "s/e3", "s/e5"]


def test_without_a_change_log_the_keyset_alone_decides() -> None:
    store = FakeEntryStore()
    store.create({f"s/e{n}": {"rank": n} for n in range(6)})
    service = _service(store, None)
    _, meta = _page(service, 2)
    service.update("s/e0", {"rank": 99})
    assert _walk_on(service, 2, meta.next) == ["s/e2", "s/e3", "s/e4", "s/e5", "s/e0"]


def test_pages_stay_full_when_entries_are_left_out() -> None:
    _, _, service = _shelf(10)
    _, meta = _page(service, 3)
    for n in (3, 4, 6):  # the next three in the order, and one further on
        service.update(f"s/e{n}", {"rank": n, "seen": True})
    ids, meta = _page(service, 3, meta.next)
    assert ids == ["s/e5", "s/e7", "s/e8"]
    assert meta.total == 10 and meta.limit == 3
    ids, meta = _page(service, 3, meta.next)
    assert ids == ["s/e9"] and meta.next is None


def _replaced_by(fields: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda _: fields


class _WriterDuringSelect(FakeEntryStore):
    """A store another client writes to while a page is being selected."""

    def __init__(self, log: FakeChangeLog) -> None:
        super().__init__(changes=log)
        self.writes: list[tuple[str, dict[str, Any]]] = []

    def select(self, parent: str, query: Query) -> Selection:
        for entry_id, fields in self.writes:
            self.update(entry_id, _replaced_by(fields))
        self.writes = []
        return super().select(parent, query)


def test_a_change_made_while_the_page_is_selected_is_left_out_and_a_short_page_has_next() -> None:
    log = FakeChangeLog()
    store = _WriterDuringSelect(log)
    store.create({f"s/e{n}": {"rank": n} for n in range(8)})
    service = _service(store, log)
    first, meta = _page(service, 2)
    assert first == ["s/e0", "s/e1"]
    # After the changes are read for the page, before its select: s/e0 moves past the
    # cursor, s/e2 and s/e3 (the page to come) change too.
    store.writes = [("s/e0", {"rank": 50}), ("s/e2", {"rank": 2.5}), ("s/e3", {"rank": 3.5})]
    ids, meta = _page(service, 2, meta.next)
    assert ids == []  # all it read was changed: a short page (here empty), with a next
    assert meta.next is not None
    assert _walk_on(service, 2, meta.next) == ["s/e4", "s/e5", "s/e6", "s/e7"]


def test_a_page_whose_rest_was_all_changed_has_no_next() -> None:
    _, _, service = _shelf(4)
    _, meta = _page(service, 2)
    service.update("s/e2", {"rank": 2, "seen": True})
    service.update("s/e3", {"rank": 3, "seen": True})
    ids, meta = _page(service, 2, meta.next)
    assert ids == [] and meta.next is None


def test_as_many_changed_entries_as_the_bound_still_walk_one_more_is_resync_required() -> None:
    store, log, service = _shelf(3)
    _, meta = _page(service, 1)
    store.create({f"s/new{n:04d}": {"rank": -1} for n in range(MAX_CHANGED - 1)})
    store.update("s/e1", lambda fields: fields)  # MAX_CHANGED ids in all
    assert _page(service, 1, meta.next)[0] == ["s/e2"]
    for _ in range(3):  # the same entry again does not count twice
        store.update("s/e1", lambda fields: fields)
    assert _page(service, 1, meta.next)[0] == ["s/e2"]
    log.append([NewChange(op="update", type="entry", id="s/one-more")])
    with pytest.raises(ResyncRequired, match="Start the walk again"):
        _page(service, 1, meta.next)


def test_changes_elsewhere_do_not_count() -> None:
    store, _, service = _shelf(3)
    _, meta = _page(service, 1)
    store.create({f"other/n{n:04d}": {} for n in range(MAX_CHANGED + 1)})
    assert _page(service, 1, meta.next)[0] == ["s/e1"]


def test_purged_changes_or_another_log_are_resync_required() -> None:
    store, log, service = _shelf(3)
    _, meta = _page(service, 1)
    store.update("s/e2", lambda fields: fields)
    log.purge(2**40)  # every change, the ones since the walk began too
    with pytest.raises(ResyncRequired, match="no longer kept"):
        _page(service, 1, meta.next)
    other = _service(store, FakeChangeLog())  # a log recreated (an import), same key
    with pytest.raises(ResyncRequired, match="another change log"):
        _page(other, 1, meta.next)


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def test_the_walk_is_signed_an_edited_position_is_400() -> None:
    _, _, service = _shelf(3)
    _, meta = _page(service, 1)
    payload, _, mac = meta.next.partition(".")
    values, score, entry_id, (epoch, position) = json.loads(_unb64(payload))
    edited = json.dumps([values, score, entry_id, [epoch, position + 5]]).encode()
    with pytest.raises(BadRequest, match="not a cursor of this query"):
        _page(service, 1, _b64(edited) + "." + mac)
    dropped = json.dumps([values, score, entry_id, None]).encode()
    with pytest.raises(BadRequest):
        _page(service, 1, _b64(dropped) + "." + mac)


def test_leave_out_keeps_scores_with_their_items_and_stops_after_the_last_kept() -> None:
    items = [{"id": f"s/{c}"} for c in "abcdef"]
    selection = Selection(items=items, total=6, scores=(6.0, 5.0, 4.0, 3.0, 2.0, 1.0), more=False)
    walked = leave_out(selection, {"s/a", "s/c", "s/e"}, limit=2, asked=6)
    assert [i["id"] for i in walked.selection.items] == ["s/b", "s/d"]
    assert walked.selection.scores == (5.0, 3.0)
    assert walked.last == {"id": "s/d"} and walked.last_score == 3.0
    assert walked.selection.more  # s/f follows, unchanged
    rest = leave_out(selection, {"s/a", "s/c", "s/e", "s/f"}, limit=2, asked=6)
    assert not rest.selection.more


class _UnreadableLog(FakeChangeLog):
    """A log whose file went bad: every read fails (decision 195)."""

    def head(self) -> int:
        raise StorageError("The change log cannot be read.")

    def epoch(self) -> str:
        raise StorageError("The change log cannot be read.")


def test_a_first_page_is_answered_when_the_change_log_cannot_be_read() -> None:
    # A listing never fails for the log's sake: its cursor then walks on the keyset alone.
    store = FakeEntryStore()
    store.create({f"s/e{n}": {"rank": n} for n in range(5)})
    service = _service(store, _UnreadableLog())
    ids, meta = _page(service, 2)
    assert ids == ["s/e0", "s/e1"]
    assert meta.next is not None
    assert _page(service, 2, meta.next)[0] == ["s/e2", "s/e3"]
