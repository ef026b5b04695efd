"""What a server remembers of PostgreSQL rows: kept exact by the change log, or not kept.

``ChangeFeed`` on its own (pure memory), then the stores over two ``PostgresDatabase``
objects on one schema, as two servers would have: a row one remembers is answered by
``cached`` only until a refresh shows another's write to it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import msgspec
import pytest

from flextype_adapters.postgres.database import PostgresDatabase
from flextype_adapters.postgres.entries import PostgresEntryStore
from flextype_adapters.postgres.feed import ChangeFeed
from flextype_adapters.postgres.tokens import PostgresTokenStore
from flextype_core.errors import ServiceUnavailable
from flextype_core.model import CallCount, Token
from flextype_core.ports import TokenStore
from flextype_core.query import Query, parse_options
from tests.integration.postgres_support import held_tables

TOKEN = "feed-test-token-0001"


def _as_port(store: PostgresTokenStore) -> TokenStore:
    return store  # mypy --strict checks the adapter against the port here


# -- ChangeFeed ------------------------------------------------------------------------


def test_nothing_is_remembered_before_the_first_advance() -> None:
    feed = ChangeFeed()
    feed.remember(feed.ticket(), "entries", "a", b"{}", 2)
    assert feed.recall("entries", "a") is None
    feed.advance(feed.mark(), 5, None)
    feed.remember(feed.ticket(), "entries", "a", b"{}", 2)
    assert feed.recall("entries", "a") == b"{}"


def test_an_advance_forgets_the_rows_it_names_and_keeps_the_others() -> None:
    feed = ChangeFeed()
    feed.advance(feed.mark(), 1, None)
    for key in ("a", "b"):
        feed.remember(feed.ticket(), "entries", key, key.encode(), 1)
    feed.remember(feed.ticket(), "tokens", "a", b"token", 5)
    feed.advance(feed.mark(), 3, [("entries", "a"), ("media", "b")])
    assert feed.recall("entries", "a") is None
    assert feed.recall("entries", "b") == b"b"
    assert feed.recall("tokens", "a") == b"token"
    assert feed.position == 3


def test_a_row_read_while_the_feed_moved_is_not_kept() -> None:
    feed = ChangeFeed()
    feed.advance(feed.mark(), 1, None)
    ticket = feed.ticket()  # the read begins ...
    feed.advance(feed.mark(), 2, [("entries", "a")])  # ... a change of it is applied meanwhile ...
    feed.remember(ticket, "entries", "a", b"old", 3)  # ... the read may predate it
    assert feed.recall("entries", "a") is None
    ticket = feed.ticket()
    feed.forget([("entries", "a")])  # this process wrote it meanwhile
    feed.remember(ticket, "entries", "a", b"old", 3)
    assert feed.recall("entries", "a") is None


def test_an_advance_that_went_nowhere_keeps_reads_in_flight() -> None:
    feed = ChangeFeed()
    feed.advance(feed.mark(), 4, None)
    ticket = feed.ticket()
    feed.advance(feed.mark(), 4, [])
    feed.remember(ticket, "entries", "a", b"x", 1)
    assert feed.recall("entries", "a") == b"x"


def test_a_read_of_the_log_ending_after_a_newer_one_forgets_but_keeps_the_position() -> None:
    feed = ChangeFeed()
    feed.advance(feed.mark(), 5, None)
    older, newer = feed.mark(), feed.mark()
    feed.advance(newer, 9, [("entries", "a")])
    feed.remember(feed.ticket(), "entries", "b", b"b", 1)
    feed.advance(older, 7, [("entries", "b")])
    assert feed.recall("entries", "b") is None
    assert feed.position == 9


def test_a_read_begun_before_everything_was_forgotten_does_not_move_the_position() -> None:
    feed = ChangeFeed()
    feed.advance(feed.mark(), 5, None)
    before = feed.mark()
    feed.advance(feed.mark(), 3, [])  # the log restarted below 5: all forgotten
    feed.remember(feed.ticket(), "entries", "a", b"a", 1)
    feed.advance(before, 9, [("entries", "a")])
    assert feed.recall("entries", "a") is None
    assert feed.position == 3


def test_rows_read_with_the_log_renew_remembered_ones_only_when_newest() -> None:
    feed = ChangeFeed()
    feed.advance(feed.mark(), 1, None)
    feed.remember(feed.ticket(), "tokens", "t", ("old",), 1)
    older = feed.mark()
    renewed = {("tokens", "t"): ("new",), ("tokens", "u"): ("unknown",)}
    feed.advance(feed.mark(), 3, [("tokens", "t"), ("tokens", "u")], renewed)
    assert feed.recall("tokens", "t") == ("new",)
    assert feed.recall("tokens", "u") is None  # not remembered before: not added
    feed.advance(older, 2, [("tokens", "t")], {("tokens", "t"): ("stale",)})
    assert feed.recall("tokens", "t") is None  # an older read: forgets, renews nothing


@pytest.mark.parametrize(("top", "changed"), [(9, None), (2, [])])
def test_unknown_changes_or_a_restarted_log_forget_everything(
    top: int, changed: list[tuple[str, str]] | None
) -> None:
    feed = ChangeFeed()
    feed.advance(feed.mark(), 5, None)
    feed.remember(feed.ticket(), "entries", "a", b"x", 1)
    feed.advance(feed.mark(), top, changed)
    assert feed.recall("entries", "a") is None
    assert feed.position == top


def test_memory_is_bounded_in_rows_and_in_row_size() -> None:
    feed = ChangeFeed(size=2, max_bytes=10)
    feed.advance(feed.mark(), 1, None)
    for key in ("a", "b", "c"):
        feed.remember(feed.ticket(), "entries", key, key, 1)
    feed.remember(feed.ticket(), "entries", "big", "big", 11)
    assert [feed.recall("entries", k) for k in ("a", "b", "c", "big")] == [None, "b", "c", None]


def test_a_kind_that_follows_another_is_forgotten_whole_when_that_one_changes() -> None:
    feed = ChangeFeed(follows={"answers": ("entries",)}, sizes={"answers": 1})
    feed.advance(feed.mark(), 1, None)
    feed.remember(feed.ticket(), "answers", b"q1", "first", 1)
    feed.remember(feed.ticket(), "answers", b"q2", "second", 1)  # one kept: the oldest goes
    feed.remember(feed.ticket(), "entries", "a", b"a", 1)
    assert feed.recall("answers", b"q1") is None
    assert feed.recall("answers", b"q2") == "second"
    feed.advance(feed.mark(), 2, [("tokens", "t")])
    assert feed.recall("answers", b"q2") == "second"
    feed.advance(feed.mark(), 3, [("entries", "elsewhere")])
    assert feed.recall("answers", b"q2") is None
    assert feed.recall("entries", "a") == b"a"
    feed.remember(feed.ticket(), "answers", b"q2", "again", 1)
    feed.forget([("entries", "b")])
    assert feed.recall("answers", b"q2") is None


# -- the stores of two servers on one schema ---------------------------------------------


@pytest.fixture
def other(pg_database: PostgresDatabase, postgres_url: str) -> Iterator[PostgresDatabase]:
    """A second PostgresDatabase on the same schema: another server's."""
    database = PostgresDatabase(postgres_url, schema=pg_database.schema)
    yield database
    database.close()


