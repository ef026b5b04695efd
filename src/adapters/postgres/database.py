"""One PostgreSQL database for a project: its connection pool, transactions, migrations.

``Tx`` (a transaction and the change-log rows it appends) is in ``transaction``.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from typing import Any, TypeVar

import msgspec
import psycopg
import psycopg_pool
from psycopg import sql
from psycopg.types.json import set_json_dumps, set_json_loads

from flextype_adapters.postgres import change_log, field_columns
from flextype_adapters.postgres.change_log import MOST_CHANGES
from flextype_adapters.postgres.feed import SELECTIONS, ChangeFeed
from flextype_adapters.postgres.field_columns import path_of
from flextype_adapters.postgres.search_backfill import SEARCH_MIGRATION, rebuild_search
from flextype_adapters.postgres.transaction import Tx
from flextype_core.errors import ServiceUnavailable, StorageError
from flextype_core.query.model import Path

__all__ = [
    "SCHEMA_VERSION",
    "Connection",
    "PostgresDatabase",
    "Tx",
    "apply_migrations",
    "migrations",
]

T = TypeVar("T")
Connection = psycopg.Connection[Any]

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str]]:
    """Return the numbered migration scripts shipped with the package, oldest first."""
    found = []
    for item in (resources.files("flextype_adapters.postgres") / "migrations").iterdir():
        match = _MIGRATION_NAME.match(item.name)
        if match:
            found.append((int(match.group(1)), item.read_text(encoding="utf-8")))
    found.sort()
    if [number for number, _ in found] != list(range(1, len(found) + 1)):
        raise RuntimeError("the PostgreSQL migrations are not numbered 1, 2, 3...")
    return found


SCHEMA_VERSION: int = len(migrations())
"""The number of the newest migration: what ``migrate`` brings a schema to."""


def _unavailable(exc: BaseException) -> ServiceUnavailable:
    """A ServiceUnavailable saying why, in words that never carry the URL or a password."""
    if isinstance(exc, psycopg_pool.PoolTimeout):
        reason = "no database connection came free in time"
    elif isinstance(exc, psycopg.errors.QueryCanceled):
        reason = "the database did not answer within the statement timeout"
    elif isinstance(exc, psycopg.errors.AdminShutdown | psycopg.errors.CannotConnectNow):
        reason = "the database is shutting down or starting"
    elif isinstance(exc, psycopg.errors.DeadlockDetected | psycopg.errors.SerializationFailure):
        reason = "concurrent writes got in each other's way"
    elif isinstance(exc, psycopg.errors.TooManyConnections):
        reason = "the database has no connection slot free"
    else:
        reason = "the database cannot be reached"
    return ServiceUnavailable(f"The storage is unavailable: {reason}. Try again.", retry_after=1)


@contextlib.contextmanager
def _mapped() -> Iterator[None]:
    """Turn driver failures into domain errors: unreachable -> 503, others -> StorageError."""
    try:
        yield
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        raise _unavailable(exc) from exc
    except psycopg.errors.UndefinedTable as exc:
        raise StorageError(
            "The database has no flextype tables in this schema: run `flextype db migrate`."
        ) from exc
    except psycopg.DatabaseError as exc:
        # The server's message may quote stored values: only its error code goes out.
        state = exc.sqlstate or type(exc).__name__
        raise StorageError(f"The database refused an operation (SQLSTATE {state}).") from exc


class PostgresDatabase:
    """A project's schema in one PostgreSQL database, reached through a connection pool.

    Connects lazily, on first use. Every connection's ``search_path`` is the schema and
    its ``statement_timeout`` the configured one; results come in the binary protocol;
    jsonb is decoded by msgspec. Any failure to reach the database raises
    ``ServiceUnavailable(retry_after=1)``; messages never carry the URL.
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str = "flextype",
        pool_size: int = 10,
        pool_timeout: float = 5.0,
        statement_timeout: float = 30.0,
        indexes: Iterable[str] = (),
    ) -> None:
        self._url = url
        # Declared field indexes (field_columns): the paths, and those in place (lazily).
        self._indexed = {path: field_columns.column_of(path) for path in map(path_of, indexes)}
        self._columns: dict[Path, str] | None = None
        self.schema = schema
        self._pool_size = pool_size
        self._pool_timeout = pool_timeout
        self._statement_timeout_ms = max(1, round(statement_timeout * 1000))
        self._search_path = sql.Identifier(schema).as_string(None)
        self._pool: psycopg_pool.ConnectionPool[Connection] | None = None
        self._pool_guard = threading.Lock()
        self._local = threading.local()
        # Collection answers hold many entries: any entry's change drops them all.
        self.feed = ChangeFeed(sizes={SELECTIONS: 256}, follows={SELECTIONS: ("entries",)})
        self._reader = change_log.ChangeLogReader(self.feed, self._connect_async, _unavailable)
        """Rows this process read, kept while the change log says they did not change."""

    def __repr__(self) -> str:  # never the URL: it may hold a password
        return f"PostgresDatabase(schema={self.schema!r})"

    def lock_key(self, kind: str) -> str:
        """The text an advisory lock of ``kind`` in this schema is hashed from."""
        return f"flextype:{self.schema}:{kind}"

    # -- connections ---------------------------------------------------------------------

    def _configure(self, conn: Connection) -> None:
        set_json_loads(msgspec.json.decode, conn)
        set_json_dumps(msgspec.json.encode, conn)
        conn.execute(
            "SELECT set_config('search_path', %s, false), "
            "set_config('statement_timeout', %s, false)",
            [self._search_path, f"{self._statement_timeout_ms}ms"],
        )

    def _connection_pool(self) -> psycopg_pool.ConnectionPool[Connection]:
        with self._pool_guard:
            if self._pool is None:
                pool: psycopg_pool.ConnectionPool[Connection] = psycopg_pool.ConnectionPool(
                    self._url,
                    min_size=1,
                    max_size=self._pool_size,
                    timeout=self._pool_timeout,
                    kwargs={
                        "autocommit": True,
                        "connect_timeout": max(2, round(self._pool_timeout)),
                        "application_name": "flextype",
                    },
                    configure=self._configure,
                    open=False,
                    name=f"flextype-{self.schema}",
                )
                pool.open(wait=False)
                self._pool = pool
            return self._pool

    def _held(self) -> Tx | None:
        tx: Tx | None = getattr(self._local, "tx", None)
        return tx

    def run(self, work: Callable[[Tx], T]) -> T:
        """Run ``work`` in one transaction and return its result; commit unless it raises.

        The change-log rows ``work`` logs are appended last, just before the commit.
        Inside an ``exclusive`` block of this thread the block's transaction is used (a
        savepoint). A connection found dead before the commit (the server restarted since
        it was last used) is replaced and ``work`` runs once more: nothing was written.
        """
        held = self._held()
        with _mapped():
            if held is not None:
                return held.nested(work)
            pool = self._connection_pool()
            for attempt in (1, 2):
                with pool.connection() as conn:
                    reached_commit = False
                    try:
                        with conn.transaction():
                            tx = Tx(conn, self.lock_key("changes"))
                            result = work(tx)
                            tx.flush()
                            reached_commit = True
                        self.feed.forget(tx.logged)
                        tx.committed()
                        return result
                    except psycopg.OperationalError:
                        if attempt == 2 or reached_commit or not conn.broken:
                            raise
                pool.check()  # drop every other connection the restart left dead
        raise AssertionError("unreachable")

    def read(self, work: Callable[[Tx], T]) -> T:
        """Run ``work``, which only reads, without a transaction of its own.

        One round trip per statement instead of three (no BEGIN, no COMMIT): for reads
        of one statement, or of several that need no common snapshot. ``work`` must not
        write (nothing would roll it back). Errors and retries are as ``run``'s.
        """
        held = self._held()
        with _mapped():
            if held is not None:
                return work(held)
            pool = self._connection_pool()
            for attempt in (1, 2):
                with pool.connection() as conn:
                    try:
                        return work(Tx(conn, self.lock_key("changes")))
                    except psycopg.OperationalError:
                        if attempt == 2 or not conn.broken:
                            raise
                pool.check()
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def exclusive(self, kind: str) -> Iterator[Tx]:
        """Hold this schema's exclusive advisory lock of ``kind`` for a ``with`` block.

        One transaction on one connection, kept for this thread: the store's calls made
        inside the block run in it (re-entrant), so they see and hold what it holds.
        """
        held = self._held()
        if held is not None:
            with _mapped():
                held.lock(self.lock_key(kind), shared=False)
            yield held
            return
        with _mapped(), self._connection_pool().connection() as conn, conn.transaction():
            tx = Tx(conn, self.lock_key("changes"))
            tx.lock(self.lock_key(kind), shared=False)
            self._local.tx = tx
            try:
                yield tx
                tx.flush()
            finally:
                self._local.tx = None
        self.feed.forget(tx.logged)
        tx.committed()

    @contextlib.contextmanager
    def session(self) -> Iterator[Connection]:
        """A connection of its own (not the pool's) for a ``with`` block, then closed.

        For a session-level advisory lock held for long: it takes no pooled connection
        from the requests, and it ends with the connection (when the block ends, or the
        process dies and its socket closes), never left behind in the pool.

        Raises:
            ServiceUnavailable: the database cannot be reached.
        """
        with _mapped():
            conn = psycopg.connect(
                self._url,
                autocommit=True,
                connect_timeout=max(2, round(self._pool_timeout)),
                application_name="flextype",
            )
        try:
            yield conn
        finally:
            conn.close()

    # -- what this process remembers ------------------------------------------------------

    def ticket(self) -> int | None:
        """``feed.ticket()``, taken before a read whose row may be remembered.

        None inside an ``exclusive`` block (its rows are not committed yet) or before
        the first refresh.
        """
        return None if self._held() is not None else self.feed.ticket()

    def refresh(self, *, most: int = MOST_CHANGES) -> None:
        """Bring ``feed`` up to the change log as committed now (one round trip).

        After it returns, ``feed.recall`` answers reflect every write committed before
        the call began, on any server. Past ``most`` changes, every row is forgotten. It
        never waits on a lock more than ``change_log.LOCK_TIMEOUT`` (only DDL, such as a
        migration, locks the change log against reads): it raises ServiceUnavailable
        instead, and callers read the store as they would without the feed.
        """
        if self._held() is not None:
            return  # inside an exclusive block nothing is remembered: nothing to refresh
        mark = self.feed.mark()
        query = change_log.statement(mark.position, most)

        def work(tx: Tx) -> list[tuple[Any, ...]]:
            cursor = tx.conn.execute(query)
            cursor.nextset()  # past the SET's result
            return cursor.fetchall()

        change_log.apply(self.feed, mark, self.read(work), most)

    async def refresh_async(self, *, most: int = MOST_CHANGES) -> None:
        """``refresh``, awaited on the caller's event loop: a connection of its own, no thread.

        Raises:
            ServiceUnavailable: the database cannot be reached (connects again at most
                once a second), or the change log is locked.
        """
        await self._reader.refresh(most=most)

    async def _connect_async(self) -> psycopg.AsyncConnection[Any]:
        conn = await psycopg.AsyncConnection.connect(
            self._url,
            autocommit=True,
            connect_timeout=max(2, round(self._pool_timeout)),
            application_name="flextype",
        )
        await conn.execute(
            "SELECT set_config('search_path', %s, false), "
            "set_config('statement_timeout', %s, false)",
            [self._search_path, f"{self._statement_timeout_ms}ms"],
        )
        return conn

    # -- the schema ----------------------------------------------------------------------

    def schema_version(self) -> int:
        """Return the number of the newest migration applied; 0 for an empty/missing schema."""
        return self.run(lambda tx: self._applied(tx.conn))

    def _applied(self, conn: Connection) -> int:
        table = f"{sql.Identifier(self.schema).as_string(conn)}.schema_migrations"
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [table]).fetchone()
        if row is None or not row[0]:
            return 0
        found = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        return int(found[0]) if found else 0

    def migrate(self) -> tuple[int, int]:
        """Create the schema or bring it to ``SCHEMA_VERSION``; return (before, after).

        Then the declared field indexes missing are created (``ensure_field_indexes``),
        and the search columns of rows changed by hand rebuilt (``rebuild_search``).

        Each migration runs in a transaction of its own, recorded in
        ``schema_migrations``. A session advisory lock makes servers that migrate at the
        same time take turns: the second finds the work done.
        """
        return self._migrating(lambda conn: apply_migrations(conn, self.schema, SCHEMA_VERSION))[0]

    def ensure_field_indexes(self) -> int:
        """Create the declared field indexes missing (``field_columns``); return how many.

        ``migrate`` does it too; a server does it at start, so a path added to
        ``storage.postgres.indexes`` takes effect with the next start. Rows changed by
        hand get their search columns rebuilt then too (``rebuild_search``).
        """
        return self._migrating(lambda conn: 0)[1]

    def _migrating(self, step: Callable[[Connection], T]) -> tuple[T, int]:
        """Run ``step`` then create the missing field indexes, under the migration lock."""
        with _mapped(), self._connection_pool().connection() as conn:
            key = self.lock_key("migrate")
            conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [key])
            try:
                done = step(conn)
                created = field_columns.ensure_columns(conn, self._indexed)
                if self._applied(conn) >= SEARCH_MIGRATION:
                    rebuild_search(conn)
                self._columns = None
                return done, created
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])

    def indexed_columns(self, conn: Connection) -> dict[Path, str]:
        """The declared field indexes in place: path -> column (read once, then kept)."""
        if self._columns is None:
            self._columns = field_columns.existing_columns(conn, self._indexed)
        return self._columns

    def check(self) -> None:
        """Make one round trip to the database; raise ServiceUnavailable if it fails."""
        self.read(lambda tx: tx.execute("SELECT 1").fetchone())

    def close(self) -> None:
        """Close the pool's connections (a later use opens a new pool)."""
        with self._pool_guard:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        self._reader.close()


def apply_migrations(conn: Connection, schema: str, target: int) -> tuple[int, int]:
    """Apply the migrations after the schema's version up to ``target``; (before, after).

    The caller holds the migration lock. Each migration and its record commit together.
    """
    name = sql.Identifier(schema)
    with conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.schema_migrations "
                "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(name)
        )
    conn.execute("SELECT set_config('search_path', %s, false)", [name.as_string(conn)])
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    before = int(row[0]) if row else 0
    for number, script in migrations():
        if before < number <= target:
            with conn.transaction():
                conn.execute(script.encode())  # no parameters: several statements allowed
                if number == SEARCH_MIGRATION:  # the rows already there get their words
                    rebuild_search(conn)
                    conn.execute("ANALYZE entries")
                conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", [number])
    return before, max(before, target)
