"""The postgres driver from the command line: init, db migrate, serve's checks, the library."""

from __future__ import annotations

import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml
from psycopg import sql

from flextype_adapters.postgres.database import SCHEMA_VERSION, apply_migrations
from flextype_entrypoints.cli import main
from flextype_py import open_project
from tests.integration.postgres_support import new_schema, pg_init, write_settings
from tests.integration.test_serve import _server
from tests.programs import FLEXTYPE, flextype, run_program

UNREACHABLE = "postgresql://flextype:s3cret-pw@127.0.0.1:1/cms"
"""Port 1: nothing listens there, so every connection is refused at once."""


@pytest.fixture
def schema(postgres_url: str) -> Iterator[str]:
    with new_schema(postgres_url) as name:
        yield name


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- init ----------------------------------------------------------------------------


def test_init_creates_the_tables_the_demo_content_and_a_private_settings_file(
    tmp_path: Path, postgres_url: str, schema: str
) -> None:
    path = tmp_path / "site"
    done = flextype(
        "init", str(path), "--storage", "postgres", "--database-url", postgres_url,
        "--schema", schema,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    assert (
        lines[0]
        == f"Created project {path} (storage: postgres, schema {schema}, with demo content)."
    )
    token = lines[1].removeprefix("token:").strip()
    assert sorted(p.name for p in path.iterdir()) == ["cache", "flextype.yaml", "media"]
    settings_file = path / "flextype.yaml"
    assert stat.S_IMODE(settings_file.stat().st_mode) == 0o600
    settings = yaml.safe_load(settings_file.read_text())
    assert settings["storage"] == {
        "driver": "postgres",
        "postgres": {"url": postgres_url, "schema": schema},
    }
    with open_project(path) as project:  # the library, as a user's script would
        assert project.entries.fetch("movies/dune")["title"] == "Dune"
        assert [t.token for t in project.tokens.list()] == [token]
        assert project.media.fetch("demo/flextype.png")["id"] == "demo/flextype.png"
    with psycopg.connect(postgres_url) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
            )
        }
        media = conn.execute(
            sql.SQL("SELECT id, folder FROM {}").format(sql.Identifier(schema, "media_files"))
        ).fetchall()
    assert {"entries", "tokens", "changes", "schema_migrations"} <= tables
    assert media == [("demo/flextype.png", "demo")]  # the demo image is a row, its bytes a blob
    assert len(list((path / "media" / ".blobs").glob("*/*"))) == 1
    assert sorted(p.name for p in (path / "media").iterdir()) == [".blobs", ".uploads"]


def test_init_refuses_a_schema_that_holds_a_project_and_writes_nothing(
    tmp_path: Path, postgres_url: str, schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first = pg_init(tmp_path / "first", postgres_url, schema)
    code, out, err = _run(
        capsys, "init", str(tmp_path / "second"), "--storage", "postgres",
        "--database-url", postgres_url, "--schema", schema,
    )  # fmt: skip
    assert (code, out) == (1, "")
    assert err == (
        f"flextype: error: the database schema {schema} already holds a project's entries "
        "or tokens; not adding to them. For another server of that project, copy its "
        "flextype.yaml; for a new project, choose another --schema.\n"
    )
    assert not (tmp_path / "second").exists()
    with open_project(first.path) as project:
        assert [t.token for t in project.tokens.list()] == [first.token]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--storage", "postgres"], "--storage postgres needs --database-url"),
        (["--database-url", UNREACHABLE], "--database-url and --schema go with --storage postgres"),
        (
            ["--storage", "postgres", "--database-url", UNREACHABLE],
            "cannot reach the database (storage.postgres.url): ",
        ),
    ],
    ids=["no-url", "url-without-postgres", "unreachable"],
)
def test_init_refuses_what_it_cannot_do_in_one_line_and_writes_nothing(
    tmp_path: Path, argv: list[str], message: str
) -> None:
    done = run_program([FLEXTYPE, "init", str(tmp_path / "site"), *argv], timeout=60)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith("flextype: error: ")
    assert message in done.stderr
    assert done.stderr.count("\n") == 1
    assert "s3cret-pw" not in done.stderr
    assert not (tmp_path / "site").exists()


# -- db migrate ----------------------------------------------------------------------