def test_an_entry_is_remembered_until_a_refresh_shows_another_servers_write(
    pg_database: PostgresDatabase, other: PostgresDatabase
) -> None:
    mine, theirs = PostgresEntryStore(pg_database), PostgresEntryStore(other)
    theirs.create({"movies": {}, "movies/dune": {"title": "Dune"}})
    pg_database.refresh()
    assert mine.cached("movies/dune") is None  # never read here
    assert mine.get("movies/dune").fields == {"title": "Dune"}
    assert mine.cached("movies/dune") == mine.get("movies/dune")
    theirs.update("movies/dune", lambda fields: {**fields, "year": 2021})
    pg_database.refresh()
    assert mine.cached("movies/dune") is None
    assert mine.get("movies/dune").fields == {"title": "Dune", "year": 2021}
    theirs.move("movies", "films")
    pg_database.refresh()
    assert mine.cached("movies/dune") is None


def test_a_refresh_awaited_on_an_event_loop_shows_another_servers_write(
    pg_database: PostgresDatabase, other: PostgresDatabase
) -> None:
    mine, theirs = PostgresEntryStore(pg_database), PostgresEntryStore(other)
    theirs.create({"a": {"n": 1}})
    asyncio.run(pg_database.refresh_async())
    mine.get("a")
    assert mine.cached("a") is not None
    theirs.update("a", lambda fields: {"n": 2})
    asyncio.run(pg_database.refresh_async())  # another loop: its own connection
    assert mine.cached("a") is None
    assert mine.get("a").fields == {"n": 2}
    assert mine.cached("a") == mine.get("a")


