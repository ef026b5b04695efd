"""Symbolic links in the content never lead out of it (reads 404, writes 409, logged).

A Git checkout of content can carry links. One that resolves outside ``entries/``,
``media/`` or ``tokens/`` must never let a read serve, or a write change, a file
elsewhere (the settings file with its ``images.sign_key``, above all); links that stay
inside are followed. Every response is also checked for leaked paths by ``serve``.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from flextype_adapters.index_snapshot import SNAPSHOT_FILE, save_snapshot
from flextype_adapters.indexed_yaml_files import IndexedYamlFilesEntryStore
from flextype_adapters.local_media import LocalMediaStore
from flextype_adapters.yaml_files import YamlFilesEntryStore
from flextype_core.errors import Conflict, EntryNotFound, MediaFileNotFound, MediaFolderNotFound
from tests.http_client import (
    ApiClient,
    Project,
    assert_error,
    data_of,
    files_of,
    serve,
)
from tests.integration.test_http_media import PNG, collection, upload, uploaded

OUTSIDE_NAMES = [".secret.png.meta.yaml", "secret.png", "x"]
"""What ``outside`` holds, as ``sorted(iterdir())`` names it: nothing added or removed."""


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the project, with content an attacker would like served."""
    folder = tmp_path / "outside"
    (folder / "x").mkdir(parents=True)
    (folder / "x" / "entry.yaml").write_text("title: Outside\n")
    (folder / "secret.png").write_bytes(PNG)
    (folder / ".secret.png.meta.yaml").write_text("title: secret\ntype: image/png\n")
    return folder


def sign_key(project: Project) -> str:
    settings = yaml.safe_load((project.path / "flextype.yaml").read_text())
    key: str = settings["images"]["sign_key"]
    assert len(key) == 64
    return key


def assert_never_shown(api: ApiClient, secret: str) -> None:
    for response in api.responses:
        assert secret not in response.text, response.request.url


def ids_of(api: ApiClient, entry_id: str, depth: str) -> list[str]:
    params = {"id": entry_id, "options[collection]": "true", "options[find][depth]": depth}
    return [e["id"] for e in data_of(api.get("entries", params))]


# -- entries (YAML driver: the entries are files) -----------------------------------------


def test_an_entry_file_linked_to_the_settings_file_is_never_served(yaml_project: Project) -> None:
    leak = yaml_project.path / "entries" / "movies" / "leak"
    leak.mkdir()
    (leak / "entry.yaml").symlink_to("../../../flextype.yaml")
    with serve(yaml_project) as api:
        assert_error(api.fetch("movies/leak"), 404, "NotFound")
        assert "movies/leak" not in ids_of(api, "movies", "1")
        assert not [i for i in ids_of(api, "", "all") if i.startswith("movies/leak")]
        assert_error(
            api.send("PATCH", "entries", {"id": "movies/leak", "data": {}}), 404, "NotFound"
        )
        assert_never_shown(api, sign_key(yaml_project))
    assert (yaml_project.path / "flextype.yaml").is_file()


def test_a_snapshot_holding_a_linked_entry_does_not_bring_it_back(
    yaml_project: Project, tmp_path: Path
) -> None:
    # As an index snapshot written before links were refused would hold it.
    root = yaml_project.path / "entries"
    leak = root / "movies" / "leak"
    leak.mkdir()
    (leak / "entry.yaml").symlink_to("../../../flextype.yaml")
    stat = (leak / "entry.yaml").stat()
    fields = yaml.safe_load((yaml_project.path / "flextype.yaml").read_text())
    identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    save_snapshot(root / SNAPSHOT_FILE, {"movies/leak": (identity, msgspec.json.encode(fields))})
    store = IndexedYamlFilesEntryStore(root)
    assert "movies/leak" not in [e.id for e in store.descendants("", None)]
    assert "movies/dune" in [e.id for e in store.descendants("", None)]


@contextmanager
def served_with_a_link(project: Project, link: Path, outside: Path) -> Iterator[ApiClient]:
    """Serve ``project`` with ``link`` leading to ``outside``, which must be left untouched."""
    link.symlink_to(outside)
    before = files_of(outside)
    with serve(project) as api:
        yield api
    assert files_of(outside) == before
    assert sorted(p.name for p in outside.iterdir()) == OUTSIDE_NAMES


@pytest.fixture
def linked_entries(yaml_project: Project, outside: Path) -> Iterator[ApiClient]:
    """``entries/ext`` links to a folder outside that holds entry ``x``."""
    with served_with_a_link(yaml_project, yaml_project.path / "entries" / "ext", outside) as api:
        yield api


def test_entries_behind_a_folder_linked_outside_are_not_found(linked_entries: ApiClient) -> None:
    api = linked_entries
    assert_error(api.fetch("ext/x"), 404, "NotFound")
    assert_error(api.fetch("ext", collection="true"), 404, "NotFound")
    assert not [i for i in ids_of(api, "", "all") if i.startswith("ext")]
    assert_error(api.send("PATCH", "entries", {"id": "ext/x", "data": {"a": 1}}), 404, "NotFound")
    assert_error(api.send("PUT", "entries", {"id": "ext/x", "new_id": "y"}), 404, "NotFound")
    assert_error(api.send("PUT", "entries/copy", {"id": "ext/x", "new_id": "y"}), 404, "NotFound")
    assert_error(api.send("DELETE", "entries", {"id": "ext/x"}), 404, "NotFound")
    assert_error(api.send("DELETE", "entries", {"id": "ext"}), 404, "NotFound")


