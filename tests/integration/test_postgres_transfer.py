"""migrate, export and import with the postgres driver; what driver_check says of it."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import sql

from flextype_adapters.postgres.database import apply_migrations
from tests.integration.postgres_support import new_schema
from tests.integration.transfer_support import fill, init, members, run, snapshot, tree


@pytest.fixture
def schema(postgres_url: str) -> Iterator[str]:
    with new_schema(postgres_url) as name:
        yield name


@pytest.fixture
def filled(tmp_path: Path, capsys: pytest.CaptureFixture[str], schema: str) -> Path:
    """A YAML project with every kind of content, whose settings name ``schema``."""
    path = tmp_path / "site"
    init(capsys, path, "yaml", demo=True)
    fill(path)
    settings = path / "flextype.yaml"
    text = settings.read_text().replace(
        "  driver: yaml\n", f"  driver: yaml\n  postgres:\n    schema: {schema}\n"
    )
    settings.write_text(text)
    return path


def _pg_init(capsys: pytest.CaptureFixture[str], path: Path, url: str, schema: str) -> None:
    code, _, err = run(
        capsys, "init", str(path), "--storage", "postgres", "--database-url", url,
        "--schema", schema, "--no-demo",
    )  # fmt: skip
    assert code == 0, err


def _rows(url: str, schema: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
            ).fetchone()[0]  # type: ignore[index]
            for table in ("entries", "tokens", "media_files", "media_folders")
        }


def _blobs(path: Path) -> list[bytes]:
    """The bytes of the postgres driver's media blobs in a project, sorted."""
    return sorted(p.read_bytes() for p in (path / "media" / ".blobs").glob("*/*"))


def _local_media(path: Path) -> list[str]:
    """The names the file drivers' media store keeps in a project's media folder."""
    media = path / "media"
    return sorted(
        str(p.relative_to(media))
        for p in media.rglob("*")
        if not {".blobs", ".uploads"} & set(p.parts)  # the postgres store's, and uploads
    )


def test_migrate_to_postgres_and_back_keeps_everything(
    filled: Path, capsys: pytest.CaptureFixture[str], postgres_url: str, schema: str
) -> None:
    before = snapshot(filled)
    local = _local_media(filled)
    header = (filled / "flextype.yaml").read_text().splitlines()[0]
    code, out, err = run(
        capsys, "migrate", "--project", str(filled), "--to", "postgres",
        "--database-url", postgres_url,
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out == (
        "Moved 13 entries, 3 tokens and 3 media files from yaml to postgres; "
        "storage.driver is now postgres. "
        "The yaml content is kept (remove it, or use --delete-source).\n"
    )
    settings_file = filled / "flextype.yaml"
    assert stat.S_IMODE(settings_file.stat().st_mode) == 0o600  # it holds a password now
    text = settings_file.read_text()
    assert text.splitlines()[0] == header  # edited in place, comments kept
    assert yaml.safe_load(text)["storage"] == {
        "driver": "postgres",
        "postgres": {"schema": schema, "url": postgres_url},
    }
    assert snapshot(filled) == before
    assert _rows(postgres_url, schema) == {
        "entries": 13, "tokens": 3, "media_files": 3, "media_folders": 5,
    }  # fmt: skip
    assert sorted(_blobs(filled)) == sorted(content for _, content in before["files"].values())
    assert _local_media(filled) == local  # the yaml driver's media are kept too
    # The kept YAML files are no reason for a warning: the database holds the content.
    code, out, err = run(capsys, "entries", "get", "movies/dune", "--project", str(filled))
    assert (code, err) == (0, "")
    code, out, err = run(capsys, "migrate", "--project", str(filled), "--to", "yaml")
    assert code == 1
    assert "already holds yaml content (entries/, tokens/)" in err
    code, out, err = run(
        capsys, "migrate", "--project", str(filled), "--to", "yaml", "--replace", "--delete-source"
    )
    assert (code, err) == (0, "")
    assert out.endswith("The postgres content is removed.\n")
    assert snapshot(filled) == before
    assert _rows(postgres_url, schema) == {
        "entries": 0, "tokens": 0, "media_files": 0, "media_folders": 0,
    }  # fmt: skip
    assert not (filled / "media" / ".blobs").exists()
    assert _local_media(filled) == local


def test_migrate_to_a_schema_holding_content_needs_replace(
    filled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], postgres_url: str,
    schema: str,
) -> None:  # fmt: skip
    other = tmp_path / "other"
    _pg_init(capsys, other, postgres_url, schema)  # a project already uses the schema
    files = tree(filled)
    argv = ["migrate", "--project", str(filled), "--to", "postgres", "--database-url", postgres_url]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (1, "")
    assert err == (
        f"flextype: error: The project already holds the database schema {schema}, from an "
        "earlier migrate? Pass --replace to overwrite it, or remove it first.\n"
    )
    assert tree(filled) == files
    assert _rows(postgres_url, schema) == {
        "entries": 0,
        "tokens": 1,
        "media_files": 0,
        "media_folders": 0,
    }
    code, out, err = run(capsys, *argv, "--replace")
    assert (code, err) == (0, "")
    assert _rows(postgres_url, schema) == {
        "entries": 13,
        "tokens": 3,
        "media_files": 3,
        "media_folders": 5,
    }