def test_db_migrate_creates_the_tables_then_finds_nothing_to_do(
    tmp_path: Path, postgres_url: str, schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_settings(tmp_path / "site", url=postgres_url, schema=schema)
    code, out, err = _run(capsys, "db", "migrate", "--project", str(project))
    assert (code, err) == (0, "")
    assert out == f"Database schema {schema}: version 0 -> {SCHEMA_VERSION} (migrated).\n"
    code, out, err = _run(capsys, "db", "migrate", "--project", str(project))
    assert (code, err) == (0, "")
    assert out == (
        f"Database schema {schema}: version {SCHEMA_VERSION} -> {SCHEMA_VERSION} "
        "(already up to date).\n"
    )
    code, out, err = _run(capsys, "tokens", "list", "--project", str(project))
    assert (code, out, err) == (0, "[]\n", "")


def test_db_migrate_on_a_project_on_files_says_there_is_nothing_to_migrate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, "init", str(tmp_path / "site"), "--no-demo")[0] == 0
    code, out, err = _run(capsys, "db", "migrate", "--project", str(tmp_path / "site"))
    assert (code, err) == (0, "")
    assert out == (
        "storage.driver is yaml: there is no database schema to migrate "
        "(flextype db migrate is for storage.driver: postgres).\n"
    )


# -- serve's checks ------------------------------------------------------------------


def _serve_refusal(project: Path) -> str:
    done = run_program([FLEXTYPE, "serve", "--project", str(project), "--port", "0"], timeout=60)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr


def test_serve_refuses_a_schema_without_tables_naming_db_migrate(
    tmp_path: Path, postgres_url: str, schema: str
) -> None:
    project = write_settings(tmp_path / "site", url=postgres_url, schema=schema)
    assert _serve_refusal(project) == (
        f"flextype: error: the database schema {schema} has no flextype tables yet: "
        f"run flextype db migrate --project {project}\n"
    )


def test_serve_refuses_an_outdated_schema_naming_db_migrate_which_makes_it_serve(
    tmp_path: Path, postgres_url: str, schema: str
) -> None:
    project = write_settings(tmp_path / "site", url=postgres_url, schema=schema)
    older = SCHEMA_VERSION - 1
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # as an older version left it
        assert apply_migrations(conn, schema, older) == (0, older)
    if older:
        reason = f"is at version {older}, this flextype-py needs version {SCHEMA_VERSION}"
    else:
        reason = "has no flextype tables yet"
    assert _serve_refusal(project) == (
        f"flextype: error: the database schema {schema} {reason}: "
        f"run flextype db migrate --project {project}\n"
    )
    done = flextype("db", "migrate", "--project", str(project))
    assert done.stdout.endswith(f"version {older} -> {SCHEMA_VERSION} (migrated).\n")
    with _server(project) as (_, url):
        assert httpx.get(f"{url}/health", timeout=60).status_code == 200


def test_serve_refuses_a_schema_newer_than_it_knows(
    tmp_path: Path, postgres_url: str, schema: str
) -> None:
    seed = pg_init(tmp_path / "seed", postgres_url, schema, "--no-demo")
    with psycopg.connect(postgres_url) as conn:  # as a newer flextype-py leaves it
        table = sql.Identifier(schema, "schema_migrations")
        query = sql.SQL("INSERT INTO {} (version) VALUES (%s)").format(table)
        conn.execute(query, (SCHEMA_VERSION + 1,))
    assert _serve_refusal(seed.path) == (
        f"flextype: error: the database schema {schema} is at version {SCHEMA_VERSION + 1}, "
        f"newer than this flextype-py knows ({SCHEMA_VERSION}): upgrade flextype-py\n"
    )


def test_serve_refuses_an_unreachable_database_in_one_line_without_the_password(
    tmp_path: Path,
) -> None:
    project = write_settings(tmp_path / "site", url=UNREACHABLE, pool_timeout=1)
    err = _serve_refusal(project)
    assert err.startswith("flextype: error: cannot reach the database (storage.postgres.url): ")
    assert "s3cret-pw" not in err


def test_a_command_on_an_unreachable_database_is_one_line_without_the_password(
    tmp_path: Path,
) -> None:
    project = write_settings(tmp_path / "site", url=UNREACHABLE, pool_timeout=1)
    done = run_program([FLEXTYPE, "tokens", "list", "--project", str(project)], timeout=60)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith("flextype: error: cannot reach the database")
    assert done.stderr.count("\n") == 1
    assert "s3cret-pw" not in done.stderr


def test_health_checks_the_database(tmp_path: Path, postgres_url: str, schema: str) -> None:
    seed = pg_init(tmp_path / "seed", postgres_url, schema, "--no-demo")
    with _server(seed.path) as (_, url):
        answer = httpx.get(f"{url}/health", timeout=60)
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


# -- the files drivers never load the postgres driver --------------------------------


def test_a_project_on_files_never_loads_psycopg(tmp_path: Path) -> None:
    flextype("init", str(tmp_path / "site"))
    script = (
        "import sys\n"
        "from flextype_py import open_project\n"
        f"with open_project({str(tmp_path / 'site')!r}) as project:\n"
        "    project.entries.fetch('movies/dune')\n"
        "    project.tokens.list()\n"
        "from flextype_entrypoints.http.app import create_app\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('psycopg', 'psycopg_pool')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout == "[]\n"
