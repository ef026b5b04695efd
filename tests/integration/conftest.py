"""Shared fixtures: every storage adapter for the contract suites, a served project for HTTP.

The HTTP fixtures: ``projects`` scaffolds a template per driver once a module, ``project``
is a fresh copy of it for each test (on every driver), ``api`` serves that copy through
``tests.http_client``. A module whose tests want an empty project overrides ``with_demo``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flextype_adapters.indexed_yaml_files import IndexedYamlFilesEntryStore
from flextype_adapters.postgres.database import PostgresDatabase
from flextype_adapters.postgres.entries import PostgresEntryStore
from flextype_adapters.postgres.media import PostgresMediaStore
from flextype_adapters.postgres.tokens import PostgresTokenStore
from flextype_adapters.s3_blobs import S3Blobs
from flextype_adapters.s3_bucket import S3Bucket
from flextype_adapters.s3_uploads import MIN_PART_SIZE
from flextype_adapters.tinydb_store import TinyDBEntryStore, TinyDBTokenStore, open_tinydb
from flextype_adapters.yaml_files import YamlFilesEntryStore
from flextype_adapters.yaml_tokens import YamlFilesTokenStore
from tests.http_client import DRIVERS, ApiClient, Project, ProjectFactory, serve
from tests.media_drivers import StoredMedia, use_bucket
from tests.unit.fakes import FakeEntryStore, FakeTokenStore

# Each store in a folder of its own: a test may ask for several at once (the parity suite).


@pytest.fixture
def fake_store() -> FakeEntryStore:
    return FakeEntryStore()


@pytest.fixture
def yaml_store(tmp_path: Path) -> YamlFilesEntryStore:
    return YamlFilesEntryStore(root=tmp_path / "yaml" / "entries")


@pytest.fixture
def indexed_yaml_store(tmp_path: Path) -> IndexedYamlFilesEntryStore:
    return IndexedYamlFilesEntryStore(root=tmp_path / "indexed-yaml" / "entries")


@pytest.fixture
def tinydb_store(tmp_path: Path) -> Iterator[TinyDBEntryStore]:
    folder = tmp_path / "tinydb"
    folder.mkdir()
    db = open_tinydb(folder / "db.json")
    yield TinyDBEntryStore(db)
    db.close()


@pytest.fixture
def pg_store(pg_database: PostgresDatabase) -> PostgresEntryStore:
    return PostgresEntryStore(pg_database)


@pytest.fixture
def fake_token_store() -> FakeTokenStore:
    return FakeTokenStore()


@pytest.fixture
def yaml_token_store(tmp_path: Path) -> YamlFilesTokenStore:
    return YamlFilesTokenStore(root=tmp_path / "yaml" / "tokens")


@pytest.fixture
def pg_token_store(pg_database: PostgresDatabase) -> PostgresTokenStore:
    return PostgresTokenStore(pg_database)


@pytest.fixture
def pg_media_store(pg_database: PostgresDatabase, tmp_path: Path) -> PostgresMediaStore:
    """A media store on a fresh schema, its bytes in a media folder of its own."""
    return PostgresMediaStore(pg_database, tmp_path / "pg-media")


@pytest.fixture
def pg_s3_media_store(
    pg_database: PostgresDatabase, s3_bucket: S3Bucket, tmp_path: Path
) -> PostgresMediaStore:
    """The same with its blobs in a fresh bucket (parts of the smallest size S3 takes)."""
    blobs = S3Blobs(s3_bucket, part_size=MIN_PART_SIZE)
    return PostgresMediaStore(pg_database, tmp_path / "pg-media", blobs=blobs)


@pytest.fixture
def tinydb_token_store(tmp_path: Path) -> Iterator[TinyDBTokenStore]:
    folder = tmp_path / "tinydb-tokens"
    folder.mkdir()
    db = open_tinydb(folder / "db.json")
    yield TinyDBTokenStore(db)
    db.close()


# -- HTTP: a project per test, on every driver -----------------------------------------------


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> ProjectFactory:
    return ProjectFactory(tmp_path_factory.mktemp("templates"))


@pytest.fixture
def with_demo() -> bool:
    """Whether ``project`` has the demo content; a module overrides it to start empty."""
    return True


@pytest.fixture
def media_driver() -> str:
    """The media driver of ``project``; the media and images modules run on each
    (``tests.media_drivers.MEDIA_DRIVERS``)."""
    return "local"


@pytest.fixture(params=DRIVERS)
def project(
    request: pytest.FixtureRequest,
    projects: ProjectFactory,
    tmp_path: Path,
    with_demo: bool,
    media_driver: str,
) -> Project:
    made = projects(tmp_path / "project", request.param, demo=with_demo)
    if media_driver == "s3":
        # The demo's media stay in the template's folder: this bucket starts empty.
        use_bucket(made.path, request.getfixturevalue("s3_settings"))
    return made


@pytest.fixture
def stored(request: pytest.FixtureRequest, project: Project, media_driver: str) -> StoredMedia:
    """What ``project``'s media driver keeps, read from the storage itself."""
    s3 = request.getfixturevalue("s3_settings") if media_driver == "s3" else None
    return StoredMedia(project.path, media_driver, s3)


@pytest.fixture
def yaml_project(projects: ProjectFactory, tmp_path: Path) -> Project:
    """A demo project on the YAML driver only (for tests of files on disk)."""
    return projects(tmp_path / "project", "yaml")


@pytest.fixture
def api(project: Project) -> Iterator[ApiClient]:
    with serve(project) as client:
        yield client
