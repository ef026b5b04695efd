"""SecretStore adapters: one key per name, made once, the same for every process and server."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from flextype_adapters.file_secrets import FileSecretStore
from flextype_adapters.postgres.database import PostgresDatabase
from flextype_adapters.postgres.secrets import PostgresSecretStore
from flextype_core.errors import StorageError
from tests.http_client import ProjectFactory, serve


def test_a_file_secret_is_made_once_private_and_shared(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    first = FileSecretStore(folder).secret("cursors")
    assert len(first) == 32
    assert FileSecretStore(folder).secret("cursors") == first  # another process's view
    assert FileSecretStore(folder).secret("other") != first
    path = folder / "cursors.key"
    assert path.read_bytes() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == ["cursors.key", "other.key"]


def test_a_file_made_by_another_process_first_wins(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "cursors.key").write_bytes(b"x" * 32)
    assert FileSecretStore(folder).secret("cursors") == b"x" * 32


def test_a_damaged_file_secret_is_a_storage_error(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "cursors.key").write_bytes(b"short")
    with pytest.raises(StorageError, match=r"secrets/cursors\.key"):
        FileSecretStore(folder).secret("cursors")


def test_a_postgres_secret_is_one_row_every_server_reads(pg_database: PostgresDatabase) -> None:
    first = PostgresSecretStore(pg_database).secret("cursors")
    assert len(first) == 32
    assert PostgresSecretStore(pg_database).secret("cursors") == first
    assert PostgresSecretStore(pg_database).secret("other") != first
    rows = pg_database.run(lambda tx: tx.execute("SELECT count(*) FROM secrets").fetchone())
    assert rows is not None and rows[0] == 2


@pytest.mark.parametrize("driver", ["yaml", "tinydb"])
def test_a_cursor_of_one_server_works_on_another_of_the_project(
    projects: ProjectFactory, tmp_path: Path, driver: str
) -> None:
    project = projects(tmp_path / "project", driver)
    params = {"id": "movies", "options[collection]": "true", "options[filter][limit]": "2"}
    with serve(project) as one:
        cursor = one.get("entries", params).json()["meta"]["next"]
    assert (project.path / "secrets" / "cursors.key").exists()
    with serve(project) as other:
        response = other.get("entries", {**params, "options[filter][after]": cursor})
        assert response.status_code == 200, response.text
        assert response.json()["data"]
