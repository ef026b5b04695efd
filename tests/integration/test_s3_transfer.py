"""export, import and migrate with the media in a bucket (``media.driver: s3``).

An archive carries a bucket's media as it carries a folder's: export, then import into a
project whose media are on disk. An import into a bucket, and ``migrate`` to or from
postgres, would write into the live bucket with nothing to swap in: both refuse up
front in one line, naming the way that works, and change nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from flextype_entrypoints.project import open_project
from tests.integration.transfer_support import init, members, run, snapshot
from tests.media_drivers import StoredMedia, use_bucket
from tests.s3_server import S3_CREDENTIALS, bucket_settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _site(capsys: pytest.CaptureFixture[str], path: Path, s3: dict[str, Any] | None) -> Path:
    init(capsys, path, "yaml", demo=False)
    if s3 is not None:
        use_bucket(path, s3)
    return path


def _fill(path: Path) -> None:
    with open_project(path) as project:
        project.entries.create("movies", {"title": "Movies"})
        media = project.media
        with media.stage() as upload:
            upload.write(PNG)
            media.upload("posters/2021", "dune.png", upload)
        media.add_meta("posters/2021/dune.png", "credits", {"by": ["A", "B"], "year": 2021})
        with media.stage() as upload:
            upload.write(b"Some notes.\n")
            media.upload("", "notes.txt", upload)
        media.create_folder("empty/inner")


def test_export_from_a_bucket_and_import_into_a_project_with_media_on_disk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], s3_endpoint: str
) -> None:
    source_s3 = bucket_settings(s3_endpoint)
    source = _site(capsys, tmp_path / "source", source_s3)
    _fill(source)
    before = snapshot(source)
    assert len(before["files"]) == 2  # read through the store: from the bucket
    archive = tmp_path / "a.tgz"
    code, _, err = run(capsys, "export", "--project", str(source), "--out", str(archive))
    assert code == 0, err
    for _, data in members(archive):
        for secret in (
            S3_CREDENTIALS["secret_access_key"],
            S3_CREDENTIALS["access_key_id"],
            s3_endpoint,
        ):
            assert secret.encode() not in data
    disk = _site(capsys, tmp_path / "disk", None)
    code, out, err = run(capsys, "import", "--project", str(disk), str(archive))
    assert (code, err) == (0, ""), err
    assert "2 media files" in out
    imported = snapshot(disk)
    for media in (imported["settings"]["media"], before["settings"]["media"]):
        media.pop("driver", None)  # where the media live is each project's own
        media.pop("s3", None)
    assert imported == before
    assert (disk / "media" / "posters" / "2021" / "dune.png").read_bytes() == PNG
    assert yaml.safe_load((disk / "flextype.yaml").read_text())["media"].get("driver") is None


def test_an_import_into_media_in_a_bucket_is_refused_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], s3_endpoint: str
) -> None:
    source = _site(capsys, tmp_path / "source", None)
    _fill(source)
    archive = tmp_path / "a.tgz"
    assert run(capsys, "export", "--project", str(source), "--out", str(archive))[0] == 0
    s3 = bucket_settings(s3_endpoint)
    target = _site(capsys, tmp_path / "target", s3)
    stored = StoredMedia(target, "s3", s3)
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*"))
    settings = (target / "flextype.yaml").read_bytes()
    code, out, err = run(capsys, "import", "--project", str(target), str(archive))
    assert code != 0 and out == ""
    assert err.count("\n") == 1
    assert "media.driver: s3" in err and "media.driver: local" in err
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == files
    assert (target / "flextype.yaml").read_bytes() == settings
    assert stored.snapshot() == {}


def test_migrate_to_postgres_with_media_in_a_bucket_is_refused_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], s3_endpoint: str
) -> None:
    s3 = bucket_settings(s3_endpoint)
    site = _site(capsys, tmp_path / "site", s3)
    _fill(site)
    stored = StoredMedia(site, "s3", s3)
    files = sorted(str(p.relative_to(site)) for p in site.rglob("*"))
    settings = (site / "flextype.yaml").read_bytes()
    kept = stored.snapshot()
    # No database is reached: the refusal comes first.
    code, out, err = run(
        capsys, "migrate", "--project", str(site), "--to", "postgres",
        "--database-url", "postgresql://nobody@127.0.0.1:1/none",
    )  # fmt: skip
    assert code != 0 and out == ""
    assert err.count("\n") == 1
    assert "media.driver: s3" in err and "flextype export, then flextype import" in err
    assert sorted(str(p.relative_to(site)) for p in site.rglob("*")) == files
    assert (site / "flextype.yaml").read_bytes() == settings
    assert stored.snapshot() == kept


def test_migrate_between_the_file_drivers_leaves_a_buckets_media_in_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], s3_endpoint: str
) -> None:
    s3 = bucket_settings(s3_endpoint)
    site = _site(capsys, tmp_path / "site", s3)
    _fill(site)
    before = snapshot(site)
    code, _, err = run(capsys, "migrate", "--project", str(site), "--to", "tinydb")
    assert code == 0, err
    assert snapshot(site) == before
