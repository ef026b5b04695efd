"""MediaService over in-memory fakes: uploads, metadata, files and folders."""

from __future__ import annotations

import zlib
from typing import Any

import pytest

from flextype_core.errors import (
    BadRequest,
    Conflict,
    InvalidId,
    MediaFileNotFound,
    MediaFolderNotFound,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from flextype_core.media import MediaService
from tests.unit.fakes import FixedClock
from tests.unit.media_fakes import FakeImageProcessor, FakeMediaStore, FakeUpload

NOW = 1_700_000_000


def png(width: int = 3, height: int = 2) -> bytes:
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + len(ihdr).to_bytes(4, "big")
        + chunk
        + zlib.crc32(chunk).to_bytes(4, "big")
    )


@pytest.fixture
def store() -> FakeMediaStore:
    return FakeMediaStore()


@pytest.fixture
def media(store: FakeMediaStore) -> MediaService:
    return MediaService(
        store,
        FixedClock(NOW),
        FakeImageProcessor(),
        accept_file_types=["png", "JPG", ".txt", "gif"],
        max_file_size=1000,
    )


def upload(media: MediaService, folder: str, name: str, data: bytes, **kw: Any) -> dict[str, Any]:
    return media.upload(folder, name, FakeUpload(data), **kw)


# -- uploads ----------------------------------------------------------------------


def test_an_uploaded_image_gets_its_metadata_and_a_relative_url(media: MediaService) -> None:
    created = upload(media, "posters", "Dune.png", png(640, 480))
    assert created == {
        "title": "dune",
        "description": "",
        "type": "image/png",
        "filesize": len(png(640, 480)),
        "uploaded_on": NOW,
        "width": 640,
        "height": 480,
        "id": "posters/dune.png",
        "url": "/media/posters/dune.png",
    }
    assert media.fetch("posters/dune.png") == created


def test_an_upload_gets_a_safe_name(media: MediaService) -> None:
    assert upload(media, "", "Pixel Test.png", png())["id"] == "pixel-test.png"


def test_an_upload_into_a_missing_folder_creates_it(
    media: MediaService, store: FakeMediaStore
) -> None:
    upload(media, "a/b", "x.png", png())
    assert store.folder_exists("a") and store.folder_exists("a/b")


def test_a_text_file_has_no_width_or_height(media: MediaService) -> None:
    created = upload(media, "", "notes.txt", b"hello")
    assert created["type"] == "text/plain"
    assert "width" not in created and "height" not in created


def test_without_an_image_processor_images_have_no_size(store: FakeMediaStore) -> None:
    media = MediaService(
        store, FixedClock(NOW), None, accept_file_types=["png"], max_file_size=1000
    )
    assert "width" not in upload(media, "", "a.png", png())


def test_the_extension_allow_list_ignores_case(media: MediaService) -> None:
    assert upload(media, "", "PHOTO.JPG", b"\xff\xd8\xff\xe0rest")["id"] == "photo.jpg"


@pytest.mark.parametrize("name", ["a.exe", "a.php", "a.png.php", "png", "a.jpeg", "a."])
def test_an_extension_outside_the_allow_list_is_unsupported(media: MediaService, name: str) -> None:
    with pytest.raises(UnsupportedMediaType):
        upload(media, "", name, png())


def test_a_png_that_is_no_png_is_unsupported(media: MediaService, store: FakeMediaStore) -> None:
    with pytest.raises(UnsupportedMediaType):
        upload(media, "", "evil.png", b"<?php echo 1; ?>")
    assert store.metas == {}


def test_an_upload_over_the_size_limit_is_too_large(media: MediaService) -> None:
    with pytest.raises(PayloadTooLarge):
        upload(media, "", "big.txt", b"x" * 1001)
    assert upload(media, "", "edge.txt", b"x" * 1000)["filesize"] == 1000


def test_an_existing_file_is_not_overwritten_unless_asked(media: MediaService) -> None:
    upload(media, "", "a.txt", b"one")
    with pytest.raises(Conflict):
        upload(media, "", "a.txt", b"two")
    assert upload(media, "", "a.txt", b"three", replace=True)["filesize"] == 5


