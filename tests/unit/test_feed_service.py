"""The change feed's service: parameters, pages, cursors and the retention, over the fake log."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flextype_core.changes import NewChange, format_cursor
from flextype_core.errors import BadRequest, ResyncRequired, StorageError
from flextype_core.feed import ChangesService, parse_wait
from tests.unit.fakes import FixedClock
from tests.unit.feed_fakes import FakeChangeLog

DAY = 86_400


def _world() -> tuple[FakeChangeLog, ChangesService, FixedClock]:
    clock = FixedClock()
    log = FakeChangeLog(clock=clock.now)
    return log, ChangesService(log, clock, retention_days=30), clock


def _update(change_id: str, kind: Any = "entry") -> NewChange:
    return NewChange(op="update", type=kind, id=change_id, etag=f'"{change_id}"')


def _ids(page: Any) -> list[str]:
    return [c.id for c in page.changes]


def test_without_since_the_feed_starts_at_the_oldest_change_kept() -> None:
    log, feed, _ = _world()
    log.append([_update("a"), _update("b")])
    page = feed.page()
    assert _ids(page) == ["a", "b"]
    assert page.next == format_cursor(log.epoch(), 2)
    assert page.more is False
    assert [c.cursor for c in page.changes] == [format_cursor(log.epoch(), p) for p in (1, 2)]


def test_following_next_reads_each_change_once_then_an_empty_page_that_stays_put() -> None:
    log, feed, _ = _world()
    log.append([_update(f"e{i}") for i in range(5)])
    first = feed.page(limit="2")
    assert (_ids(first), first.more) == (["e0", "e1"], True)
    second = feed.page(since=first.next, limit=2)
    assert (_ids(second), second.more) == (["e2", "e3"], True)
    third = feed.page(since=second.next, limit="2")
    assert (_ids(third), third.more) == (["e4"], False)
    empty = feed.page(since=third.next)
    assert (_ids(empty), empty.next) == ([], third.next)


def test_now_skips_what_is_there_and_sees_what_comes_next() -> None:
    log, feed, _ = _world()
    log.append([_update("old")])
    now = feed.page(since="now")
    assert _ids(now) == []
    assert now.next == feed.head_cursor() == format_cursor(log.epoch(), 1)
    log.append([_update("new")])
    assert _ids(feed.page(since=now.next)) == ["new"]


def test_now_on_an_empty_log_names_position_zero() -> None:
    log, feed, _ = _world()
    assert feed.page(since="now").next == format_cursor(log.epoch(), 0)


@pytest.mark.parametrize("limit", [0, "0", 1001, "1001", "ten", "1.5", "-1", True, 2.0, ["5"]])
def test_a_limit_outside_1_to_1000_is_a_bad_request(limit: object) -> None:
    _, feed, _ = _world()
    with pytest.raises(BadRequest, match="'limit' must be a whole number from 1 to 1000"):
        feed.query(limit=limit)


def test_the_limit_defaults_to_100_and_takes_1000() -> None:
    _, feed, _ = _world()
    assert feed.query().limit == 100
    assert feed.query(limit="1000").limit == 1000
    assert feed.query(limit=1).limit == 1


@pytest.mark.parametrize("since", ["42", "abc-", "ABC-1", {"a": "b"}, ["x"]])
def test_what_is_not_a_cursor_is_a_bad_request(since: object) -> None:
    _, feed, _ = _world()
    with pytest.raises(BadRequest):
        feed.query(since=since)


def test_a_cursor_of_another_log_is_resync_required() -> None:
    log, feed, _ = _world()
    other = FakeChangeLog()
    other.append([_update("a")])
    log.append([_update("a")])
    with pytest.raises(ResyncRequired, match="another change log"):
        feed.query(since=format_cursor(other.epoch(), 1))


def test_a_cursor_beyond_the_head_was_not_issued_and_is_resync_required() -> None:
    log, feed, _ = _world()
    log.append([_update("a")])
    assert feed.query(since=format_cursor(log.epoch(), 1)).after == 1
    with pytest.raises(ResyncRequired, match="ahead of the change log"):
        feed.query(since=format_cursor(log.epoch(), 2))


def test_the_purge_removes_what_is_older_than_the_retention_and_its_cursors_are_gone() -> None:
    log, feed, clock = _world()
    log.append([_update("old")])
    stale = feed.head_cursor()
    clock.advance(20 * DAY)
    log.append([_update("kept")])
    assert feed.purge() == 0
    clock.advance(11 * DAY)
    assert feed.purge() == 1
    assert _ids(feed.page()) == ["kept"]
    assert _ids(feed.page(since=stale)) == ["kept"]  # the cursor of the last purged: no gap
    with pytest.raises(ResyncRequired, match="no longer kept"):
        feed.query(since=format_cursor(log.epoch(), 0))


def test_a_purge_that_passes_a_reader_between_its_check_and_its_read_is_resync_required() -> None:
    log, feed, clock = _world()
    log.append([_update("a")])
    query = feed.query(since=format_cursor(log.epoch(), 0))
    clock.advance(31 * DAY)
    feed.purge()
    with pytest.raises(ResyncRequired, match="no longer kept"):
        feed.read(query)


def test_a_reader_from_the_oldest_follows_the_floor_as_it_moves() -> None:
    log, feed, clock = _world()
    log.append([_update("a")])
    query = feed.query()
    clock.advance(31 * DAY)
    log.append([_update("b")])
    feed.purge()
    assert _ids(feed.read(query)) == ["b"]


def test_the_id_filter_takes_the_id_what_lies_below_and_moves_out_of_it() -> None:
    log, feed, _ = _world()
    log.append(
        [
            _update("movies"),
            _update("movies/dune"),
            _update("movies-old/heat"),
            NewChange(op="move", type="entry", id="archive/up", from_id="movies/up", etag='"x"'),
            _update("movies/dune.jpg", "media"),
        ]
    )
    page = feed.page(id_prefix="movies")
    assert _ids(page) == ["movies", "movies/dune", "archive/up", "movies/dune.jpg"]
    assert page.changes[2].from_id == "movies/up"
    assert _ids(feed.page(id_prefix="movies/dune.jpg")) == ["movies/dune.jpg"]
    assert len(feed.page(id_prefix="").changes) == 5


@pytest.mark.parametrize("prefix", ["a//b", "../etc", "/movies", "a\\b", "movies/", "x" * 300, 5])
def test_an_id_that_is_no_entry_or_media_id_is_a_bad_request(prefix: object) -> None:
    _, feed, _ = _world()
    with pytest.raises(BadRequest, match="'id'"):
        feed.query(id_prefix=prefix)


def test_the_types_filter_takes_a_comma_list_or_a_list() -> None:
    log, feed, _ = _world()
    log.append([_update("a"), _update("b.png", "media")])
    assert _ids(feed.page(types="media")) == ["b.png"]
    assert _ids(feed.page(types="entry")) == ["a"]
    assert _ids(feed.page(types="entry, media")) == ["a", "b.png"]
    assert _ids(feed.page(types=["media", "entry"])) == ["a", "b.png"]
    skipped = feed.page(types="media", since=format_cursor(log.epoch(), 1))
    assert skipped.next == format_cursor(log.epoch(), 2)


@pytest.mark.parametrize("types", ["foo", "entry,foo", ",", ["entry", 3], 7])
def test_an_unknown_type_is_a_bad_request(types: object) -> None:
    _, feed, _ = _world()
    with pytest.raises(BadRequest, match="'types' must be"):
        feed.query(types=types)


@pytest.mark.parametrize(("text", "seconds"), [(None, 0), ("", 0), ("0", 0), ("60", 60)])
def test_wait_takes_seconds_from_0_to_60(text: object, seconds: float) -> None:
    assert parse_wait(text) == seconds
    assert parse_wait("0.25") == 0.25
    assert parse_wait(12) == 12


@pytest.mark.parametrize("text", ["61", "60.5", "-1", "1e1", "inf", "nan", "x", " 1", True, [1]])
def test_wait_outside_0_to_60_is_a_bad_request(text: object) -> None:
    with pytest.raises(BadRequest, match="'wait' must be a number of seconds from 0 to 60"):
        parse_wait(text)


_KINDS = st.sampled_from(["entry", "media"])
_IDS = st.sampled_from(["a", "a/b", "a/c", "b", "b/a"])
_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.lists(st.tuples(_IDS, _KINDS), min_size=1, max_size=4)),
        st.tuples(st.just("read"), st.integers(1, 4)),
    ),
    max_size=40,
)


@given(
    steps=_STEPS,
    prefix=st.sampled_from([None, "a", "b/a"]),
    types=st.sampled_from(["entry", "media", "entry,media"]),
)
def test_following_next_never_skips_or_repeats_a_change_while_writes_go_on(
    steps: list[Any], prefix: str | None, types: str
) -> None:
    log, feed, _ = _world()
    written: list[tuple[str, str]] = []
    seen: list[tuple[str, str]] = []
    cursor: str | None = None
    for step, arg in [*steps, ("read", 1000)]:
        if step == "append":
            log.append([_update(i, k) for i, k in arg])
            written += arg
        else:
            page = feed.page(since=cursor, limit=arg, id_prefix=prefix, types=types)
            seen += [(c.id, c.type) for c in page.changes]
            cursor = page.next
    wanted = [
        (i, k)
        for i, k in written
        if k in types.split(",") and (prefix is None or i == prefix or i.startswith(prefix + "/"))
    ]
    assert seen == wanted


class _Unreadable(FakeChangeLog):
    """A log whose file is damaged: every read fails (its epoch was read before)."""

    def floor(self) -> int:
        raise StorageError("The change log cannot be read: SQLITE_NOTADB.")


def test_check_reads_the_log_and_raises_when_it_cannot_be_read() -> None:
    log, feed, _ = _world()
    log.append([_update("a")])
    feed.check()
    clock = FixedClock()
    broken = ChangesService(_Unreadable(clock=clock.now), clock)
    with pytest.raises(StorageError, match="SQLITE_NOTADB"):
        broken.check()