@pytest.mark.parametrize(
    ("version", "table", "refused"),
    [
        # The database refuses one entry, after others of the same write went in.
        (1, "entries", "unicode"),
        # ... or a media file's row, after its blob was written.
        (3, "media_files", "posters/2021/dune.png"),
    ],
)
def test_a_migrate_to_postgres_failing_midway_changes_nothing(
    filled: Path,
    capsys: pytest.CaptureFixture[str],
    postgres_url: str,
    schema: str,
    version: int,
    table: str,
    refused: str,
) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        apply_migrations(conn, schema, version)
        conn.execute(
            sql.SQL(
                "CREATE FUNCTION {}.refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN IF NEW.id = {} THEN RAISE EXCEPTION 'no'; END IF; "
                "RETURN NEW; END $$"
            ).format(sql.Identifier(schema), sql.Literal(refused))
        )
        conn.execute(
            sql.SQL(
                "CREATE TRIGGER refuse BEFORE INSERT ON {} FOR EACH ROW EXECUTE FUNCTION {}()"
            ).format(sql.Identifier(schema, table), sql.Identifier(schema, "refuse"))
        )
    files = tree(filled)
    code, out, err = run(
        capsys, "migrate", "--project", str(filled), "--to", "postgres",
        "--database-url", postgres_url,
    )  # fmt: skip
    assert (code, out) == (1, "")
    assert err == "flextype: error: The database refused an operation (SQLSTATE P0001).\n"
    assert tree(filled) == files  # still on yaml, settings untouched, no blob left behind
    assert _rows(postgres_url, schema) == {
        "entries": 0, "tokens": 0, "media_files": 0, "media_folders": 0,
    }  # fmt: skip


def _migrate(capsys: pytest.CaptureFixture[str], path: Path, *argv: str) -> str:
    code, out, err = run(capsys, "migrate", "--project", str(path), *argv)
    assert (code, err) == (0, ""), err
    return out


def test_media_survive_migrating_between_yaml_and_postgres_with_and_without_delete_source(
    filled: Path, capsys: pytest.CaptureFixture[str], postgres_url: str, schema: str
) -> None:
    before = snapshot(filled)
    _migrate(capsys, filled, "--to", "postgres", "--database-url", postgres_url, "--delete-source")
    assert _local_media(filled) == []  # the yaml driver's media went with --delete-source
    assert len(_blobs(filled)) == 3
    assert snapshot(filled) == before
    # Back to yaml, keeping the postgres content: rows and blobs both stay.
    out = _migrate(capsys, filled, "--to", "yaml")
    assert out.startswith("Moved 13 entries, 3 tokens and 3 media files from postgres to yaml;")
    assert snapshot(filled) == before
    assert len(_blobs(filled)) == 3
    assert _rows(postgres_url, schema)["media_files"] == 3
    # So the database's content is whole still: serving it again needs only the switch.
    settings = filled / "flextype.yaml"
    settings.write_text(settings.read_text().replace("driver: yaml", "driver: postgres"))
    assert snapshot(filled) == before
    settings.write_text(settings.read_text().replace("driver: postgres", "driver: yaml"))
    _migrate(capsys, filled, "--to", "postgres", "--replace")
    assert snapshot(filled) == before
    assert len(_blobs(filled)) == 3  # the replaced content's blobs went


def test_a_migrate_from_postgres_with_a_missing_blob_changes_nothing(
    filled: Path, capsys: pytest.CaptureFixture[str], postgres_url: str, schema: str
) -> None:
    _migrate(capsys, filled, "--to", "postgres", "--database-url", postgres_url, "--delete-source")
    blob = next((filled / "media" / ".blobs").glob("*/*"))
    blob.unlink()
    files = tree(filled)
    code, out, err = run(capsys, "migrate", "--project", str(filled), "--to", "yaml")
    assert (code, out) == (1, "")
    assert re.fullmatch(r"flextype: error: File '[^']+' was not found\.\n", err), err
    assert tree(filled) == files
    assert _rows(postgres_url, schema) == {
        "entries": 13, "tokens": 3, "media_files": 3, "media_folders": 5,
    }  # fmt: skip