def test_a_write_through_this_server_forgets_at_once(pg_database: PostgresDatabase) -> None:
    store = PostgresEntryStore(pg_database)
    store.create({"a": {"n": 1}})
    pg_database.refresh()
    store.get("a")
    store.update("a", lambda fields: {"n": 2})
    assert store.cached("a") is None
    store.get("a")
    store.delete("a")
    assert store.cached("a") is None


def test_a_move_forgets_the_old_ids_here_at_once_and_there_at_the_refresh(
    pg_database: PostgresDatabase, other: PostgresDatabase
) -> None:
    # A move is one log row per entry (id: the new id, from_id: the old one): both go.
    mine, theirs = PostgresEntryStore(pg_database), PostgresEntryStore(other)
    mine.create({"a": {"n": 1}, "a/b": {"n": 2}, "c": {"n": 3}})
    pg_database.refresh()
    other.refresh()
    for store in (mine, theirs):
        store.get("a/b")
        store.get("c")
    mine.move("a", "x")
    assert mine.cached("a/b") is None
    assert mine.cached("c") is not None
    assert theirs.cached("a/b") is not None  # not refreshed yet
    other.refresh()
    assert theirs.cached("a/b") is None
    assert theirs.cached("c") is not None
    theirs.get("x/b")
    theirs.get("c")
    mine.move("c", "a")  # into the old place
    other.refresh()
    assert theirs.cached("c") is None
    assert theirs.cached("x/b") is not None


def test_rows_read_inside_an_exclusive_block_are_not_remembered(
    pg_database: PostgresDatabase,
) -> None:
    store = PostgresEntryStore(pg_database)
    store.create({"a": {"n": 1}})
    pg_database.refresh()
    with store.exclusive():
        store.update("a", lambda fields: {"n": 2})
        assert store.get("a").fields == {"n": 2}  # not committed yet: not to be remembered
    assert store.cached("a") is None


def test_a_refresh_past_its_most_changes_forgets_everything(
    pg_database: PostgresDatabase, other: PostgresDatabase
) -> None:
    mine, theirs = PostgresEntryStore(pg_database), PostgresEntryStore(other)
    theirs.create({"a": {"n": 1}})
    pg_database.refresh()
    mine.get("a")
    theirs.create({f"b{n}": {"n": n} for n in range(3)})
    pg_database.refresh(most=3)
    assert mine.cached("a") is None


def test_a_refresh_never_waits_on_a_locked_change_log(
    pg_database: PostgresDatabase, postgres_url: str
) -> None:
    pg_database.refresh()
    with held_tables(postgres_url, pg_database.schema):  # as a migration's DDL would
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable):
            pg_database.refresh()
        with pytest.raises(ServiceUnavailable):
            asyncio.run(pg_database.refresh_async())
        assert time.monotonic() - started < 10.0  # not the 30 s statement timeout
    pg_database.refresh()
    asyncio.run(pg_database.refresh_async())


def _token() -> Token:
    return Token(
        token=TOKEN,
        hashed_access_token="$2b$04$" + "x" * 53,
        uuid="6f1c2a52-0b7e-4c8e-9a51-3f3d5a0d2b11",
        created_at=1,
        modified_at=1,
    )


