"""Every kind of write, through the services the container builds, appends its changes.

Exactly the changes api.md section 11 documents, in order: one per entry (or media file)
a write creates, updates, moves, copies or deletes, a subtree's root first, then by id;
``from_id`` for moves and copies, no etag for deletes, and each etag the one a GET of
the id then answers. On every storage driver (``PROJECTS``: one entry adds one), with
media on disk and in a bucket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from flextype_adapters.change_records import ChangeNotLoggedError
from flextype_adapters.sqlite_changes import CHANGES_FILE, SqliteChangeLog
from flextype_core.changes import ChangeLog, NewChange
from flextype_core.errors import Conflict, EntryNotFound, PreconditionFailed, StorageError
from flextype_core.media import MediaService
from flextype_entrypoints.container import build_container
from tests.http_client import ApiClient, Project, ProjectFactory, assert_error, serve
from tests.images import encode, gradient
from tests.integration.postgres_support import new_schema, pg_init
from tests.media_drivers import MEDIA_DRIVERS, use_bucket

Made = Callable[[pytest.FixtureRequest, Path], AbstractContextManager[Project]]


def _file_driver(driver: str) -> Made:
    @contextmanager
    def made(request: pytest.FixtureRequest, path: Path) -> Iterator[Project]:
        projects: ProjectFactory = request.getfixturevalue("projects")
        yield projects(path, driver, demo=False)

    return made


@contextmanager
def _postgres(request: pytest.FixtureRequest, path: Path) -> Iterator[Project]:
    url: str = request.getfixturevalue("postgres_url")
    with new_schema(url) as schema:
        made = pg_init(path, url, schema, "--no-demo")
        yield Project(made.path, made.token, made.access_token)


PROJECTS: dict[str, Made] = {
    "yaml": _file_driver("yaml"),
    "tinydb": _file_driver("tinydb"),
    "postgres": _postgres,
}
"""How to make an empty project on each storage driver with a change log."""

PNG = encode(gradient((8, 8)), "PNG")


@pytest.fixture(params=list(PROJECTS))
def feed_project(
    request: pytest.FixtureRequest, tmp_path: Path, media_driver: str
) -> Iterator[Project]:
    with PROJECTS[request.param](request, tmp_path / "site") as made:
        if media_driver == "s3":
            use_bucket(made.path, request.getfixturevalue("s3_settings"))
        yield made


@pytest.fixture
def api(feed_project: Project) -> Iterator[ApiClient]:
    with serve(feed_project) as client:
        yield client


class Feed:
    """The changes appended since the last look, as (op, type, id, from_id, etag)."""

    def __init__(self, api: ApiClient) -> None:
        log = api.container.change_log()
        assert log is not None
        self.log: ChangeLog = log
        self.last = self.log.head()

    def new(self) -> list[tuple[Any, ...]]:
        page = self.log.read(self.last, 1000)
        assert not page.more
        self.last = page.last
        return [(c.op, c.type, c.id, c.from_id, c.etag) for c in page.changes]


@pytest.fixture
def feed(api: ApiClient) -> Feed:
    return Feed(api)


def etag(api: ApiClient, entry_id: str) -> str:
    """The ETag a GET of the entry answers."""
    response = api.fetch(entry_id)
    assert response.status_code == 200
    return str(response.headers["etag"])


def media_etag(api: ApiClient, file_id: str) -> str:
    response = api.get("media/files", {"id": file_id})
    assert response.status_code == 200
    return str(response.headers["etag"])


# -- entries -------------------------------------------------------------------------------


def test_a_create_an_update_and_a_delete_give_one_change_each(api: ApiClient, feed: Feed) -> None:
    entries = api.container.entries()
    entries.create("movies", {"title": "Movies"})
    assert feed.new() == [("create", "entry", "movies", None, etag(api, "movies"))]
    entries.update("movies", {"title": "Films", "n": [1, {"a": None}]})
    assert feed.new() == [("update", "entry", "movies", None, etag(api, "movies"))]
    entries.delete("movies")
    assert feed.new() == [("delete", "entry", "movies", None, None)]


def _subtree(api: ApiClient) -> None:
    entries = api.container.entries()
    for entry_id in ("a", "a/x", "a/x/deep", "a/b", "a-b"):
        entries.create(entry_id, {"title": entry_id})


def test_a_subtree_move_gives_one_move_per_entry_with_its_new_etag(
    api: ApiClient, feed: Feed
) -> None:
    _subtree(api)
    feed.new()
    api.container.entries().move("a", "z/a")
    assert feed.new() == [
        ("move", "entry", new, old, etag(api, new))
        for old, new in [
            ("a", "z/a"),
            ("a/b", "z/a/b"),
            ("a/x", "z/a/x"),
            ("a/x/deep", "z/a/x/deep"),
        ]
    ]


def test_a_subtree_copy_gives_one_copy_per_entry_from_its_source(
    api: ApiClient, feed: Feed
) -> None:
    _subtree(api)
    feed.new()
    api.container.entries().copy("a/x", "c")
    assert feed.new() == [
        ("copy", "entry", "c", "a/x", etag(api, "c")),
        ("copy", "entry", "c/deep", "a/x/deep", etag(api, "c/deep")),
    ]
    assert etag(api, "c") != etag(api, "a/x")  # a new uuid: another representation


def test_a_subtree_delete_gives_one_tombstone_per_entry_deleted(api: ApiClient, feed: Feed) -> None:
    _subtree(api)
    entries = api.container.entries()
    entries.create("only/below", {"title": "no entry at 'only'"})
    feed.new()
    entries.delete("a")
    assert feed.new() == [
        ("delete", "entry", gone, None, None) for gone in ["a", "a/b", "a/x", "a/x/deep"]
    ]
    entries.delete("only")
    assert feed.new() == [("delete", "entry", "only/below", None, None)]
    assert entries.fetch("a-b")["title"] == "a-b"


def test_a_refused_write_appends_nothing(api: ApiClient, feed: Feed) -> None:
    entries = api.container.entries()
    entries.create("a", {"title": "A"})
    entries.create("b", {"title": "B"})
    feed.new()
    with pytest.raises(Conflict):
        entries.create("a", {"title": "again"})
    with pytest.raises(PreconditionFailed):
        entries.update("a", {"title": "x"}, if_match='"stale"')
    with pytest.raises(Conflict):
        entries.move("a", "b")
    with pytest.raises(PreconditionFailed):
        entries.delete("a", if_match='"stale"')
    with pytest.raises(EntryNotFound):
        entries.delete("missing")
    assert feed.new() == []


# -- media ---------------------------------------------------------------------------------


def _upload(media: MediaService, folder: str, name: str, **options: Any) -> str:
    with media.stage() as upload:
        upload.write(PNG)
        return str(media.upload(folder, name, upload, **options)["id"])


@pytest.mark.parametrize("media_driver", MEDIA_DRIVERS)
def test_an_upload_a_replace_and_metadata_writes_give_one_change_each(
    api: ApiClient, feed: Feed
) -> None:
    media = api.container.media()
    file_id = _upload(media, "pics", "one.png")
    assert feed.new() == [("create", "media", "pics/one.png", None, media_etag(api, file_id))]
    _upload(media, "pics", "one.png", replace=True)
    assert feed.new() == [("update", "media", file_id, None, media_etag(api, file_id))]
    media.add_meta(file_id, "alt", "a gradient")
    assert feed.new() == [("update", "media", file_id, None, media_etag(api, file_id))]
    media.update_meta(file_id, "alt", "still a gradient")
    media.delete_meta(file_id, "alt")
    after = media_etag(api, file_id)
    assert [change[:3] for change in feed.new()] == [("update", "media", file_id)] * 2
    with pytest.raises(Conflict):
        _upload(media, "pics", "one.png")
    assert feed.new() == []
    assert media_etag(api, file_id) == after


@pytest.mark.parametrize("media_driver", MEDIA_DRIVERS)
def test_a_file_move_copy_and_delete_give_one_change_each(api: ApiClient, feed: Feed) -> None:
    media = api.container.media()
    _upload(media, "pics", "one.png")
    feed.new()
    media.move("pics/one.png", "other/two.png")
    assert feed.new() == [
        ("move", "media", "other/two.png", "pics/one.png", media_etag(api, "other/two.png"))
    ]
    media.copy("other/two.png", "pics/three.png")
    assert feed.new() == [
        ("copy", "media", "pics/three.png", "other/two.png", media_etag(api, "pics/three.png"))
    ]
    media.delete("other/two.png")
    assert feed.new() == [("delete", "media", "other/two.png", None, None)]


@pytest.mark.parametrize("media_driver", MEDIA_DRIVERS)
def test_a_folder_write_gives_one_change_per_file_and_none_for_the_folder(
    api: ApiClient, feed: Feed
) -> None:
    media = api.container.media()
    media.create_folder("empty")
    assert feed.new() == []
    for folder, name in [("f", "b.png"), ("f", "a.png"), ("f/sub", "c.png"), ("f-x", "d.png")]:
        _upload(media, folder, name)
    feed.new()
    media.move_folder("f", "g/f")
    moved = [("f/a.png", "g/f/a.png"), ("f/b.png", "g/f/b.png"), ("f/sub/c.png", "g/f/sub/c.png")]
    assert feed.new() == [("move", "media", new, old, media_etag(api, new)) for old, new in moved]
    media.copy_folder("g/f", "h")
    copied = [("g/f/a.png", "h/a.png"), ("g/f/b.png", "h/b.png"), ("g/f/sub/c.png", "h/sub/c.png")]
    assert feed.new() == [("copy", "media", new, old, media_etag(api, new)) for old, new in copied]
    media.delete_folder("g")
    assert feed.new() == [("delete", "media", old, None, None) for _, old in moved]
    media.delete_folder("empty")
    assert feed.new() == []


@pytest.mark.parametrize("driver", ["yaml", "tinydb"])
def test_a_file_driver_project_has_one_log_file_every_process_shares(
    tmp_path: Path, driver: str
) -> None:
    environ = {"FLEXTYPE_STORAGE__DRIVER": driver}
    container = build_container(tmp_path, environ)
    log = container.change_log()
    assert isinstance(log, SqliteChangeLog) and log is container.change_log()
    assert log.path == tmp_path.resolve() / CHANGES_FILE
    container.entries().create("a", {"title": "A"})
    container.shutdown_resources()
    another = build_container(tmp_path, environ).change_log()  # as another process's
    assert another is not None
    assert [(c.op, c.id) for c in another.read(0, 10).changes] == [("create", "a")]
    assert another.epoch() == log.epoch()


class RefusingLog(SqliteChangeLog):
    """The file drivers' log, refusing appends while ``refuse`` is set (a full disk)."""

    refuse = False

    def append(self, changes: Sequence[NewChange]) -> None:
        if self.refuse:
            raise StorageError("The change log cannot be written: SQLITE_FULL.")
        super().append(changes)