@pytest.mark.parametrize("folder", ["../etc", "a/../b", "a\\b", "/a", "a//b", ".hidden"])
def test_a_traversal_in_the_folder_is_an_invalid_id(media: MediaService, folder: str) -> None:
    with pytest.raises(InvalidId):
        upload(media, folder, "a.png", png())


def test_a_name_with_nothing_safe_left_is_an_invalid_id(media: MediaService) -> None:
    with pytest.raises(InvalidId):
        upload(media, "", "...", png())


# -- fetching and collections -------------------------------------------------------


def test_fetching_a_missing_file_is_not_found(media: MediaService) -> None:
    with pytest.raises(MediaFileNotFound):
        media.fetch("nope.png")


def test_fetching_a_traversal_id_is_an_invalid_id(media: MediaService) -> None:
    with pytest.raises(InvalidId):
        media.fetch("../secret.png")


def test_a_collection_lists_a_folders_files_in_id_order(media: MediaService) -> None:
    for name in ["b.txt", "a.txt", "c.png"]:
        upload(media, "docs", name, png() if name.endswith("png") else b"text")
    upload(media, "docs/sub", "deep.txt", b"deeper")
    page = media.collection("docs", {})
    assert [f["id"] for f in page.data] == ["docs/a.txt", "docs/b.txt", "docs/c.png"]
    assert page.meta is not None and page.meta.total == 3


def test_a_collection_takes_the_filter_options_of_entries(media: MediaService) -> None:
    upload(media, "", "a.txt", b"text")
    upload(media, "", "b.png", png(10, 10))
    upload(media, "", "c.png", png(20, 20))
    page = media.collection(
        "",
        {
            "filter": {
                "where": [{"key": "type", "operator": "eq", "value": "image/png"}],
                "sort_by": {"key": "width", "direction": "DESC"},
                "only": ["width"],
            }
        },
    )
    assert page.data == [{"id": "c.png", "width": 20}, {"id": "b.png", "width": 10}]
    assert page.meta is not None and page.meta.total == 2


def test_a_collection_with_depth_reaches_into_subfolders(media: MediaService) -> None:
    upload(media, "a", "one.txt", b"1")
    upload(media, "a/b", "two.txt", b"2")
    upload(media, "a/b/c", "three.txt", b"3")
    two_levels = media.collection("a", {"find": {"depth": 2}}).data
    assert [f["id"] for f in two_levels] == ["a/b/two.txt", "a/one.txt"]
    every = media.collection("a", {"find": {"depth": "all"}}).data
    assert len(every) == 3


def test_a_collection_names_the_files_whose_metadata_is_unreadable(
    media: MediaService, store: FakeMediaStore
) -> None:
    for folder, name in [("a", "one.txt"), ("a", "two.txt"), ("a/b", "three.txt")]:
        upload(media, folder, name, b"text")
    store.damaged |= {"a/two.txt", "a/b/three.txt"}
    page = media.collection("a", {})
    assert [f["id"] for f in page.data] == ["a/one.txt"]
    assert page.meta is not None and page.meta.unreadable == ("a/two.txt",)
    every = media.collection("a", {"find": {"depth": "all"}})
    assert every.meta is not None and every.meta.unreadable == ("a/b/three.txt", "a/two.txt")


def test_a_collection_of_a_missing_folder_is_not_found(media: MediaService) -> None:
    with pytest.raises(MediaFolderNotFound):
        media.collection("nope", {})


def test_a_collection_method_is_a_bad_request(media: MediaService) -> None:
    with pytest.raises(BadRequest):
        media.collection("", {"method": "anything"})


# -- move, copy, delete -----------------------------------------------------------


def test_moving_a_file_takes_its_metadata_along(media: MediaService) -> None:
    upload(media, "", "a.txt", b"text")
    media.add_meta("a.txt", "alt", "An A")
    moved = media.move("a.txt", "archive/b.txt")
    assert moved["id"] == "archive/b.txt" and moved["alt"] == "An A"
    assert moved["url"] == "/media/archive/b.txt"
    with pytest.raises(MediaFileNotFound):
        media.fetch("a.txt")


def test_copying_a_file_keeps_the_original(media: MediaService, store: FakeMediaStore) -> None:
    upload(media, "", "a.txt", b"text")
    copied = media.copy("a.txt", "b.txt")
    assert copied["title"] == "a"
    assert media.fetch("a.txt")["id"] == "a.txt"
    assert store.read("b.txt") == b"text"