def test_export_and_import_through_postgres_keep_everything(
    filled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], postgres_url: str,
    schema: str,
) -> None:  # fmt: skip
    before = snapshot(filled)
    assert run(capsys, "export", "--project", str(filled), "--out", str(tmp_path / "a.tgz"))[0] == 0
    middle, final = tmp_path / "middle", tmp_path / "final"
    _pg_init(capsys, middle, postgres_url, schema)
    code, out, err = run(capsys, "import", "--project", str(middle), str(tmp_path / "a.tgz"))
    assert (code, err) == (0, "")
    assert out == f"Imported 13 entries, 3 tokens and 3 media files into {middle}.\n"
    assert snapshot(middle) == before
    assert yaml.safe_load((middle / "flextype.yaml").read_text())["storage"]["driver"] == "postgres"
    code, _, err = run(capsys, "export", "--project", str(middle), "--out", str(tmp_path / "b.tgz"))
    assert code == 0, err
    header = json.loads(members(tmp_path / "b.tgz")[0][1])
    assert header["source_driver"] == "postgres"
    assert all(postgres_url.encode() not in data for _, data in members(tmp_path / "b.tgz"))
    init(capsys, final, "yaml", demo=False)
    assert run(capsys, "import", "--project", str(final), str(tmp_path / "b.tgz"))[0] == 0
    assert snapshot(final) == before


def test_an_import_into_postgres_refused_late_changes_nothing(
    filled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], postgres_url: str,
    schema: str,
) -> None:  # fmt: skip
    assert run(capsys, "export", "--project", str(filled), "--out", str(tmp_path / "a.tgz"))[0] == 0
    data = (tmp_path / "a.tgz").read_bytes()
    (tmp_path / "cut.tgz").write_bytes(data[: len(data) * 9 // 10])
    target = tmp_path / "target"
    code, _, err = run(
        capsys, "init", str(target), "--storage", "postgres", "--database-url", postgres_url,
        "--schema", schema,
    )  # fmt: skip
    assert code == 0, err
    before = snapshot(target)
    code, out, err = run(
        capsys, "import", "--project", str(target), "--replace", str(tmp_path / "cut.tgz")
    )
    assert (code, out) == (1, "")
    assert "truncated" in err and "Nothing was imported." in err
    assert snapshot(target) == before
    assert _rows(postgres_url, schema) == {
        "entries": 9,
        "tokens": 1,
        "media_files": 1,
        "media_folders": 1,
    }


# -- what driver_check says ----------------------------------------------------------


def test_files_of_another_driver_beside_a_database_holding_the_content_warn_of_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], postgres_url: str, schema: str
) -> None:
    path = tmp_path / "site"
    init(capsys, path, "tinydb", demo=True)
    settings = path / "flextype.yaml"
    settings.write_text(
        settings.read_text().replace(
            "  driver: tinydb\n", f"  driver: tinydb\n  postgres:\n    schema: {schema}\n"
        )
    )
    code, _, err = run(
        capsys, "migrate", "--project", str(path), "--to", "postgres",
        "--database-url", postgres_url,
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert (path / "db.json").exists()  # kept: no --delete-source
    code, _, err = run(capsys, "entries", "get", "movies/dune", "--project", str(path))
    assert (code, err) == (0, "")


def test_a_driver_switched_to_postgres_by_hand_warns_and_migrate_moves_the_files(
    filled: Path, capsys: pytest.CaptureFixture[str], postgres_url: str, schema: str
) -> None:
    before = snapshot(filled)
    settings = filled / "flextype.yaml"
    settings.write_text(
        settings.read_text()
        .replace("  driver: yaml\n", "  driver: postgres\n")
        .replace(f"    schema: {schema}\n", f"    schema: {schema}\n    url: {postgres_url}\n")
    )
    code, out, err = run(capsys, "db", "migrate", "--project", str(filled))
    assert (code, err) == (0, "")
    code, out, err = run(capsys, "entries", "get", "movies/dune", "--project", str(filled))
    assert code == 1
    assert err.startswith(
        "flextype: warning: storage.driver is postgres, but the entries and tokens are stored "
        "by the yaml driver (entries/, tokens/), so none of them is served. Move them with: "
        "flextype migrate --to postgres (or set storage.driver back to yaml)\n"
    )
    code, out, err = run(capsys, "migrate", "--project", str(filled), "--to", "postgres")
    assert (code, err) == (0, "")
    assert out.startswith("Moved 13 entries, 3 tokens and 3 media files from yaml to postgres;")
    assert snapshot(filled) == before
    code, out, err = run(capsys, "entries", "get", "movies/dune", "--project", str(filled))
    assert (code, err) == (0, "")