@pytest.mark.parametrize("media_driver", MEDIA_DRIVERS)
def test_what_the_log_refused_is_logged_by_the_stores_next_write(
    request: pytest.FixtureRequest, tmp_path: Path, media_driver: str
) -> None:
    """TinyDB and media have no sweep: what a write the log refused changed is logged
    by the store's next write, as it then is (the write itself answered an error)."""
    projects: ProjectFactory = request.getfixturevalue("projects")
    made = projects(tmp_path / "site", "tinydb", demo=False)
    if media_driver == "s3":
        use_bucket(made.path, request.getfixturevalue("s3_settings"))
    log = RefusingLog(made.path / CHANGES_FILE)
    container = build_container(made.path, {})
    container.change_log.override(providers.Object(log))
    with serve(made, container=container) as api:
        entries, media = api.container.entries(), api.container.media()
        for entry_id in ("kept", "edited", "gone", "again"):
            entries.create(entry_id, {"title": entry_id})
        _upload(media, "pics", "edited.png")
        _upload(media, "pics", "gone.png")
        feed = Feed(api)

        log.refuse = True
        response = api.send("POST", "entries", {"id": "new", "data": {"title": "New"}})
        assert "could not record" in assert_error(response, 500, "InternalError")["message"]
        for write in (
            lambda: entries.update("new", {"title": "New, and changed"}),  # still a create
            lambda: entries.update("edited", {"title": "Edited"}),
            lambda: entries.update("again", {"title": "Again"}),
            lambda: entries.delete("gone"),
            lambda: entries.move("kept", "moved"),
            lambda: _upload(media, "pics", "new.png"),
            lambda: media.add_meta("pics/edited.png", "alt", "edited"),
            lambda: media.delete("pics/gone.png"),
        ):
            with pytest.raises(ChangeNotLoggedError, match="SQLITE_FULL"):
                write()
        log.refuse = False
        assert feed.new() == []

        entries.update("again", {"title": "Again, and logged"})
        assert feed.new() == [
            ("update", "entry", "edited", None, etag(api, "edited")),
            ("delete", "entry", "gone", None, None),
            ("delete", "entry", "kept", None, None),
            ("create", "entry", "moved", None, etag(api, "moved")),
            ("create", "entry", "new", None, etag(api, "new")),
            # Refused, then written again: logged once, as this write left it.
            ("update", "entry", "again", None, etag(api, "again")),
        ]
        _upload(media, "pics", "other.png")
        assert feed.new() == [
            ("update", "media", "pics/edited.png", None, media_etag(api, "pics/edited.png")),
            ("delete", "media", "pics/gone.png", None, None),
            ("create", "media", "pics/new.png", None, media_etag(api, "pics/new.png")),
            ("create", "media", "pics/other.png", None, media_etag(api, "pics/other.png")),
        ]
        entries.create("last", {"title": "Last"})
        assert feed.new() == [("create", "entry", "last", None, etag(api, "last"))]
