"""The Media and Images APIs of a postgres project: metadata and folders are rows.

The bytes are blobs in ``media/.blobs``; nothing is kept under a file's own name, so
every answer here comes from the database. Two servers on one database, sharing the
media folder, see the same media.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from flextype_entrypoints.project import open_project
from tests.http_client import ApiClient, Project, assert_error, data_of, serve
from tests.integration.postgres_support import PgProject, copy_settings, new_schema, pg_init
from tests.integration.test_http_media import JPEG, PNG, collection, uploaded
from tests.integration.test_serve import _server

TIMEOUT = 60.0


@pytest.fixture
def pg_project(tmp_path: Path, postgres_url: str) -> Iterator[PgProject]:
    with new_schema(postgres_url) as schema:
        yield pg_init(tmp_path / "site", postgres_url, schema, "--no-demo")


@pytest.fixture
def api(pg_project: PgProject) -> Iterator[ApiClient]:
    with serve(Project(pg_project.path, pg_project.token, pg_project.access_token)) as client:
        yield client


def _rows(project: PgProject, table: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(project.url) as conn:
        query = sql.SQL("SELECT id FROM {} ORDER BY id").format(
            sql.Identifier(project.schema, table)
        )
        return conn.execute(query).fetchall()


def _media_names(project: PgProject) -> list[str]:
    """What the media folder holds besides the blobs and uploads: nothing, on postgres."""
    return sorted(p.name for p in (project.path / "media").iterdir() if p.name[0] != ".")


def test_files_are_rows_through_upload_metadata_listing_move_copy_and_delete(
    api: ApiClient, pg_project: PgProject
) -> None:
    data = uploaded(api, "Photo One.png", PNG, folder="gallery")
    assert (data["id"], data["type"], data["url"]) == (
        "gallery/photo-one.png", "image/png", "/media/gallery/photo-one.png",
    )  # fmt: skip
    assert (data["width"], data["height"]) == (40, 30)
    uploaded(api, "b.jpg", JPEG, folder="gallery")
    assert _rows(pg_project, "media_files") == [("gallery/b.jpg",), ("gallery/photo-one.png",)]
    assert _media_names(pg_project) == []
    body = {"id": "gallery/photo-one.png", "field": "alt", "value": "A ✓"}
    assert data_of(api.send("POST", "media/files/meta", body))["alt"] == "A ✓"
    assert data_of(api.send("PATCH", "media/files/meta", {**body, "value": "B"}))["alt"] == "B"
    listed = data_of(collection(api, "gallery", sort_by="[key]=id"))
    assert [f["id"] for f in listed] == ["gallery/b.jpg", "gallery/photo-one.png"]
    assert data_of(api.get("media/files", {"id": "gallery/photo-one.png"}))["alt"] == "B"
    moved = data_of(
        api.send("PUT", "media/files", {"id": "gallery/photo-one.png", "new_id": "old/p.png"})
    )
    assert (moved["id"], moved["alt"]) == ("old/p.png", "B")
    assert_error(api.get("media/files", {"id": "gallery/photo-one.png"}), 404, "NotFound")
    copy = data_of(api.send("PUT", "media/files/copy", {"id": "old/p.png", "new_id": "c.png"}))
    assert (copy["id"], copy["alt"]) == ("c.png", "B")
    assert api.request("GET", "/media/c.png").content == PNG
    assert api.request("GET", "/media/old/p.png").content == PNG
    assert api.send("DELETE", "media/files", {"id": "c.png"}).status_code == 204
    assert_error(api.get("media/files", {"id": "c.png"}), 404, "NotFound")
    assert api.request("GET", "/media/c.png").status_code == 404
    assert _rows(pg_project, "media_files") == [("gallery/b.jpg",), ("old/p.png",)]
    assert len(list((pg_project.path / "media/.blobs").glob("*/*"))) == 2  # the copy's went
    image = api.request("GET", f"/api/images/old/p.png?w=20&fm=png&token={api.token}")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")


def test_folders_are_rows_through_create_rename_copy_and_delete(
    api: ApiClient, pg_project: PgProject
) -> None:
    data_of(api.send("POST", "media/folders", {"id": "albums/2024"}))
    uploaded(api, "p.png", PNG, folder="albums/2024")
    data_of(api.send("PUT", "media/folders", {"id": "albums", "new_id": "archive/albums"}))
    data_of(api.send("PUT", "media/folders/copy", {"id": "archive", "new_id": "backup"}))
    assert _rows(pg_project, "media_folders") == [
        ("archive",), ("archive/albums",), ("archive/albums/2024",),
        ("backup",), ("backup/albums",), ("backup/albums/2024",),
    ]  # fmt: skip
    assert _media_names(pg_project) == []
    assert api.request("GET", "/media/backup/albums/2024/p.png").content == PNG
    assert api.send("DELETE", "media/folders", {"id": "archive"}).status_code == 204
    root = data_of(api.get("media/folders", {"id": "", "options[collection]": "true"}))
    assert [f["id"] for f in root] == ["backup"]
    assert _rows(pg_project, "media_files") == [("backup/albums/2024/p.png",)]


def test_a_project_s_remove_debris_removes_orphan_blobs_of_the_media_store(
    pg_project: PgProject,
) -> None:
    with open_project(pg_project.path) as project, project.media.stage() as upload:
        upload.write(PNG)
        project.media.upload("", "kept.png", upload)
    orphan = pg_project.path / "media/.blobs/ab" / ("ab" + "0" * 30)  # no row names it
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(PNG)
    hour_ago = time.time() - 3700
    for blob in (pg_project.path / "media/.blobs").glob("*/*"):
        os.utime(blob, (hour_ago, hour_ago))  # the kept file's blob is as old
    with open_project(pg_project.path) as project:
        assert project.remove_debris() >= 1
        assert project.media.fetch("kept.png")["id"] == "kept.png"
        assert not orphan.exists()
    assert len(list((pg_project.path / "media/.blobs").glob("*/*"))) == 1


def test_two_servers_on_one_database_sharing_the_media_folder_see_the_same_media(
    tmp_path: Path, pg_project: PgProject
) -> None:
    a = copy_settings(pg_project.path, tmp_path / "a")
    b = copy_settings(pg_project.path, tmp_path / "b")
    (a / "media").symlink_to(pg_project.path / "media")
    (b / "media").symlink_to(pg_project.path / "media")
    auth = {"token": pg_project.token, "access_token": pg_project.access_token}
    with _server(a) as (_, url_a), _server(b) as (_, url_b):
        sent = httpx.post(
            f"{url_a}/api/media/files",
            data={**auth, "folder": "shared"},
            files={"file": ("p.png", PNG, "image/png")},
            timeout=TIMEOUT,
        )
        assert sent.status_code == 200, sent.text
        meta = {**auth, "id": "shared/p.png", "field": "alt", "value": "from A"}
        assert httpx.post(f"{url_a}/api/media/files/meta", json=meta, timeout=TIMEOUT).is_success
        seen = httpx.get(
            f"{url_b}/api/media/files",
            params={"id": "shared/p.png", "token": pg_project.token},
            timeout=TIMEOUT,
        )
        assert seen.json()["data"]["alt"] == "from A"
        assert httpx.get(f"{url_b}/media/shared/p.png", timeout=TIMEOUT).content == PNG
        moved = {**auth, "id": "shared/p.png", "new_id": "moved/p.png"}
        assert httpx.put(f"{url_b}/api/media/files", json=moved, timeout=TIMEOUT).is_success
        gone = httpx.get(
            f"{url_a}/api/media/files",
            params={"id": "shared/p.png", "token": pg_project.token},
            timeout=TIMEOUT,
        )
        assert gone.status_code == 404
        assert httpx.get(f"{url_a}/media/moved/p.png", timeout=TIMEOUT).content == PNG
    assert _rows(pg_project, "media_files") == [("moved/p.png",)]
