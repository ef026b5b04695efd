"""export, import and migrate with the media in a bucket (``media.driver: s3``).

An archive carries a bucket's media as it carries a folder's. An import writes media into
the live bucket (nothing to swap in), so it takes a bucket with no media yet and removes
what it wrote when it fails; ``migrate`` to or from postgres refuses up front in one
line, naming export then import, and changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from flextype_core.errors import BadRequest
from flextype_entrypoints.project import open_project
from flextype_entrypoints.transfer.importer import import_archive
from flextype_entrypoints.transfer.progress import NoBars
from tests.integration.transfer_support import init, members, replaced, rewrite, run, snapshot
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


def _exported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[Path, Path]:
    """A project with media on disk, filled, and its archive."""
    source = _site(capsys, tmp_path / "source", None)
    _fill(source)
    archive = tmp_path / "a.tgz"
    assert run(capsys, "export", "--project", str(source), "--out", str(archive))[0] == 0
    return source, archive


def _unchanged(target: Path, stored: StoredMedia) -> Any:
    """What must not change when an import into ``target`` is refused or fails.

    The content through the stores, the project's files (the media store's local locks
    and change marker aside: reads create them), the settings file, the bucket's objects.
    """
    content = snapshot(target)
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*"))
    files = [name for name in files if not name.startswith("media/.")]
    bucket = {k: v for k, v in stored.snapshot().items() if k.startswith("s3")}
    return files, (target / "flextype.yaml").read_bytes(), bucket, content


def test_an_import_into_an_empty_bucket_brings_the_media_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], s3_settings: dict[str, Any]
) -> None:
    source, archive = _exported(capsys, tmp_path)
    target = _site(capsys, tmp_path / "target", s3_settings)
    code, out, err = run(capsys, "import", "--project", str(target), str(archive))
    assert (code, err) == (0, ""), err
    assert "2 media files" in out
    imported, before = snapshot(target), snapshot(source)
    assert imported["settings"]["media"].pop("s3")["bucket"] == s3_settings["bucket"]
    assert imported["settings"].pop("media") == {"driver": "s3"}  # the source has none
    assert imported == before
    stored = StoredMedia(target, "s3", s3_settings)
    assert stored.content("posters/2021/dune.png") == PNG
    assert stored.content("notes.txt") == b"Some notes.\n"
    assert not (target / "media" / "notes.txt").exists()  # in the bucket, not on disk
    with open_project(target) as project:  # through the API's service
        fetched = project.media.fetch("posters/2021/dune.png")
        assert project.container.media_store().folder_exists("empty/inner")
    assert fetched["credits"] == {"by": ["A", "B"], "year": 2021}
    assert fetched["id"] == "posters/2021/dune.png"


def _later_size(data: bytes) -> bytes:
    return data + b"!"


def _same_size(data: bytes) -> bytes:
    return data[:-1] + b"?"


@pytest.mark.parametrize(
    "edit",
    [_later_size, _same_size],
    ids=["a file fails after another was written", "the manifest fails after every file"],
)
def test_a_failing_import_into_a_bucket_removes_the_media_it_wrote(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    s3_settings: dict[str, Any],
    edit: Any,
) -> None:
    _, archive = _exported(capsys, tmp_path)
    names = [info.name for info, _ in members(archive) if info.name.startswith("media/files/")]
    assert names == ["media/files/notes.txt", "media/files/posters/2021/dune.png"]
    bad = tmp_path / "bad.tgz"
    rewrite(archive, bad, replaced(names[-1], edit), fix_manifest=False)
    target = _site(capsys, tmp_path / "target", s3_settings)
    with open_project(target) as project:
        project.entries.create("kept", {"title": "Kept"})
    stored = StoredMedia(target, "s3", s3_settings)
    before = _unchanged(target, stored)
    code, out, err = run(capsys, "import", "--project", str(target), str(bad), "--replace")
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and "Nothing was imported." in err
    assert _unchanged(target, stored) == before
    assert before[2] == {}  # the bucket holds no object at all: no record, no blob


def test_an_import_into_a_bucket_with_media_is_refused_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], s3_settings: dict[str, Any]
) -> None:
    _, archive = _exported(capsys, tmp_path)
    target = _site(capsys, tmp_path / "target", s3_settings)
    with open_project(target) as project:
        project.media.create_folder("only/a/folder")
    stored = StoredMedia(target, "s3", s3_settings)
    before = _unchanged(target, stored)
    for flags in ([], ["--replace"]):
        code, out, err = run(capsys, "import", "--project", str(target), str(archive), *flags)
        assert code != 0 and out == ""
        assert err.count("\n") == 1
        assert "media.driver: s3" in err and "needs the bucket's media empty" in err
        assert _unchanged(target, stored) == before


def test_an_import_into_postgres_with_media_in_a_bucket_is_refused_up_front(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], s3_settings: dict[str, Any]
) -> None:
    _, archive = _exported(capsys, tmp_path)
    target = _site(capsys, tmp_path / "target", s3_settings)
    settings = yaml.safe_load((target / "flextype.yaml").read_text())
    settings["storage"] = {
        "driver": "postgres",
        "postgres": {"url": "postgresql://nobody@127.0.0.1:1/none"},
    }
    (target / "flextype.yaml").write_text(yaml.safe_dump(settings))
    stored = StoredMedia(target, "s3", s3_settings)
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*"))
    # The function itself: the command checks the database's schema before it.
    with archive.open("rb") as source, pytest.raises(BadRequest) as refused:
        import_archive(target, source, replace=False, bars=NoBars())
    assert "media.driver: s3" in refused.value.message
    assert "storage.driver: postgres" in refused.value.message
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == files
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