def test_no_entry_is_written_through_a_folder_linked_outside(linked_entries: ApiClient) -> None:
    api = linked_entries
    body = assert_error(
        api.send("POST", "entries", {"id": "ext/new", "data": {"title": "New"}}), 409, "Conflict"
    )
    assert "'ext/new'" in body["message"] and "symbolic link" in body["message"]
    assert_error(
        api.send("PUT", "entries", {"id": "movies/dune", "new_id": "ext/dune"}), 409, "Conflict"
    )
    assert_error(
        api.send("PUT", "entries/copy", {"id": "movies", "new_id": "ext/movies"}), 409, "Conflict"
    )
    assert data_of(api.fetch("movies/dune"))["title"] == "Dune"


def test_links_that_stay_inside_are_followed_and_deleting_one_removes_only_the_link(
    yaml_project: Project,
) -> None:
    root = yaml_project.path / "entries"
    (root / "alias").symlink_to("movies/dune")
    (root / "films").symlink_to("movies")
    (root / "twin").mkdir()
    (root / "twin" / "entry.yaml").symlink_to("../movies/parasite/entry.yaml")
    with serve(yaml_project) as api:
        assert data_of(api.fetch("alias"))["title"] == "Dune"
        assert data_of(api.fetch("twin"))["title"] == "Parasite"
        assert data_of(api.fetch("films/dune"))["title"] == "Dune"
        assert "films/dune" in ids_of(api, "films", "1")
        assert {"alias", "twin"} <= set(ids_of(api, "", "1"))
        assert api.send("DELETE", "entries", {"id": "alias"}).status_code == 204
        assert not (root / "alias").is_symlink()
        assert data_of(api.fetch("movies/dune"))["title"] == "Dune"


