"""The PostgreSQL database: migrations, the schema version, the connection settings."""

from __future__ import annotations

import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from flextype_adapters.postgres.database import (
    SCHEMA_VERSION,
    PostgresDatabase,
    Tx,
    apply_migrations,
    migrations,
)
from tests.postgres_cluster import PostgresCluster, drop_schema, find_bindir, require_bindir


@pytest.fixture
def fresh(postgres_url: str) -> Iterator[PostgresDatabase]:
    """A database on a schema that does not exist yet."""
    schema = f"fresh_{uuid.uuid4().hex[:12]}"
    database = PostgresDatabase(postgres_url, schema=schema, pool_size=4)
    yield database
    database.close()
    drop_schema(postgres_url, schema)


def _tables(database: PostgresDatabase) -> set[str]:
    rows = database.run(
        lambda tx: tx.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            [database.schema],
        ).fetchall()
    )
    return {row[0] for row in rows}


def test_migrations_are_numbered_from_one() -> None:
    assert [number for number, _ in migrations()] == list(range(1, SCHEMA_VERSION + 1))
    assert SCHEMA_VERSION >= 1


def test_migrate_creates_the_schema_from_nothing_and_is_idempotent(
    fresh: PostgresDatabase,
) -> None:
    assert fresh.schema_version() == 0
    assert fresh.migrate() == (0, SCHEMA_VERSION)
    assert fresh.schema_version() == SCHEMA_VERSION
    assert {"entries", "tokens", "changes", "schema_migrations"} <= _tables(fresh)
    assert fresh.migrate() == (SCHEMA_VERSION, SCHEMA_VERSION)


@pytest.mark.parametrize("previous", range(SCHEMA_VERSION))
def test_migrate_brings_every_previous_version_up_to_date(
    fresh: PostgresDatabase, previous: int
) -> None:
    fresh.run(lambda tx: apply_migrations(tx.conn, fresh.schema, previous))
    assert fresh.schema_version() == previous
    assert fresh.migrate() == (previous, SCHEMA_VERSION)
    assert fresh.schema_version() == SCHEMA_VERSION


def test_two_servers_migrating_at_once_take_turns(postgres_url: str) -> None:
    schema = f"race_{uuid.uuid4().hex[:12]}"
    databases = [PostgresDatabase(postgres_url, schema=schema, pool_size=2) for _ in range(4)]
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(databases))

    def migrate(database: PostgresDatabase) -> None:
        start.wait()
        try:
            results.append(database.migrate())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(db,)) for db in databases]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert sorted(results) == [(0, SCHEMA_VERSION)] + [(SCHEMA_VERSION, SCHEMA_VERSION)] * 3
    finally:
        for database in databases:
            database.close()
        drop_schema(postgres_url, schema)


def test_connections_use_the_schema_and_the_statement_timeout(postgres_url: str) -> None:
    schema = f'odd "name" {uuid.uuid4().hex[:8]}'
    database = PostgresDatabase(postgres_url, schema=schema, statement_timeout=2.5)
    try:
        database.migrate()
        settings = database.run(
            lambda tx: tx.execute(
                "SELECT current_schema(), current_setting('statement_timeout')"
            ).fetchone()
        )
        assert settings == (schema, "2500ms")
    finally:
        database.close()
        drop_schema(postgres_url, schema)


def test_the_url_never_shows_in_the_database_repr(postgres_url: str) -> None:
    database = PostgresDatabase(postgres_url, schema="flextype")
    assert "postgresql://" not in repr(database)
    assert "flextype" in repr(database)


def test_the_server_binaries_are_found_off_path_newest_version_first(tmp_path: Path) -> None:
    assert find_bindir(installed=tmp_path, search_path="") is None
    for version in ("9", "15", "13"):
        (tmp_path / version / "bin").mkdir(parents=True)
        (tmp_path / version / "bin" / "initdb").touch()
    assert find_bindir(installed=tmp_path, search_path="") == tmp_path / "15" / "bin"


def test_missing_binaries_skip_with_how_to_enable_them_but_fail_when_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FLEXTYPE_REQUIRE_POSTGRES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install postgresql"):
        require_bindir(lambda: None)
    monkeypatch.setenv("FLEXTYPE_REQUIRE_POSTGRES", "1")
    with pytest.raises(pytest.fail.Exception, match="FLEXTYPE_TEST_DATABASE_URL"):
        require_bindir(lambda: None)


def test_a_cluster_that_cannot_be_made_leaves_no_folder(tmp_path: Path) -> None:
    before = set(Path(tempfile.gettempdir()).glob("flextype-pg-*"))
    with pytest.raises(RuntimeError, match="initdb failed"):
        PostgresCluster(tmp_path)  # no initdb in this folder
    assert set(Path(tempfile.gettempdir()).glob("flextype-pg-*")) <= before


def test_after_commit_actions_wait_for_the_outermost_commit(pg_database: PostgresDatabase) -> None:
    ran: list[str] = []

    def failing(tx: Tx) -> None:
        tx.after_commit(lambda: ran.append("in a failed savepoint"))
        raise ValueError

    pg_database.run(lambda tx: tx.after_commit(lambda: ran.append("alone")))
    assert ran == ["alone"]
    with pg_database.exclusive("test"):
        pg_database.run(lambda tx: tx.after_commit(lambda: ran.append("in the block")))
        with pytest.raises(ValueError):
            pg_database.run(failing)
        assert ran == ["alone"]
    assert ran == ["alone", "in the block"]
    with pytest.raises(ValueError), pg_database.exclusive("test"):
        pg_database.run(lambda tx: tx.after_commit(lambda: ran.append("rolled back")))
        raise ValueError
    assert ran == ["alone", "in the block"]
