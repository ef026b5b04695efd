"""Projects on the postgres driver for the command, server and fault tests."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import psycopg
import yaml
from psycopg import sql

from tests.postgres_cluster import drop_schema
from tests.programs import flextype

__all__ = [
    "PgProject",
    "assert_unavailable",
    "copy_settings",
    "held_tables",
    "new_schema",
    "pg_init",
    "server_folder",
    "waiting_on_locks",
    "write_settings",
]


class PgProject(NamedTuple):
    """A project made by ``flextype init --storage postgres``, and its first token."""

    path: Path
    url: str
    schema: str
    token: str
    access_token: str


@contextmanager
def new_schema(url: str) -> Iterator[str]:
    """A schema name no test used, dropped (with its tables) when the block ends."""
    schema = f"wiring_{uuid.uuid4().hex[:12]}"
    try:
        yield schema
    finally:
        drop_schema(url, schema)


def pg_init(path: Path, url: str, schema: str, *extra: str) -> PgProject:
    """Run ``flextype init --storage postgres`` as a user would; return the project."""
    done = flextype(
        "init",
        str(path),
        "--storage",
        "postgres",
        "--database-url",
        url,
        "--schema",
        schema,
        "--json",
        *extra,
    )
    issued = json.loads(done.stdout)
    return PgProject(path, url, schema, issued["token"], issued["access_token"])


def write_settings(folder: Path, **postgres: Any) -> Path:
    """A project folder holding only a settings file: the postgres driver with these
    ``storage.postgres`` settings (tables not made: ``flextype db migrate`` does that)."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = {"storage": {"driver": "postgres", "postgres": postgres}}
    (folder / "flextype.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    return folder


def server_folder(project: Path, folder: Path, **postgres: Any) -> Path:
    """A folder holding only a copy of ``project``'s settings file (another server's),
    with ``storage.postgres`` keys changed as given."""
    folder.mkdir(parents=True)
    settings = yaml.safe_load((project / "flextype.yaml").read_text(encoding="utf-8"))
    settings["storage"]["postgres"].update(postgres)
    (folder / "flextype.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    (folder / "flextype.yaml").chmod(0o600)
    return folder


def copy_settings(project: Path, folder: Path) -> Path:
    """A folder holding only a byte-for-byte copy of ``project``'s settings file."""
    folder.mkdir(parents=True)
    shutil.copy2(project / "flextype.yaml", folder / "flextype.yaml")
    return folder


@contextmanager
def held_tables(url: str, schema: str) -> Iterator[psycopg.Connection[Any]]:
    """Hold every table of ``schema`` locked (ACCESS EXCLUSIVE) until the block ends:
    whatever reads or writes them waits, holding its connection."""
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
        ).fetchall()
        names = sql.SQL(", ").join(sql.Identifier(schema, name) for (name,) in tables)
        conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(names))
        try:
            yield conn
        finally:
            conn.rollback()


def waiting_on_locks(url: str) -> int:
    """How many sessions of the database wait for a lock now."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()
    return int(row[0]) if row else 0


def assert_unavailable(response: httpx.Response) -> dict[str, Any]:
    """A 503 in the one error shape, with Retry-After; return the body."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert int(response.headers["retry-after"]) >= 1
    body: dict[str, Any] = response.json()
    assert set(body) == {"success", "errors", "data", "message"}, body
    assert (body["success"], body["errors"], body["data"]) == (False, ["ServiceUnavailable"], None)
    assert "Traceback" not in response.text
    return body