def test_moving_onto_a_taken_id_is_a_conflict(media: MediaService) -> None:
    upload(media, "", "a.txt", b"a")
    upload(media, "", "b.txt", b"b")
    with pytest.raises(Conflict):
        media.move("a.txt", "b.txt")
    with pytest.raises(Conflict):
        media.copy("a.txt", "a.txt")


def test_a_move_may_not_change_the_extension(media: MediaService) -> None:
    upload(media, "", "a.txt", b"<?php")
    with pytest.raises(BadRequest):
        media.move("a.txt", "a.php")


def test_moving_a_missing_file_is_not_found(media: MediaService) -> None:
    with pytest.raises(MediaFileNotFound):
        media.move("nope.txt", "b.txt")


def test_deleting_a_file_removes_it(media: MediaService) -> None:
    upload(media, "", "a.txt", b"a")
    media.delete("a.txt")
    with pytest.raises(MediaFileNotFound):
        media.delete("a.txt")


# -- metadata ---------------------------------------------------------------------


def test_metadata_can_be_added_changed_and_deleted(media: MediaService) -> None:
    upload(media, "", "a.txt", b"a")
    assert media.add_meta("a.txt", "alt", "first")["alt"] == "first"
    assert media.update_meta("a.txt", "alt", "second")["alt"] == "second"
    assert media.update_meta("a.txt", "title", "A title")["title"] == "A title"
    assert "alt" not in media.delete_meta("a.txt", "alt")
    assert "alt" not in media.fetch("a.txt")


def test_adding_a_field_that_exists_is_a_conflict(media: MediaService) -> None:
    upload(media, "", "a.txt", b"a")
    with pytest.raises(Conflict):
        media.add_meta("a.txt", "title", "again")
    assert media.fetch("a.txt")["title"] == "a"


def test_changing_or_deleting_a_missing_field_is_not_found(media: MediaService) -> None:
    upload(media, "", "a.txt", b"a")
    with pytest.raises(NotFound):
        media.update_meta("a.txt", "alt", "x")
    with pytest.raises(NotFound):
        media.delete_meta("a.txt", "alt")


@pytest.mark.parametrize("field", ["type", "filesize", "uploaded_on", "width", "height", "id"])
def test_a_managed_field_cannot_be_written(media: MediaService, field: str) -> None:
    upload(media, "", "a.png", png())
    for write in (media.add_meta, media.update_meta):
        with pytest.raises(ValidationFailed) as error:
            write("a.png", field, 1)
        assert error.value.details == [field]
    with pytest.raises(ValidationFailed):
        media.delete_meta("a.png", field)


@pytest.mark.parametrize("field", ["", None, 3])
def test_a_field_must_be_a_non_empty_string(media: MediaService, field: object) -> None:
    upload(media, "", "a.txt", b"a")
    with pytest.raises(ValidationFailed):
        media.add_meta("a.txt", field, "x")


def test_metadata_of_a_missing_file_is_not_found(media: MediaService) -> None:
    with pytest.raises(MediaFileNotFound):
        media.add_meta("nope.txt", "alt", "x")


# -- folders ----------------------------------------------------------------------


def test_a_folder_is_shown_with_its_id_and_url(media: MediaService) -> None:
    assert media.create_folder("movies/posters") == {
        "id": "movies/posters",
        "url": "/media/movies/posters",
    }
    assert media.folder("movies") == {"id": "movies", "url": "/media/movies"}
    assert media.folder("/") == {"id": "", "url": "/media"}


def test_folders_lists_the_direct_subfolders_in_order(media: MediaService) -> None:
    for folder in ["b", "a", "a/inner", "c-d"]:
        media.create_folder(folder)
    assert [f["id"] for f in media.folders("")] == ["a", "b", "c-d"]
    assert media.folders("a") == [{"id": "a/inner", "url": "/media/a/inner"}]


def test_a_missing_folder_is_not_found(media: MediaService) -> None:
    with pytest.raises(MediaFolderNotFound):
        media.folder("nope")
    with pytest.raises(MediaFolderNotFound):
        media.folders("nope")


def test_creating_an_existing_folder_is_a_conflict(media: MediaService) -> None:
    media.create_folder("a")
    for folder in ["a", "", "/"]:
        with pytest.raises(Conflict):
            media.create_folder(folder)


