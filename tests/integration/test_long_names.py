"""What can be created can be deleted: the longest names work in every operation, or are 400.

An entry id or a media folder may be 255 characters (one segment of 255 at the top). The
hidden names our writers make beside a name (temporaries, trash, staging, copies) keep
only its first 128 bytes, so they fit the 255 bytes a file name may have. A media file
name may be 244 characters, since its metadata file ``.<name>.meta.yaml`` lies beside
it; a longer one is refused up front with a 400 stating the limit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flextype_adapters.atomic import hidden_name
from flextype_adapters.debris import DEBRIS_NAME, remove_debris
from tests.http_client import (
    ApiClient,
    assert_error,
    data_of,
)
from tests.integration.test_http_media import PNG, upload, uploaded


@pytest.fixture
def with_demo() -> bool:
    return False


def hidden_files(root: Path) -> list[str]:
    """Names our writers leave behind (temporaries, trash), which must all be gone."""
    return [str(p) for p in root.rglob(".*") if DEBRIS_NAME.fullmatch(p.name)]


def deleted(api: ApiClient, path: str, *ids: str) -> None:
    """DELETE each of ``ids`` at ``path`` (204), and check it is gone (404)."""
    for doomed in ids:
        assert api.send("DELETE", path, {"id": doomed}).status_code == 204
        assert_error(api.get(path, {"id": doomed}), 404, "NotFound")


def name(length: int, first: str = "a", extension: str = "") -> str:
    return first * (length - len(extension)) + extension


@pytest.mark.parametrize("length", [233, 240, 255])
def test_a_long_entry_id_is_created_moved_copied_and_deleted(api: ApiClient, length: int) -> None:
    entry_id, moved, copied = name(length), name(length, "b"), name(length, "c")
    data_of(api.send("POST", "entries", {"id": entry_id, "data": {"title": "Long"}}))
    assert data_of(api.fetch(entry_id))["title"] == "Long"
    data_of(api.send("PUT", "entries", {"id": entry_id, "new_id": moved}))
    data_of(api.send("PUT", "entries/copy", {"id": moved, "new_id": copied}))
    # A subtree copy is staged under a hidden name, then renamed to the long one.
    parent = name(length - 2, "d")
    for tree_id in ("tree", "tree/x"):
        data_of(api.send("POST", "entries", {"id": tree_id, "data": {}}))
    data_of(api.send("PUT", "entries/copy", {"id": "tree", "new_id": parent}))
    assert data_of(api.fetch(f"{parent}/x"))["id"] == f"{parent}/x"
    deleted(api, "entries", moved, copied, parent, "tree")
    assert data_of(api.fetch("", collection="true")) == []
    assert hidden_files(api.project) == []


@pytest.mark.parametrize("length", [233, 240, 255])
def test_a_long_media_folder_is_created_moved_copied_and_deleted(
    api: ApiClient, length: int
) -> None:
    folder, moved, copied = name(length), name(length, "b"), name(length, "c")
    data_of(api.send("POST", "media/folders", {"id": folder}))
    data_of(api.send("PUT", "media/folders", {"id": folder, "new_id": moved}))
    data_of(api.send("PUT", "media/folders/copy", {"id": moved, "new_id": copied}))
    deleted(api, "media/folders", moved, copied)
    assert hidden_files(api.project) == []


@pytest.mark.parametrize("length", [231, 240, 244])
def test_a_long_file_name_is_uploaded_annotated_moved_copied_and_deleted(
    api: ApiClient, length: int
) -> None:
    file_id = name(length, extension=".png")
    moved, copied = f"g/{name(length, 'b', '.png')}", name(length, "c", ".png")
    assert uploaded(api, file_id, PNG)["id"] == file_id
    assert uploaded(api, file_id, PNG, replace=True)["id"] == file_id
    meta = {"id": file_id, "field": "note", "value": "long"}
    assert data_of(api.send("POST", "media/files/meta", meta))["note"] == "long"
    data_of(api.send("PUT", "media/files", {"id": file_id, "new_id": moved}))
    data_of(api.send("PUT", "media/files/copy", {"id": moved, "new_id": copied}))
    assert api.request("GET", f"/media/{copied}").content == PNG
    deleted(api, "media/files", moved, copied)
    data_of(api.send("POST", "media/folders", {"id": "h"}))
    data_of(api.send("PUT", "media/folders/copy", {"id": "g", "new_id": "h/g"}))
    assert api.send("DELETE", "media/folders", {"id": "g"}).status_code == 204
    assert hidden_files(api.project) == []


@pytest.mark.parametrize("length", [245, 250, 255])
def test_a_file_name_past_the_limit_is_refused_up_front_stating_it(
    api: ApiClient, length: int
) -> None:
    long_name = name(length, extension=".png")
    body = assert_error(upload(api, long_name, PNG), 400, "BadRequest")
    assert "244" in body["message"]
    uploaded(api, "short.png", PNG)
    for verb in ("media/files", "media/files/copy"):
        body = assert_error(
            api.send("PUT", verb, {"id": "short.png", "new_id": long_name}), 400, "BadRequest"
        )
        assert "244" in body["message"]
    assert sorted(p.name for p in (api.project / "media").iterdir() if p.suffix == ".png") == [
        "short.png"
    ]


@pytest.mark.parametrize("length", [1, 100, 244, 255])
@pytest.mark.parametrize("suffix", ["0123456789ab.deleted", "0123456789ab.tmp", "k2j_x9q1.tmp"])
def test_hidden_names_made_from_any_name_fit_and_are_known_debris(
    tmp_path: Path, length: int, suffix: str
) -> None:
    for source in (name(length), f".{name(length - 11)}.meta.yaml", "é" * length):
        hidden = hidden_name(source, suffix)
        assert len(hidden.encode()) <= 255
        assert DEBRIS_NAME.fullmatch(hidden)
        (tmp_path / hidden).write_text("x")
    assert remove_debris(tmp_path) == 3
    assert list(tmp_path.iterdir()) == []
