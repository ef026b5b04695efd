"""New files and folders follow the umask; the settings, token files and ``db.json`` are 0600.

A web server in front of ``/media`` must be able to read uploads (0644 under the usual
umask 022), while the files holding secrets (the sign key, access token hashes) stay
readable by their owner only. Each test sets a known umask around what it does.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from flextype_entrypoints.cli import main
from flextype_entrypoints.scaffold import create_project
from tests.http_client import DRIVERS, Project, data_of, serve
from tests.integration.test_http_media import PNG, uploaded

PRIVATE = 0o600


@pytest.fixture(params=[0o022, 0o027], ids=["umask-022", "umask-027"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    mask: int = request.param
    old = os.umask(mask)
    try:
        yield mask
    finally:
        os.umask(old)


def modes(root: Path) -> dict[str, int]:
    """Relative path -> permission bits of every file and folder below ``root``."""
    return {
        str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode)
        for p in sorted(root.rglob("*"))
        if not p.is_symlink()
    }


def is_private(relative: str) -> bool:
    return relative in {"flextype.yaml", "db.json"} or (
        relative.startswith("tokens/") and relative.endswith(".yaml")
    )


def wanted(path: Path, relative: str, umask: int) -> int:
    if is_private(relative):
        return PRIVATE
    if relative.endswith((".lock", ".changes")):
        return 0o644 & ~umask  # the journal and lock files are opened with 0644
    return (0o777 if path.is_dir() else 0o666) & ~umask


@pytest.mark.parametrize("driver", DRIVERS)
def test_content_follows_the_umask_and_secrets_are_private(
    tmp_path: Path, umask: int, driver: str
) -> None:
    path = tmp_path / "site"
    issued = create_project(path, driver=driver)
    project = Project(path, issued.token.token, issued.access_token)
    with serve(project) as api:
        uploaded(api, "a.png", PNG, folder="gallery")
        meta = {"id": "gallery/a.png", "field": "note", "value": "x"}
        data_of(api.send("POST", "media/files/meta", meta))
        data_of(api.send("PUT", "media/files/copy", {"id": "gallery/a.png", "new_id": "b.png"}))
        data_of(api.send("PUT", "media/folders/copy", {"id": "gallery", "new_id": "copy"}))
        data_of(api.send("POST", "entries", {"id": "blog/new", "data": {"title": "New"}}))
        data_of(api.send("PATCH", "entries", {"id": "movies/dune", "data": {"seen": True}}))
        data_of(api.send("PUT", "entries/copy", {"id": "movies", "new_id": "films"}))
        data_of(api.send("POST", "tokens", {"data": {"title": "Second"}}))
        assert api.get("images/gallery/a.png", {"w": "10"}).status_code == 200
        assert api.get("entries", {"id": "", "options[collection]": "true"}).status_code == 200

    found = modes(path)
    expected = {relative: wanted(path / relative, relative, umask) for relative in found}
    wrong = {k: (oct(v), oct(expected[k])) for k, v in found.items() if v != expected[k]}
    assert wrong == {}
    assert found["flextype.yaml"] == PRIVATE
    assert found["media/gallery/a.png"] == 0o666 & ~umask
    assert found["media/gallery/.a.png.meta.yaml"] == 0o666 & ~umask
    assert found["media/gallery"] == 0o777 & ~umask
    assert len([p for p in found if p.startswith("cache/images/") and len(p) > 20]) == 1
    if driver == "yaml":
        assert found["entries/blog/new/entry.yaml"] == 0o666 & ~umask
        assert len([p for p in found if is_private(p) and p.startswith("tokens/")]) == 2
    else:
        assert found["db.json"] == PRIVATE


def test_export_import_and_migrate_keep_secrets_private_and_content_open(
    tmp_path: Path, umask: int
) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    create_project(source, driver="yaml")
    create_project(target, driver="yaml", demo=False)
    archive = tmp_path / "site.tar.gz"
    assert main(["export", "--project", str(source), "--out", str(archive)]) == 0
    assert main(["import", "--project", str(target), "--replace", str(archive)]) == 0
    assert main(["migrate", "--project", str(target), "--to", "tinydb"]) == 0
    assert stat.S_IMODE(archive.stat().st_mode) == PRIVATE  # it holds the token hashes
    found = modes(target)
    expected = {relative: wanted(target / relative, relative, umask) for relative in found}
    wrong = {k: (oct(v), oct(expected[k])) for k, v in found.items() if v != expected[k]}
    assert wrong == {}
    assert found["flextype.yaml"] == PRIVATE and found["db.json"] == PRIVATE
    assert found["entries/movies/dune/entry.yaml"] == 0o666 & ~umask