def test_a_token_remembered_is_renewed_by_a_refresh_after_a_change_or_count(
    pg_database: PostgresDatabase, other: PostgresDatabase
) -> None:
    mine, theirs = _as_port(PostgresTokenStore(pg_database)), PostgresTokenStore(other)
    theirs.create(_token())
    pg_database.refresh()
    assert mine.cached(TOKEN) is None
    assert mine.get(TOKEN).state == "enabled"
    assert mine.cached(TOKEN) == mine.get(TOKEN)
    theirs.update(TOKEN, lambda token: msgspec.structs.replace(token, state="disabled"))
    before = mine.cached(TOKEN)
    assert before is not None
    assert before.state == "enabled"  # not refreshed yet: as read before
    pg_database.refresh()  # another server's change: the row is read anew with the log
    after = mine.cached(TOKEN)
    assert after is not None
    assert after.state == "disabled"
    assert after == mine.get(TOKEN)
    theirs.add_calls({TOKEN: CallCount(calls=3, last_used_at=5)})
    pg_database.refresh()
    renewed = mine.cached(TOKEN)  # a count flush: renewed by the refresh, not forgotten
    assert renewed is not None
    assert (renewed.calls, renewed.last_used_at, renewed.state) == (3, 5, "disabled")
    mine.add_calls({TOKEN: CallCount(calls=1, last_used_at=6)})  # this server's flush
    assert mine.cached(TOKEN) == renewed  # until the next refresh
    pg_database.refresh()
    assert mine.cached(TOKEN) == mine.get(TOKEN)
    assert mine.get(TOKEN).calls == 4
    theirs.delete(TOKEN)
    pg_database.refresh()
    assert mine.cached(TOKEN) is None


def _query() -> Query:
    return parse_options({"filter": {"sort_by": {"key": "n"}, "limit": "2"}})


def test_a_collection_answer_is_never_older_than_another_servers_last_write(
    pg_database: PostgresDatabase, other: PostgresDatabase
) -> None:
    mine, theirs = PostgresEntryStore(pg_database), PostgresEntryStore(other)
    theirs.create({"list": {}, **{f"list/e{n}": {"n": n} for n in range(3)}})
    first = mine.select("list", _query())
    assert mine.select("list", _query()) is first  # remembered: no change since
    theirs.update("list/e2", lambda fields: {"n": -1})
    assert [item["id"] for item in mine.select("list", _query()).items] == ["list/e2", "list/e0"]
    theirs.delete("list/e2")
    assert [item["n"] for item in mine.select("list", _query()).items] == [0, 1]
    before = mine.select("list", _query())
    theirs.create({"elsewhere": {"n": 5}})  # any entry's change: answers are read again
    after = mine.select("list", _query())
    assert after is not before
    assert after == before


def test_answers_differ_by_the_types_of_their_values(pg_database: PostgresDatabase) -> None:
    store = PostgresEntryStore(pg_database)
    store.create({"t": {}, "t/one": {"v": 1}, "t/true": {"v": True}, "t/float": {"v": 1.0}})

    def ids(value: object) -> list[str]:
        where = {"where": [{"key": "v", "operator": "eq", "value": value}]}
        return [item["id"] for item in store.select("t", parse_options({"filter": where})).items]

    # 1 == True == 1.0 in Python, with one hash: as keys of remembered answers they differ.
    assert ids(1) == ["t/float", "t/one", "t/true"]
    assert ids(True) == ["t/true"]
    assert ids(1.0) == ["t/float", "t/one"]
    assert ids(1) == ["t/float", "t/one", "t/true"]


def test_a_collection_answer_inside_an_exclusive_block_is_its_own_and_not_kept(
    pg_database: PostgresDatabase,
) -> None:
    store = PostgresEntryStore(pg_database)
    store.create({"list": {}, "list/a": {"n": 1}})
    with store.exclusive():
        store.create({"list/b": {"n": 0}})
        inside = store.select("list", _query())
        assert [item["id"] for item in inside.items] == ["list/b", "list/a"]
    assert store.select("list", _query()) is not inside
