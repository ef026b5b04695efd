"""The composition root: one container wires adapters to the core's ports from settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from dependency_injector import containers, providers
from tinydb import TinyDB

import flextype_core
from flextype_adapters.bcrypt_hasher import BcryptHasher
from flextype_adapters.derivative_cache import DiskDerivativeCache
from flextype_adapters.file_secrets import SECRETS_FOLDER, FileSecretStore
from flextype_adapters.indexed_yaml_files import IndexedYamlFilesEntryStore
from flextype_adapters.local_media import LocalMediaStore
from flextype_adapters.pillow_images import PillowImageProcessor
from flextype_adapters.sqlite_changes import CHANGES_FILE, SqliteChangeLog
from flextype_adapters.sqlite_search import SEARCH_FILE, SqliteSearchIndex
from flextype_adapters.sqlite_webhooks import DATABASE_FILE as WEBHOOKS_FILE
from flextype_adapters.sqlite_webhooks import SqliteWebhookStore
from flextype_adapters.system import RandomIdFactory, SystemClock, SystemResolver
from flextype_adapters.tinydb_store import TinyDBEntryStore, TinyDBTokenStore, open_tinydb
from flextype_adapters.yaml_tokens import YamlFilesTokenStore
from flextype_core import EntriesService, Registry, TokensService
from flextype_core.changes import ChangeLog
from flextype_core.feed import ChangesService
from flextype_core.images import ImageService
from flextype_core.media import MediaService
from flextype_core.model import Entry
from flextype_core.ports import DerivativeCache, EntryStore, MediaStore, SecretStore, TokenStore
from flextype_core.query.collections import Searcher
from flextype_core.webhook_port import WebhookStore
from flextype_core.webhooks import WebhooksService
from flextype_entrypoints.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from flextype_adapters.postgres.changes import PostgresChangeLog
    from flextype_adapters.postgres.database import PostgresDatabase
    from flextype_adapters.postgres.entries import PostgresEntryStore
    from flextype_adapters.postgres.media import PostgresMediaStore
    from flextype_adapters.postgres.secrets import PostgresSecretStore
    from flextype_adapters.postgres.tokens import PostgresTokenStore
    from flextype_adapters.postgres.webhooks import PostgresWebhookStore
    from flextype_adapters.s3_bucket import S3Bucket
    from flextype_adapters.s3_derivatives import S3DerivativeCache
    from flextype_adapters.s3_media import S3MediaStore

__all__ = ["MANIFEST", "Container", "build_container"]

MANIFEST: dict[str, Any] = {
    "name": "flextype-py",
    "version": flextype_core.__version__,
    "description": "A headless, flat-file CMS served as a REST API.",
    "license": "MIT",
    "homepage": "https://github.com/flextype-py/flextype-py",
}


def _tinydb_file(project: Path) -> Iterator[TinyDB]:
    db = open_tinydb(project / "db.json")
    try:
        yield db
    finally:
        db.close()


def _file_change_log(project: Path) -> Iterator[SqliteChangeLog]:
    log = SqliteChangeLog(project / CHANGES_FILE)
    try:
        yield log
    finally:
        log.close()


def _file_log(log: object) -> SqliteChangeLog | None:
    """The file stores' log: the SQLite one, or None when another stands in for it.

    A test that puts an in-memory log in the container (to append by hand) keeps the
    stores from appending to it, as a staging project's stores append nowhere.
    """
    return log if isinstance(log, SqliteChangeLog) else None


def _yaml_entries(root: Path, changes: SqliteChangeLog | None) -> IndexedYamlFilesEntryStore:
    store = IndexedYamlFilesEntryStore(root, changes=changes)
    if changes is not None:
        # Each read of the feed looks for hand edits when a sweep is due (no query needed).
        changes.on_read(store.watch)
    return store


class _Searchable(Protocol):
    def get(self, entry_id: str) -> Entry: ...

    def descendants(self, entry_id: str, depth: int | None) -> list[Entry]: ...

    def set_search(self, search: Searcher | None) -> None: ...


def _file_search(
    project: Path, entries: _Searchable, changes: SqliteChangeLog | None
) -> Iterator[SqliteSearchIndex | None]:
    """The file stores' full-text index, answering their searches; None without a log.

    Without a change log (a staging project's stores) nothing would keep an index
    current: those stores scan their entries.
    """
    if changes is None:
        yield None
        return
    index = SqliteSearchIndex(project / SEARCH_FILE, entries, changes)
    entries.set_search(index.search)
    try:
        yield index
    finally:
        entries.set_search(None)
        index.close()


def _searched(entries: EntryStore, index: object) -> EntryStore:
    """The store, once its index (``index``, made for it) answers its searches."""
    return entries


def _feed_log(log: ChangeLog | None, entries: object) -> ChangeLog | None:
    """The log a feed reads: with ``entries`` (YAML) made, its reads look for hand edits.

    ``flextype changes`` builds no other store: without this, no read of its log would
    ever look for hand edits (``_yaml_entries`` subscribes the store to the log's reads).
    """
    return log


def _postgres_database(
    settings: Mapping[str, Any], pool_size: int | None = None
) -> Iterator[PostgresDatabase]:
    # Imported here: a project on files never loads psycopg (nor its libpq).
    from flextype_adapters.postgres.database import PostgresDatabase

    db = PostgresDatabase(
        settings["url"],
        schema=settings["schema"],
        pool_size=pool_size or settings["pool_size"],
        pool_timeout=settings["pool_timeout"],
        statement_timeout=settings["statement_timeout"],
        indexes=settings["indexes"],
    )
    try:
        yield db
    finally:
        db.close()


def _postgres_entries(db: PostgresDatabase) -> PostgresEntryStore:
    from flextype_adapters.postgres.entries import PostgresEntryStore

    return PostgresEntryStore(db)


def _postgres_tokens(db: PostgresDatabase) -> PostgresTokenStore:
    from flextype_adapters.postgres.tokens import PostgresTokenStore

    return PostgresTokenStore(db)


def _postgres_secrets(db: PostgresDatabase) -> PostgresSecretStore:
    from flextype_adapters.postgres.secrets import PostgresSecretStore

    return PostgresSecretStore(db)


def _postgres_change_log(db: PostgresDatabase) -> PostgresChangeLog:
    from flextype_adapters.postgres.changes import PostgresChangeLog

    return PostgresChangeLog(db)


def _sqlite_webhooks(project: Path) -> Iterator[SqliteWebhookStore]:
    store = SqliteWebhookStore(project / WEBHOOKS_FILE)
    try:
        yield store
    finally:
        store.close()


def _postgres_webhooks(db: PostgresDatabase) -> PostgresWebhookStore:
    from flextype_adapters.postgres.webhooks import PostgresWebhookStore

    return PostgresWebhookStore(db)


def _postgres_refresh(db: PostgresDatabase) -> Callable[[], Awaitable[None]]:
    return db.refresh_async


def _postgres_media(db: PostgresDatabase, root: Path) -> PostgresMediaStore:
    from flextype_adapters.postgres.media import PostgresMediaStore

    return PostgresMediaStore(db, root)


# The S3 adapters are imported when first used, as psycopg is: a project keeping its
# media on disk never loads boto3.


def _s3_bucket(settings: Mapping[str, Any]) -> S3Bucket:
    from flextype_adapters.s3_bucket import S3Bucket

    # More than the worker threads (anyio's 40) and the uploads' senders together: a
    # smaller pool makes urllib3 discard connections, with a warning each time.
    return S3Bucket.from_settings(settings, max_connections=64)


def _s3_media(
    root: Path, bucket: S3Bucket, part_size: int, changes: SqliteChangeLog | None
) -> S3MediaStore:
    from flextype_adapters.s3_media import S3MediaStore

    return S3MediaStore(root, bucket, part_size=part_size, changes=changes)


def _postgres_s3_media(
    db: PostgresDatabase, root: Path, bucket: S3Bucket, part_size: int
) -> PostgresMediaStore:
    from flextype_adapters.postgres.media import PostgresMediaStore
    from flextype_adapters.s3_blobs import S3Blobs

    return PostgresMediaStore(db, root, blobs=S3Blobs(bucket, part_size=part_size))


def _s3_derivatives(bucket: S3Bucket) -> S3DerivativeCache:
    from flextype_adapters.s3_derivatives import S3DerivativeCache

    return S3DerivativeCache(bucket)


def _redirect_expires(media: Mapping[str, Any]) -> int | None:
    """Seconds of the presigned redirects ``/media/<path>`` answers; None: it streams."""
    s3 = media["s3"]
    if media["driver"] == "s3" and s3["serve"] == "redirect":
        return int(s3["redirect_expires"])
    return None


class Container(containers.DeclarativeContainer):
    """Providers for one project. Build it with ``build_container``, not directly.

    Resources open lazily on first use, so only the selected driver's files are touched;
    ``init_resources()`` would open them all, so it is never called.
    """

    config = providers.Configuration(strict=True)
    project: providers.Dependency[Path] = providers.Dependency(instance_of=Path)

    clock = providers.Singleton(SystemClock)
    id_factory = providers.Singleton(RandomIdFactory)
    hasher = providers.Singleton(BcryptHasher, rounds=config.tokens.hash_rounds)

    entries_root = providers.Callable(Path.joinpath, project, "entries")
    tokens_root = providers.Callable(Path.joinpath, project, "tokens")
    tinydb_file = providers.Resource(_tinydb_file, project=project)
    # One pool per container (per server process), closed by shutdown_resources().
    postgres_database = providers.Resource(_postgres_database, settings=config.storage.postgres)

    # The change log every entry and media write appends to: with the file drivers one
    # SQLite file per project (a connection per thread of each process). None: no log
    # (a staging project's, whose content is swapped in with a new log).
    file_change_log = providers.Resource(_file_change_log, project=project)
    change_log: providers.Provider[ChangeLog | None] = providers.Selector(
        config.storage.driver,
        yaml=file_change_log,
        tinydb=file_change_log,
        # On postgres the stores' own `changes` table, appended in their transactions.
        postgres=providers.Singleton(_postgres_change_log, db=postgres_database),
    )
    appended_log = providers.Callable(_file_log, change_log)

    # The file stores as made; ``entry_store`` gives them with their search index.
    file_entry_store: providers.Provider[Any] = providers.Selector(
        config.storage.driver,
        yaml=providers.Singleton(_yaml_entries, root=entries_root, changes=appended_log),
        tinydb=providers.Singleton(TinyDBEntryStore, db=tinydb_file, changes=appended_log),
    )
    # Full-text search of the file drivers: an FTS5 file under cache/, kept current from
    # the change log (``flextype search reindex`` rebuilds it). None without a log.
    search_index = providers.Resource(
        _file_search, project=project, entries=file_entry_store, changes=appended_log
    )
    entry_store: providers.Provider[EntryStore] = providers.Selector(
        config.storage.driver,
        yaml=providers.Callable(_searched, file_entry_store, search_index),
        tinydb=providers.Callable(_searched, file_entry_store, search_index),
        postgres=providers.Singleton(_postgres_entries, db=postgres_database),
    )
    token_store: providers.Provider[TokenStore] = providers.Selector(
        config.storage.driver,
        yaml=providers.Singleton(YamlFilesTokenStore, root=tokens_root),
        tinydb=providers.Singleton(TinyDBTokenStore, db=tinydb_file),
        postgres=providers.Singleton(_postgres_tokens, db=postgres_database),
    )
    # The keys the server makes itself (cursors): beside the content, not in cache/.
    secret_store: providers.Provider[SecretStore] = providers.Selector(
        config.storage.driver,
        yaml=providers.Singleton(
            FileSecretStore, folder=providers.Callable(Path.joinpath, project, SECRETS_FOLDER)
        ),
        tinydb=providers.Singleton(
            FileSecretStore, folder=providers.Callable(Path.joinpath, project, SECRETS_FOLDER)
        ),
        postgres=providers.Singleton(_postgres_secrets, db=postgres_database),
    )
    # What brings the stores' memory up to the database's change log (a server calls it
    # before answering lookups from memory); None: the file stores need none.
    refresh: providers.Provider[Callable[[], Awaitable[None]] | None] = providers.Selector(
        config.storage.driver,
        yaml=providers.Object(None),
        tinydb=providers.Object(None),
        postgres=providers.Callable(_postgres_refresh, db=postgres_database),
    )

    media_root = providers.Callable(Path.joinpath, project, "media")
    # One bucket (one client and its connection pool) for the media and the derivatives.
    s3_bucket = providers.Singleton(_s3_bucket, settings=config.media.s3)
    # On postgres the metadata and folders are rows; the bytes are blobs in media/.blobs,
    # or in the bucket with media.driver s3.
    media_store: providers.Provider[MediaStore] = providers.Selector(
        config.media.driver,
        local=providers.Selector(
            config.storage.driver,
            yaml=providers.Singleton(LocalMediaStore, root=media_root, changes=appended_log),
            tinydb=providers.Singleton(LocalMediaStore, root=media_root, changes=appended_log),
            postgres=providers.Singleton(_postgres_media, db=postgres_database, root=media_root),
        ),
        s3=providers.Selector(
            config.storage.driver,
            yaml=providers.Singleton(
                _s3_media,
                root=media_root,
                bucket=s3_bucket,
                part_size=config.media.s3.part_size,
                changes=appended_log,
            ),
            tinydb=providers.Singleton(
                _s3_media,
                root=media_root,
                bucket=s3_bucket,
                part_size=config.media.s3.part_size,
                changes=appended_log,
            ),
            postgres=providers.Singleton(
                _postgres_s3_media,
                db=postgres_database,
                root=media_root,
                bucket=s3_bucket,
                part_size=config.media.s3.part_size,
            ),
        ),
    )
    image_processor = providers.Singleton(PillowImageProcessor)
    derivative_cache: providers.Provider[DerivativeCache] = providers.Selector(
        config.media.driver,
        local=providers.Singleton(
            DiskDerivativeCache, root=providers.Callable(Path.joinpath, project, "cache", "images")
        ),
        s3=providers.Singleton(_s3_derivatives, bucket=s3_bucket),
    )

    entries = providers.Singleton(
        EntriesService,
        store=entry_store,
        clock=clock,
        ids=id_factory,
        max_entry_size=config.api.max_entry_size,
        secrets=secret_store,
    )
    media = providers.Singleton(
        MediaService,
        store=media_store,
        clock=clock,
        images=image_processor,
        accept_file_types=config.media.accept_file_types,
        max_file_size=config.media.max_file_size,
        redirect_expires=providers.Callable(_redirect_expires, config.media),
    )
    images = providers.Singleton(
        ImageService,
        store=media_store,
        processor=image_processor,
        cache=derivative_cache,
        clock=clock,
        sign_key=config.images.sign_key,
        max_width=config.images.max_width,
        max_height=config.images.max_height,
        max_source_pixels=config.images.max_source_pixels,
        max_concurrent_renders=config.images.max_concurrent_renders,
    )
    # A Singleton: the service holds the in-memory call counts until they are flushed.
    tokens = providers.Singleton(
        TokensService,
        store=token_store,
        hasher=hasher,
        clock=clock,
        ids=id_factory,
        flush_every=config.tokens.flush_every,
        flush_interval=config.tokens.flush_interval,
    )
    registry = providers.Singleton(Registry, manifest=MANIFEST, settings=config)

    # Webhooks of the file drivers: one SQLite file beside them, whichever of the two.
    sqlite_webhooks = providers.Resource(_sqlite_webhooks, project=project)
    webhook_store: providers.Provider[WebhookStore] = providers.Selector(
        config.storage.driver,
        yaml=sqlite_webhooks,
        tinydb=sqlite_webhooks,
        postgres=providers.Singleton(_postgres_webhooks, db=postgres_database),
    )
    # Deliveries read the log and the webhooks on postgres connections of their own: a
    # worker waiting on the database (a lock, an outage) never holds one a request needs.
    delivery_database = providers.Resource(
        _postgres_database, settings=config.storage.postgres, pool_size=2
    )
    delivery_change_log: providers.Provider[ChangeLog | None] = providers.Selector(
        config.storage.driver,
        yaml=change_log,
        tinydb=change_log,
        postgres=providers.Singleton(_postgres_change_log, db=delivery_database),
    )
    delivery_webhook_store: providers.Provider[WebhookStore] = providers.Selector(
        config.storage.driver,
        yaml=webhook_store,
        tinydb=webhook_store,
        postgres=providers.Singleton(_postgres_webhooks, db=delivery_database),
    )
    resolver = providers.Singleton(SystemResolver)
    webhooks = providers.Singleton(
        WebhooksService,
        store=webhook_store,
        changes=change_log,
        clock=clock,
        ids=id_factory,
        resolver=resolver,
        allow_private_networks=config.webhooks.allow_private_networks,
    )
    changes = providers.Singleton(
        ChangesService,
        log=providers.Selector(
            config.storage.driver,
            yaml=providers.Callable(_feed_log, change_log, entry_store),
            tinydb=change_log,
            postgres=change_log,
        ),
        clock=clock,
        retention_days=config.changes.retention_days,
    )


def build_container(
    project: Path, environ: Mapping[str, str], *, settings: Settings | None = None
) -> Container:
    """Return a container for ``project``, its settings read and validated first.

    Validating with msgspec before the container sees the values is what names a bad key
    (the container itself only fails late, on first use of a provider).

    Raises:
        SettingsError: a setting is unknown or has the wrong type, the postgres driver
            is selected without ``storage.postgres.url``, or the s3 media driver without
            ``media.s3.bucket`` (or with one of its two keys).
    """
    if settings is None:
        settings = load_settings(project, environ)
    if settings.storage.driver == "postgres" and not settings.storage.postgres.url:
        raise SettingsError(
            "storage.driver is postgres but storage.postgres.url is not set: set it in "
            "flextype.yaml or FLEXTYPE_STORAGE__POSTGRES__URL "
            "(postgresql://USER:PASSWORD@HOST:PORT/DATABASE)."
        )
    _check_media(settings)
    container = Container(project=providers.Object(project.resolve()))
    container.config.from_dict(msgspec.to_builtins(settings))
    return container


def _check_media(settings: Settings) -> None:
    """What the S3 media driver needs beyond what each setting's type says."""
    s3 = settings.media.s3
    if settings.media.driver != "s3":
        return
    if not s3.bucket.strip():
        raise SettingsError(
            "media.driver is s3 but media.s3.bucket is not set: set it in flextype.yaml "
            "or FLEXTYPE_MEDIA__S3__BUCKET."
        )
    if bool(s3.access_key_id) != bool(s3.secret_access_key):
        raise SettingsError(
            "media.s3.access_key_id and media.s3.secret_access_key go together: set both, "
            "or neither to use the AWS_* variables, a profile or an instance role."
        )