@pytest.mark.parametrize("kind", ["plain", "indexed"])
def test_the_entry_stores_refuse_a_linked_folder_and_log_it(
    kind: str, tmp_path: Path, outside: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "entries"
    root.mkdir()
    (root / "ext").symlink_to(outside)
    store = YamlFilesEntryStore(root) if kind == "plain" else IndexedYamlFilesEntryStore(root)
    with caplog.at_level(logging.WARNING, logger="flextype.storage"):
        assert not store.exists("ext/x")
        with pytest.raises(EntryNotFound):
            store.get("ext/x")
        assert store.descendants("", None) == []
        with pytest.raises(Conflict):
            store.create({"ext/y": {}})
    assert "ext" in caplog.text
    assert sorted(p.name for p in outside.iterdir()) == OUTSIDE_NAMES


def test_a_journal_linked_outside_is_never_appended_to(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "entries"
    root.mkdir()
    (outside / "notes.txt").write_text("mine\n")
    (root / ".changes").symlink_to(outside / "notes.txt")
    store = IndexedYamlFilesEntryStore(root)
    store.create({"a": {"n": 1}})
    assert [e.id for e in store.descendants("", None)] == ["a"]
    assert (outside / "notes.txt").read_text() == "mine\n"


# -- media (both drivers share the media store) -------------------------------------------


@pytest.fixture
def linked_media(project: Project, outside: Path) -> Iterator[ApiClient]:
    """``media/ext`` links to a folder outside holding ``secret.png`` and its sidecar."""
    media = project.path / "media"
    media.mkdir(exist_ok=True)
    with served_with_a_link(project, media / "ext", outside) as api:
        yield api


def test_media_behind_a_folder_linked_outside_is_not_found(linked_media: ApiClient) -> None:
    api = linked_media
    assert_error(api.get("media/files", {"id": "ext/secret.png"}), 404, "NotFound")
    assert_error(api.request("GET", "/media/ext/secret.png"), 404, "NotFound")
    assert_error(api.get("images/ext/secret.png", {"w": "10"}), 404, "NotFound")
    assert_error(collection(api, "ext"), 404, "NotFound")
    everything = data_of(collection(api, "", **{"options[find][depth]": "all"}))
    assert not [f for f in everything if f["id"].startswith("ext")]
    folders = data_of(api.get("media/folders", {"id": "", "options[collection]": "true"}))
    assert "ext" not in [f["id"] for f in folders]
    assert_error(api.get("media/folders", {"id": "ext"}), 404, "NotFound")


def test_no_media_write_reaches_through_a_folder_linked_outside(linked_media: ApiClient) -> None:
    api = linked_media
    meta = {"id": "ext/secret.png", "field": "note", "value": "x"}
    assert_error(api.send("POST", "media/files/meta", meta), 404, "NotFound")
    assert_error(api.send("PATCH", "media/files/meta", meta), 404, "NotFound")
    assert_error(api.send("DELETE", "media/files/meta", meta), 404, "NotFound")
    for verb in ("media/files", "media/files/copy"):
        moved = {"id": "ext/secret.png", "new_id": "s.png"}
        assert_error(api.send("PUT", verb, moved), 404, "NotFound")
    assert_error(api.send("DELETE", "media/files", {"id": "ext/secret.png"}), 404, "NotFound")
    for folder in ("ext", "ext/sub"):
        assert_error(upload(api, "a.png", PNG, folder=folder), 409, "Conflict")
    uploaded(api, "a.png", PNG)
    for verb in ("media/files", "media/files/copy"):
        assert_error(api.send("PUT", verb, {"id": "a.png", "new_id": "ext/a.png"}), 409, "Conflict")
    assert data_of(api.get("media/files", {"id": "a.png"}))["id"] == "a.png"
    assert_error(api.send("POST", "media/folders", {"id": "ext/new"}), 409, "Conflict")
    for verb in ("media/folders", "media/folders/copy"):
        assert_error(api.send("PUT", verb, {"id": "ext", "new_id": "y"}), 404, "NotFound")
    data_of(api.send("POST", "media/folders", {"id": "mine"}))
    for verb in ("media/folders", "media/folders/copy"):
        assert_error(api.send("PUT", verb, {"id": "mine", "new_id": "ext/mine"}), 409, "Conflict")
    assert_error(api.send("DELETE", "media/folders", {"id": "ext"}), 404, "NotFound")
    assert_error(api.send("DELETE", "media/folders", {"id": "ext/x"}), 404, "NotFound")


def test_a_media_file_or_sidecar_linked_to_the_settings_file_is_never_served(
    project: Project,
) -> None:
    media = project.path / "media"
    (media / "leak.txt").symlink_to("../flextype.yaml")
    (media / ".leak.txt.meta.yaml").write_text("title: leak\ntype: text/plain\n")
    with serve(project) as api:
        uploaded(api, "a.png", PNG)
        sidecar = media / ".a.png.meta.yaml"
        sidecar.unlink()
        sidecar.symlink_to("../flextype.yaml")
        for file_id in ("leak.txt", "a.png"):
            assert_error(api.get("media/files", {"id": file_id}), 404, "NotFound")
            assert_error(api.request("GET", f"/media/{file_id}"), 404, "NotFound")
        assert_error(api.get("images/a.png", {"w": "10"}), 404, "NotFound")
        listed = [f["id"] for f in data_of(collection(api, ""))]
        assert "leak.txt" not in listed and "a.png" not in listed
        assert_never_shown(api, sign_key(project))
    assert (project.path / "flextype.yaml").is_file()


def test_media_links_that_stay_inside_are_followed(project: Project) -> None:
    media = project.path / "media"
    with serve(project) as api:
        uploaded(api, "a.png", PNG, folder="gallery")
        (media / "alias").symlink_to("gallery")
        assert data_of(api.get("media/files", {"id": "alias/a.png"}))["id"] == "alias/a.png"
        assert api.request("GET", "/media/alias/a.png").content == PNG
        assert api.get("images/alias/a.png", {"w": "10"}).status_code == 200
        folders = data_of(api.get("media/folders", {"id": "", "options[collection]": "true"}))
        assert "alias" in [f["id"] for f in folders]
        assert api.send("DELETE", "media/folders", {"id": "alias"}).status_code == 204
        assert not (media / "alias").is_symlink()
        assert data_of(api.get("media/files", {"id": "gallery/a.png"}))["id"] == "gallery/a.png"


def test_the_media_store_refuses_a_linked_folder_and_logs_it(
    tmp_path: Path, outside: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "media"
    root.mkdir()
    (root / "ext").symlink_to(outside)
    store = LocalMediaStore(root)
    with caplog.at_level(logging.WARNING, logger="flextype.storage"):
        assert not store.folder_exists("ext")
        assert store.folders("") == []
        with pytest.raises(MediaFolderNotFound):
            store.files("ext")
        with pytest.raises(MediaFileNotFound):
            store.read("ext/secret.png")
        with pytest.raises(MediaFileNotFound):
            store.content_hash("ext/secret.png")
        with pytest.raises(Conflict):
            store.create_folder("ext/new")
    assert "ext" in caplog.text and "symbolic link" in caplog.text


# -- tokens -------------------------------------------------------------------------------


def test_a_token_file_linked_outside_is_no_token(yaml_project: Project, tmp_path: Path) -> None:
    tokens = yaml_project.path / "tokens"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    linked = "f" * 32
    shutil.copy(tokens / f"{yaml_project.token}.yaml", elsewhere / f"{linked}.yaml")
    (tokens / f"{linked}.yaml").symlink_to(elsewhere / f"{linked}.yaml")
    with serve(yaml_project) as api:
        listed: list[dict[str, Any]] = data_of(api.get("tokens", {"options[collection]": "true"}))
        assert linked not in [t["token"] for t in listed]
        other = api.as_token(linked, yaml_project.access_token)
        assert_error(other.fetch("movies/dune"), 401, "AccessTokenInvalid")
