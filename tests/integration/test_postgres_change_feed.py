"""The change feed's log on PostgreSQL (``PostgresChangeLog``), on a real server.

Every write kind through the core services of a postgres project gives the documented
changes (api.md section 11), with the ETag GET answers; the filters; purges and the
floor; the log's name across reconnects and migrations; reads as the reference fake
answers. The ordering guarantee is in ``test_postgres_change_order``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flextype_adapters.postgres.changes import PostgresChangeLog
from flextype_adapters.postgres.database import (
    SCHEMA_VERSION,
    PostgresDatabase,
    Tx,
    apply_migrations,
)
from flextype_adapters.postgres.entries import PostgresEntryStore
from flextype_adapters.postgres.media import PostgresMediaStore
from flextype_core.changes import (
    ALL_TYPES,
    ChangeLog,
    LoggedChange,
    NewChange,
    format_cursor,
    matches,
    parse_cursor,
)
from flextype_core.errors import ResyncRequired, StorageError
from flextype_core.etags import entity_tag
from flextype_entrypoints.project import Project as OpenProject
from flextype_entrypoints.project import open_project
from tests.http_client import ApiClient, Project, serve
from tests.integration.postgres_support import new_schema, pg_init, write_settings
from tests.integration.test_http_media import PNG
from tests.media_drivers import use_bucket
from tests.postgres_change_log import append_to
from tests.programs import flextype
from tests.unit.feed_fakes import FakeChangeLog

Row = tuple[str, str, str, str | None]
"""(op, type, id, from_id) of a change."""


class Site(NamedTuple):
    project: OpenProject
    api: ApiClient
    log: ChangeLog


@pytest.fixture(params=["local", "s3"])
def site(request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str) -> Iterator[Site]:
    """A postgres project (media blobs on disk or in a bucket), served in-process."""
    with new_schema(postgres_url) as schema:
        made = pg_init(tmp_path / "site", postgres_url, schema, "--no-demo")
        if request.param == "s3":
            use_bucket(made.path, request.getfixturevalue("s3_settings"))
        project = open_project(made.path, environ={})
        try:
            container = project.container
            with serve(
                Project(made.path, made.token, made.access_token), container=container
            ) as api:
                log = container.change_log()
                assert isinstance(log, PostgresChangeLog)  # the container's postgres branch
                yield Site(project, api, log)
        finally:
            project.close()


def _etag_of(site: Site, change: LoggedChange) -> str:
    """The ETag GET answers now for the entry or file ``change`` names."""
    path = "entries" if change.type == "entry" else "media/files"
    response = site.api.get(path, {"id": change.id})
    assert response.status_code == 200, response.text
    return str(response.headers["etag"])


def _step(site: Site, write: Callable[[], object]) -> list[Row]:
    """Run ``write``; return the changes it appended, their ETags checked against GET."""
    before = site.log.head()
    started = int(time.time())
    write()
    page = site.log.read(before, 1000)
    assert not page.more
    assert page.last == site.log.head()
    for change in page.changes:
        assert started <= change.at <= time.time()
        if change.op == "delete":
            assert change.etag is None
        else:
            assert change.etag == _etag_of(site, change), change
    return [(c.op, c.type, c.id, c.from_id) for c in page.changes]


def test_every_entry_write_appends_its_documented_changes(site: Site) -> None:
    entries = site.project.entries
    start = site.log.head()
    assert _step(site, lambda: entries.create("movies", {"title": "Movies"})) == [
        ("create", "entry", "movies", None)
    ]
    assert _step(site, lambda: entries.create("movies/dune", {"title": "Dune"})) == [
        ("create", "entry", "movies/dune", None)
    ]
    assert _step(site, lambda: entries.update("movies/dune", {"year": 2021})) == [
        ("update", "entry", "movies/dune", None)
    ]
    assert _step(site, lambda: entries.move("movies", "films")) == [
        ("move", "entry", "films", "movies"),
        ("move", "entry", "films/dune", "movies/dune"),
    ]
    assert _step(site, lambda: entries.copy("films", "archive")) == [
        ("copy", "entry", "archive", "films"),
        ("copy", "entry", "archive/dune", "films/dune"),
    ]
    assert _step(site, lambda: entries.delete("films")) == [
        ("delete", "entry", "films", None),
        ("delete", "entry", "films/dune", None),
    ]
    every = site.log.read(start, 1000).changes
    assert len(every) == 9
    assert [c.position for c in every] == sorted({c.position for c in every})


def _upload(site: Site, folder: str, name: str, *, replace: bool = False) -> None:
    media = site.project.media
    with media.stage() as upload:
        upload.write(PNG)
        media.upload(folder, name, upload, replace=replace)


def test_every_media_write_appends_one_change_per_file(site: Site) -> None:
    media = site.project.media
    assert _step(site, lambda: _upload(site, "gallery", "A.png")) == [
        ("create", "media", "gallery/a.png", None)  # its new folder is not in the feed
    ]
    assert _step(site, lambda: _upload(site, "gallery", "a.png", replace=True)) == [
        ("update", "media", "gallery/a.png", None)
    ]
    for write in (
        lambda: media.add_meta("gallery/a.png", "alt", "A"),
        lambda: media.update_meta("gallery/a.png", "alt", "B"),
        lambda: media.delete_meta("gallery/a.png", "alt"),
    ):
        assert _step(site, write) == [("update", "media", "gallery/a.png", None)]
    assert _step(site, lambda: media.move("gallery/a.png", "pics/a.png")) == [
        ("move", "media", "pics/a.png", "gallery/a.png")
    ]
    assert _step(site, lambda: media.copy("pics/a.png", "pics/b.png")) == [
        ("copy", "media", "pics/b.png", "pics/a.png")
    ]
    assert _step(site, lambda: media.create_folder("pics/inner/deep")) == []
    assert _step(site, lambda: media.move_folder("pics", "photos")) == [
        ("move", "media", "photos/a.png", "pics/a.png"),
        ("move", "media", "photos/b.png", "pics/b.png"),
    ]
    assert _step(site, lambda: media.copy_folder("photos", "backup")) == [
        ("copy", "media", "backup/a.png", "photos/a.png"),
        ("copy", "media", "backup/b.png", "photos/b.png"),
    ]
    assert _step(site, lambda: media.delete("backup/b.png")) == [
        ("delete", "media", "backup/b.png", None)
    ]
    assert _step(site, lambda: media.delete_folder("photos")) == [
        ("delete", "media", "photos/a.png", None),
        ("delete", "media", "photos/b.png", None),
    ]


def test_tokens_and_folders_move_the_head_but_are_never_shown(site: Site) -> None:
    before = site.log.head()
    site.project.tokens.create({"title": "Reader"})
    site.project.media.create_folder("empty")
    head = site.log.head()
    assert head > before
    page = site.log.read(before, 10)
    assert (page.changes, page.last, page.more) == ([], head, False)


# -- filters and pages -------------------------------------------------------------------


@pytest.fixture
def stores(
    pg_database: PostgresDatabase, tmp_path: Path
) -> tuple[PostgresEntryStore, PostgresMediaStore]:
    return PostgresEntryStore(pg_database), PostgresMediaStore(pg_database, tmp_path / "media")


def _add(media: PostgresMediaStore, file_id: str) -> None:
    with media.stage() as upload:
        upload.write(b"x")
        media.add_file(file_id, upload, {"title": file_id}, replace=False)


def test_the_filters_are_those_of_matches_applied_in_sql(
    pg_database: PostgresDatabase, stores: tuple[PostgresEntryStore, PostgresMediaStore]
) -> None:
    entries, media = stores
    entries.create({"blog": {}, "blog/a": {}, "blogs": {}, "blog-x": {}, "news": {}})
    _add(media, "blog/a.png")
    entries.move("blog/a", "news/a")  # out of the prefix: shown under its old id
    entries.copy("news", "blog/news", dict)  # into it: news and news/a copied
    entries.update("blogs", lambda fields: {"n": 1})
    media.move_file("blog/a.png", "other/a.png")
    log = PostgresChangeLog(pg_database)
    every = log.read(0, 1000).changes
    assert len(every) == 11
    prefixes = [None, "", "blog", "blog/a", "news", "other", "nothing", "blog/news/a"]
    types = [ALL_TYPES, frozenset({"entry"}), frozenset({"media"}), frozenset()]
    for id_prefix in prefixes:
        for kinds in types:
            page = log.read(0, 1000, id_prefix=id_prefix, types=kinds)
            expected = [c for c in every if matches(c, id_prefix, kinds)]
            assert page.changes == expected, (id_prefix, kinds)
            assert (page.last, page.more) == (log.head(), False)
    blog = log.read(0, 1000, id_prefix="blog").changes
    assert [(c.op, c.id, c.from_id) for c in blog] == [
        ("create", "blog", None),
        ("create", "blog/a", None),
        ("create", "blog/a.png", None),
        ("move", "news/a", "blog/a"),
        ("copy", "blog/news", "news"),
        ("copy", "blog/news/a", "news/a"),
        ("move", "other/a.png", "blog/a.png"),
    ]


def test_following_last_through_pages_gives_every_change_once(
    pg_database: PostgresDatabase, stores: tuple[PostgresEntryStore, PostgresMediaStore]
) -> None:
    entries, _ = stores
    entries.create({f"e{n}": {"n": n} for n in range(7)})
    entries.create({"other": {}})
    log = PostgresChangeLog(pg_database)
    for limit in (1, 2, 3, 8, 9):
        for id_prefix in (None, "e3"):
            seen: list[LoggedChange] = []
            after = 0
            while True:
                page = log.read(after, limit, id_prefix=id_prefix)
                seen += page.changes
                assert len(page.changes) <= limit
                after = page.last
                if not page.more:
                    break
            assert seen == log.read(0, 100, id_prefix=id_prefix).changes
            assert after == log.head()
    with pytest.raises(ValueError, match="limit"):
        log.read(0, 0)


# -- purges and the floor ------------------------------------------------------------------


def _date(db: PostgresDatabase, positions: list[int], days_ago: int) -> None:
    """Date the changes at ``positions`` ``days_ago`` days back (as if made then)."""

    def work(tx: Tx) -> None:
        tx.execute(
            "UPDATE changes SET at = now() - make_interval(days => %s) WHERE seq = ANY(%s)",
            [days_ago, positions],
        )

    db.run(work)


def test_a_purge_removes_the_oldest_run_of_changes_and_raises_the_floor(
    pg_database: PostgresDatabase, stores: tuple[PostgresEntryStore, PostgresMediaStore]
) -> None:
    entries, _ = stores
    log = PostgresChangeLog(pg_database)
    assert (log.head(), log.floor()) == (0, 0)
    assert log.purge(int(time.time())) == 0  # nothing to purge
    assert log.floor() == 0
    entries.create({"a": {}, "b": {}, "c": {}})
    entries.create({"d": {}})
    first = log.read(0, 10).changes
    _date(pg_database, [c.position for c in first[:2]], 40)
    month_ago = int(time.time()) - 30 * 86400
    assert log.purge(month_ago) == 2
    assert log.floor() == first[1].position
    assert log.read(0, 10).changes == first[2:]
    assert log.head() == first[-1].position
    epoch = log.epoch()
    with pytest.raises(ResyncRequired):
        parse_cursor(format_cursor(epoch, first[0].position), epoch, log.floor())
    assert parse_cursor(format_cursor(epoch, log.floor()), epoch, log.floor()) == log.floor()
    # An old change after a younger one stays until the younger one is old too: a purge
    # removes a run of the oldest positions, never leaves a gap below a kept one.
    _date(pg_database, [first[3].position], 40)
    assert log.purge(month_ago) == 0
    assert log.read(0, 10).changes[0].position == first[2].position
    # Everything purged: the head stays where it was, the floor with it.
    assert log.purge(int(time.time()) + 60) == 2
    assert log.floor() == log.head() == first[-1].position
    page = log.read(0, 10)
    assert (page.changes, page.last, page.more) == ([], first[-1].position, False)
    assert entries.version() == log.floor()  # the entries' version never goes back


def test_a_server_idle_past_a_purge_forgets_what_it_remembers(
    pg_database: PostgresDatabase, postgres_url: str
) -> None:
    other = PostgresDatabase(postgres_url, schema=pg_database.schema, pool_size=2)
    try:
        mine, theirs = PostgresEntryStore(pg_database), PostgresEntryStore(other)
        theirs.create({"a": {"n": 1}})
        pg_database.refresh()
        mine.get("a")
        assert mine.cached("a") is not None
        theirs.update("a", lambda fields: {"n": 2})
        theirs.create({"b": {}})
        PostgresChangeLog(other).purge(int(time.time()) + 60)  # the update's row is gone
        pg_database.refresh()
        assert mine.cached("a") is None
        assert mine.get("a").fields == {"n": 2}
    finally:
        other.close()


# -- the log's name ------------------------------------------------------------------------


def test_the_epoch_is_made_once_and_kept_across_reconnects_and_migrations(
    pg_database: PostgresDatabase, postgres_url: str
) -> None:
    epoch = PostgresChangeLog(pg_database).epoch()
    assert re.fullmatch(r"[a-z0-9]{8}", epoch)
    again = PostgresDatabase(postgres_url, schema=pg_database.schema, pool_size=1)
    try:
        assert again.migrate() == (SCHEMA_VERSION, SCHEMA_VERSION)  # nothing to run
        assert PostgresChangeLog(again).epoch() == epoch
    finally:
        again.close()
    with new_schema(postgres_url) as schema:
        other = PostgresDatabase(postgres_url, schema=schema, pool_size=1)
        try:
            other.migrate()
            assert PostgresChangeLog(other).epoch() != epoch  # another log, another name
        finally:
            other.close()


def test_a_log_whose_name_was_removed_by_hand_says_so(pg_database: PostgresDatabase) -> None:
    log = PostgresChangeLog(pg_database)
    pg_database.run(lambda tx: tx.execute("DELETE FROM changes_meta"))
    for call in (log.epoch, log.head, log.floor, lambda: log.read(0, 10)):
        with pytest.raises(StorageError, match="changes_meta was removed"):
            call()


def test_db_migrate_brings_an_older_log_up_keeping_its_changes(
    tmp_path: Path, postgres_url: str
) -> None:
    with new_schema(postgres_url) as schema:
        with psycopg.connect(postgres_url, autocommit=True) as conn:  # as version 3 left it
            assert apply_migrations(conn, schema, 3) == (0, 3)
            conn.execute(
                "INSERT INTO entries (id, parent, depth, data, body)"
                " VALUES ('a', '', 1, '{}', '{}')"
            )
            conn.execute(
                "INSERT INTO changes (kind, id, op) VALUES"
                " ('entries', 'a', 'create'), ('tokens', 't', 'create')"
            )
        project = write_settings(tmp_path / "site", url=postgres_url, schema=schema)
        done = flextype("db", "migrate", "--project", str(project))
        assert done.stdout.endswith(f"version 3 -> {SCHEMA_VERSION} (migrated).\n")
        with open_project(project, environ={}) as opened:
            log = opened.container.change_log()
            assert log is not None
            assert re.fullmatch(r"[a-z0-9]{8}", log.epoch())
            old = log.read(0, 10).changes
            assert [(c.position, c.op, c.id, c.from_id, c.etag) for c in old] == [
                (1, "create", "a", None, None)
            ]
            assert (log.head(), log.floor()) == (2, 0)
            updated = opened.entries.update("a", {"title": "A"})
            new = log.read(2, 10).changes
            assert [(c.op, c.id, c.etag) for c in new] == [("update", "a", entity_tag(updated))]
            epoch = log.epoch()
        flextype("db", "migrate", "--project", str(project))
        with open_project(project, environ={}) as opened:
            again = opened.container.change_log()
            assert again is not None and again.epoch() == epoch


# -- against the reference fake ------------------------------------------------------------

_IDS = st.sampled_from(["a", "a/b", "a/b/c", "ab", "b", "b/a"])
_CHANGES = st.builds(
    NewChange,
    op=st.sampled_from(["create", "update", "move", "copy", "delete"]),
    type=st.sampled_from(["entry", "media"]),
    id=_IDS,
    from_id=st.none() | _IDS,
    etag=st.none() | st.just('"e"'),
)
_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.lists(_CHANGES, max_size=4)),
        st.tuples(
            st.just("read"),
            st.integers(0, 12),
            st.integers(1, 4),
            st.none() | _IDS,
            st.sampled_from([ALL_TYPES, frozenset({"entry"}), frozenset({"media"})]),
        ),
    ),
    max_size=8,
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=_STEPS)
def test_reads_answer_as_the_reference_fake_does(
    pg_database: PostgresDatabase, steps: list[tuple[Any, ...]]
) -> None:
    log, append = PostgresChangeLog(pg_database), append_to(pg_database)
    fake = FakeChangeLog()
    base = log.head()  # positions run on from earlier examples: compare relative ones
    for step in steps:
        if step[0] == "append":
            append(step[1])
            fake.append(step[1])
            continue
        _, after, limit, id_prefix, types = step
        got = log.read(base + after, limit, id_prefix=id_prefix, types=types)
        want = fake.read(after, limit, id_prefix=id_prefix, types=types)
        assert [
            (c.position - base, c.op, c.type, c.id, c.from_id, c.etag) for c in got.changes
        ] == [(c.position, c.op, c.type, c.id, c.from_id, c.etag) for c in want.changes]
        assert (got.last - base, got.more) == (want.last, want.more)