def test_moving_a_folder_moves_its_files_and_subfolders(media: MediaService) -> None:
    upload(media, "a/b", "x.txt", b"x")
    assert media.move_folder("a", "z") == {"id": "z", "url": "/media/z"}
    assert media.fetch("z/b/x.txt")["id"] == "z/b/x.txt"
    with pytest.raises(MediaFolderNotFound):
        media.folder("a")


def test_copying_a_folder_keeps_the_original(media: MediaService) -> None:
    upload(media, "a", "x.txt", b"x")
    media.copy_folder("a", "b/c")
    assert media.fetch("a/x.txt")["id"] == "a/x.txt"
    assert media.fetch("b/c/x.txt")["title"] == "x"


def test_moving_a_folder_into_its_own_subtree_is_a_bad_request(media: MediaService) -> None:
    media.create_folder("a")
    for target in ["a/b", "a"]:
        with pytest.raises(BadRequest):
            media.move_folder("a", target)
        with pytest.raises(BadRequest):
            media.copy_folder("a", target)


def test_the_root_folder_cannot_be_moved_or_deleted(media: MediaService) -> None:
    media.create_folder("a")
    with pytest.raises(BadRequest):
        media.move_folder("", "b")
    with pytest.raises(BadRequest):
        media.move_folder("a", "/")
    with pytest.raises(BadRequest):
        media.delete_folder("")


def test_moving_onto_an_existing_folder_is_a_conflict(media: MediaService) -> None:
    media.create_folder("a")
    media.create_folder("b")
    with pytest.raises(Conflict):
        media.move_folder("a", "b")


def test_deleting_a_folder_deletes_everything_in_it(media: MediaService) -> None:
    upload(media, "a/b", "x.txt", b"x")
    upload(media, "", "keep.txt", b"k")
    media.delete_folder("a")
    assert media.folders("") == []
    assert [f["id"] for f in media.collection("", {}).data] == ["keep.txt"]
    with pytest.raises(MediaFolderNotFound):
        media.delete_folder("a")


@pytest.mark.parametrize("bad", ["../x", "a/./b", "a.b", "x\x00"])
def test_an_invalid_folder_id_is_rejected(media: MediaService, bad: str) -> None:
    with pytest.raises(InvalidId):
        media.create_folder(bad)


# -- content (what a file's url serves) -------------------------------------------


def _service(store: FakeMediaStore, redirect_expires: int | None) -> MediaService:
    return MediaService(
        store,
        FixedClock(NOW),
        None,
        accept_file_types=["png"],
        max_file_size=1000,
        redirect_expires=redirect_expires,
    )


def test_content_is_a_stream_of_the_bytes_with_their_type_and_size(media: MediaService) -> None:
    upload(media, "gallery", "a.png", png())
    found = media.content("gallery/a.png")
    assert (found.media_type, found.size, found.redirect) == ("image/png", len(png()), None)
    assert found.stream is not None
    with found.stream as stream:
        assert stream.read() == png()


@pytest.mark.parametrize("links", [False, True])
def test_content_streams_without_redirects_whatever_the_store_gives(links: bool) -> None:
    media = _service(FakeMediaStore(links=links), None)
    upload(media, "", "a.png", png())
    found = media.content("a.png")
    assert found.redirect is None
    assert found.stream is not None
    found.stream.close()


def test_content_is_a_redirect_to_the_stores_url_when_asked_and_given() -> None:
    media = _service(FakeMediaStore(links=True), 300)
    upload(media, "gallery", "a.png", png())
    found = media.content("gallery/a.png")
    assert found.redirect == "https://bucket.example/gallery/a.png?expires=300"
    assert found.stream is None
    assert found.media_type == "image/png"


def test_content_streams_when_redirects_are_asked_but_the_store_has_no_url() -> None:
    media = _service(FakeMediaStore(links=False), 300)
    upload(media, "", "a.png", png())
    found = media.content("a.png")
    assert found.redirect is None
    assert found.stream is not None
    found.stream.close()


@pytest.mark.parametrize("redirect_expires", [None, 300])
def test_content_of_a_missing_file_is_not_found(redirect_expires: int | None) -> None:
    media = _service(FakeMediaStore(links=True), redirect_expires)
    with pytest.raises(MediaFileNotFound):
        media.content("nope.png")
