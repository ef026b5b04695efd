"""The Media API over HTTP (api.md section 6), on both storage drivers and both media
drivers (local, s3), with generated images.

Files are uploaded as a browser would (multipart ``folder`` + ``file``), then fetched,
listed, moved, copied, annotated and deleted; folders are created, listed, renamed,
copied and deleted. Every response is checked for leaked paths by ``serve``; what is
stored is read from the storage itself (``stored``: the media folder or the bucket).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.http_client import (
    ApiClient,
    Project,
    assert_error,
    data_of,
    serve,
)
from tests.images import encode, gradient
from tests.media_drivers import MEDIA_DRIVERS, StoredMedia

# -- generated files -----------------------------------------------------------------------

PNG = encode(gradient((40, 30), "RGBA"), "PNG")
JPEG = encode(gradient((64, 48)), "JPEG", quality=90)
GIF = encode(gradient((20, 10)).convert("P"), "GIF")
WEBP = encode(gradient((30, 20)), "WEBP")
TEXT = b"Some notes, not an image.\n"


def upload(
    api: ApiClient,
    name: str,
    content: bytes,
    *,
    folder: str = "",
    mime: str = "application/octet-stream",
    auth: bool = True,
    fields: Mapping[str, str] | None = None,
) -> httpx.Response:
    """POST a multipart upload (``folder``, ``file`` and extra text ``fields``)."""
    form: dict[str, str] = {"folder": folder, **(fields or {})}
    if auth:
        form = {"token": api.token, "access_token": api.access_token, **form}
    return api.request(
        "POST", api.url("media/files"), data=form, files={"file": (name, content, mime)}
    )


def uploaded(
    api: ApiClient, name: str, content: bytes, *, folder: str = "", replace: bool = False
) -> dict[str, Any]:
    fields = {"replace": "true"} if replace else None
    data: dict[str, Any] = data_of(upload(api, name, content, folder=folder, fields=fields))
    return data


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def with_demo() -> bool:
    return False


@pytest.fixture(params=MEDIA_DRIVERS)
def media_driver(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def new_token(api: ApiClient, apis: list[str]) -> tuple[str, str]:
    issued = data_of(api.send("POST", "tokens", {"data": {"title": "Scoped", "apis": apis}}))
    return issued["token"], issued["access_token"]


def collection(api: ApiClient, folder: str, **options: str) -> httpx.Response:
    params = {"id": folder, "options[collection]": "true", **options}
    return api.get("media/files", params)


# -- files: upload and fetch -------------------------------------------------------------------


def test_an_upload_is_stored_under_a_safe_name_and_answers_its_final_id_and_url(
    api: ApiClient, project: Project, stored: StoredMedia
) -> None:
    data = uploaded(api, "Pixel Test.png", PNG, folder="gallery")
    assert data["id"] == "gallery/pixel-test.png"
    assert data["url"] == "/media/gallery/pixel-test.png"
    assert data["title"] == "pixel-test"
    assert data["type"] == "image/png"
    assert data["filesize"] == len(PNG)
    assert (data["width"], data["height"]) == (40, 30)
    assert stored.content("gallery/pixel-test.png") == PNG
    assert stored.meta("gallery/pixel-test.png") is not None
    assert not any(str(v).startswith(str(project.path)) for v in data.values())


def test_an_upload_name_with_a_path_in_it_stays_inside_its_folder(
    api: ApiClient, stored: StoredMedia
) -> None:
    data = uploaded(api, "../../Escape.png", PNG, folder="gallery")
    assert data["id"] == "gallery/escape.png"
    assert stored.content("gallery/escape.png") == PNG


def test_fetching_a_file_returns_its_metadata_and_url(api: ApiClient) -> None:
    uploaded(api, "photo.jpg", JPEG, folder="gallery")
    data = data_of(api.get("media/files", {"id": "gallery/photo.jpg"}))
    assert data["id"] == "gallery/photo.jpg"
    assert data["url"] == "/media/gallery/photo.jpg"
    assert data["title"] == "photo"
    assert data["description"] == ""
    assert data["type"] == "image/jpeg"
    assert data["filesize"] == len(JPEG)
    assert isinstance(data["uploaded_on"], int)
    assert data["uploaded_on"] > 0
    assert (data["width"], data["height"]) == (64, 48)


def test_a_file_that_is_not_an_image_has_no_width_or_height(api: ApiClient) -> None:
    data = uploaded(api, "notes.txt", TEXT, folder="docs")
    assert data["type"] == "text/plain"
    assert "width" not in data
    assert "height" not in data


def test_fetching_a_missing_file_is_not_found(api: ApiClient) -> None:
    assert_error(api.get("media/files", {"id": "gallery/nope.png"}), 404, "NotFound")


@pytest.mark.parametrize(
    ("name", "content", "mime"),
    [
        ("a.png", PNG, "image/png"),
        ("b.jpg", JPEG, "image/jpeg"),
        ("c.gif", GIF, "image/gif"),
        ("d.webp", WEBP, "image/webp"),
    ],
)
def test_every_image_format_is_accepted_with_its_mime_type_and_size(
    api: ApiClient, name: str, content: bytes, mime: str
) -> None:
    data = uploaded(api, name, content, folder="formats")
    assert data["type"] == mime
    with Image.open(io.BytesIO(content)) as img:
        assert (data["width"], data["height"]) == img.size


# -- files: collections ------------------------------------------------------------------------


def test_a_folder_collection_lists_its_files_with_a_total(api: ApiClient) -> None:
    for name, content in [("a.png", PNG), ("b.jpg", JPEG), ("c.gif", GIF), ("notes.txt", TEXT)]:
        uploaded(api, name, content, folder="gallery")
    uploaded(api, "deep.png", PNG, folder="gallery/sub")
    response = collection(api, "gallery")
    items = data_of(response)
    assert [i["id"] for i in items] == [
        "gallery/a.png",
        "gallery/b.jpg",
        "gallery/c.gif",
        "gallery/notes.txt",
    ]
    assert all(i["url"] == f"/media/{i['id']}" for i in items)
    assert response.json()["meta"]["total"] == 4


def test_a_folder_collection_is_filtered_as_entries_are(api: ApiClient) -> None:
    for name, content in [("a.png", PNG), ("b.jpg", JPEG), ("c.png", PNG), ("notes.txt", TEXT)]:
        uploaded(api, name, content, folder="gallery")
    where = {
        "options[filter][where][0][key]": "type",
        "options[filter][where][0][operator]": "eq",
        "options[filter][where][0][value]": "image/png",
    }
    response = collection(api, "gallery", **where)
    assert [i["id"] for i in data_of(response)] == ["gallery/a.png", "gallery/c.png"]
    assert response.json()["meta"]["total"] == 2
    wide = {
        "options[filter][where][0][key]": "width",
        "options[filter][where][0][operator]": "gt",
        "options[filter][where][0][value]": "50",
    }
    assert [i["id"] for i in data_of(collection(api, "gallery", **wide))] == ["gallery/b.jpg"]


def test_a_collection_of_the_root_and_of_every_depth(api: ApiClient) -> None:
    uploaded(api, "top.png", PNG)
    uploaded(api, "deep.png", PNG, folder="a/b")
    assert [i["id"] for i in data_of(collection(api, ""))] == ["top.png"]
    every = data_of(collection(api, "", **{"options[find][depth]": "all"}))
    assert sorted(i["id"] for i in every) == ["a/b/deep.png", "top.png"]


def test_a_collection_of_a_missing_folder_is_not_found(api: ApiClient) -> None:
    assert_error(collection(api, "nowhere"), 404, "NotFound")


# -- files: move, copy, delete -----------------------------------------------------------------


def test_moving_a_file_moves_its_metadata_too(api: ApiClient, stored: StoredMedia) -> None:
    uploaded(api, "photo.png", PNG, folder="gallery")
    data_of(
        api.send(
            "POST", "media/files/meta", {"id": "gallery/photo.png", "field": "alt", "value": "A"}
        )
    )
    moved = data_of(
        api.send("PUT", "media/files", {"id": "gallery/photo.png", "new_id": "archive/old.png"})
    )
    assert moved["id"] == "archive/old.png"
    assert moved["url"] == "/media/archive/old.png"
    assert moved["alt"] == "A"
    assert stored.content("archive/old.png") == PNG
    assert stored.meta("archive/old.png") is not None
    assert stored.content("gallery/photo.png") is None
    assert stored.meta("gallery/photo.png") is None
    assert_error(api.get("media/files", {"id": "gallery/photo.png"}), 404, "NotFound")
    assert data_of(api.get("media/files", {"id": "archive/old.png"}))["alt"] == "A"


def test_copying_a_file_keeps_the_original(api: ApiClient, stored: StoredMedia) -> None:
    uploaded(api, "photo.png", PNG, folder="gallery")
    copy = data_of(
        api.send("PUT", "media/files/copy", {"id": "gallery/photo.png", "new_id": "copy.png"})
    )
    assert copy["id"] == "copy.png"
    assert copy["type"] == "image/png"
    assert stored.content("copy.png") == PNG
    assert stored.content("gallery/photo.png") == PNG
    assert data_of(api.get("media/files", {"id": "gallery/photo.png"}))["id"] == "gallery/photo.png"


@pytest.mark.parametrize("method_path", ["media/files", "media/files/copy"])
def test_moving_or_copying_onto_a_taken_id_is_a_conflict(api: ApiClient, method_path: str) -> None:
    uploaded(api, "a.png", PNG)
    uploaded(api, "b.png", PNG)
    response = api.send("PUT", method_path, {"id": "a.png", "new_id": "b.png"})
    assert_error(response, 409, "Conflict")


def test_a_move_may_not_change_the_extension(api: ApiClient) -> None:
    uploaded(api, "a.png", PNG)
    response = api.send("PUT", "media/files", {"id": "a.png", "new_id": "a.html"})
    assert_error(response, 400, "BadRequest")


def test_deleting_a_file_removes_it_and_its_sidecar(api: ApiClient, stored: StoredMedia) -> None:
    uploaded(api, "photo.png", PNG, folder="gallery")
    response = api.send("DELETE", "media/files", {"id": "gallery/photo.png"})
    assert response.status_code == 204
    assert response.content == b""
    assert stored.content("gallery/photo.png") is None
    assert stored.meta("gallery/photo.png") is None
    assert_error(api.get("media/files", {"id": "gallery/photo.png"}), 404, "NotFound")
    again = api.send("DELETE", "media/files", {"id": "gallery/photo.png"})
    assert_error(again, 404, "NotFound")


# -- files: metadata ---------------------------------------------------------------------------


def test_a_metadata_field_is_added_changed_and_removed(api: ApiClient, stored: StoredMedia) -> None:
    uploaded(api, "photo.png", PNG)
    body = {"id": "photo.png", "field": "alt", "value": "A red square"}
    assert data_of(api.send("POST", "media/files/meta", body))["alt"] == "A red square"
    assert data_of(api.get("media/files", {"id": "photo.png"}))["alt"] == "A red square"
    assert (stored.meta("photo.png") or {})["alt"] == "A red square"
    changed = data_of(api.send("PATCH", "media/files/meta", {**body, "value": "Blue"}))
    assert changed["alt"] == "Blue"
    removed = data_of(api.send("DELETE", "media/files/meta", {"id": "photo.png", "field": "alt"}))
    assert "alt" not in removed
    assert "alt" not in data_of(api.get("media/files", {"id": "photo.png"}))


def test_adding_a_field_that_exists_is_a_conflict(api: ApiClient) -> None:
    uploaded(api, "photo.png", PNG)
    response = api.send(
        "POST", "media/files/meta", {"id": "photo.png", "field": "title", "value": "New"}
    )
    assert_error(response, 409, "Conflict")
    assert data_of(api.get("media/files", {"id": "photo.png"}))["title"] == "photo"


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
@pytest.mark.parametrize(
    "field", ["type", "filesize", "uploaded_on", "width", "height", "url", "id"]
)
def test_a_field_managed_by_the_server_cannot_be_written(
    api: ApiClient, method: str, field: str
) -> None:
    uploaded(api, "photo.png", PNG)
    body = {"id": "photo.png", "field": field, "value": 1}
    body_ = assert_error(api.send(method, "media/files/meta", body), 422, "ValidationFailed")
    assert field in body_["details"]
    assert data_of(api.get("media/files", {"id": "photo.png"}))["type"] == "image/png"


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_changing_or_removing_a_missing_field_is_not_found(api: ApiClient, method: str) -> None:
    uploaded(api, "photo.png", PNG)
    body = {"id": "photo.png", "field": "nope", "value": 1}
    assert_error(api.send(method, "media/files/meta", body), 404, "NotFound")


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("value", [{}, {"value": None}], ids=["absent", "null"])
def test_adding_or_changing_a_field_without_a_value_is_a_bad_request(
    api: ApiClient, method: str, value: dict[str, Any], stored: StoredMedia
) -> None:
    # As Flextype (PHP's isset): a value is required; DELETE removes a field.
    uploaded(api, "photo.png", PNG)
    data_of(api.send("POST", "media/files/meta", {"id": "photo.png", "field": "alt", "value": "A"}))
    before = stored.meta("photo.png")
    body = {"id": "photo.png", "field": "alt" if method == "PATCH" else "new", **value}
    answer = assert_error(api.send(method, "media/files/meta", body), 400, "BadRequest")
    assert "'value'" in answer["message"]
    assert stored.meta("photo.png") == before


def test_metadata_of_a_missing_file_is_not_found(api: ApiClient) -> None:
    body = {"id": "nope.png", "field": "alt", "value": "x"}
    assert_error(api.send("POST", "media/files/meta", body), 404, "NotFound")


# -- the content URL ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "mime"),
    [("a.png", PNG, "image/png"), ("b.jpg", JPEG, "image/jpeg"), ("notes.txt", TEXT, "text/plain")],
)
def test_the_url_serves_the_bytes_with_their_content_type(
    api: ApiClient, name: str, content: bytes, mime: str
) -> None:
    data = uploaded(api, name, content, folder="gallery")
    response = api.request("GET", data["url"])
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"].startswith(mime)
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_url_never_serves_a_sidecar_or_an_upload_in_progress(
    api: ApiClient, project: Project
) -> None:
    uploaded(api, "photo.png", PNG, folder="gallery")
    uploads = project.path / "media/.uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / ".upload-x").write_bytes(b"partial")
    for url in [
        "/media/gallery/.photo.png.meta.yaml",
        "/media/.uploads/.upload-x",
        "/media/gallery/%2e%2e/gallery/.photo.png.meta.yaml",
    ]:
        response = api.request("GET", url)
        assert response.status_code in (400, 404), (url, response.text)
        assert b"uploaded_on" not in response.content
        assert b"partial" not in response.content


def test_the_url_of_a_missing_file_is_not_found(api: ApiClient) -> None:
    assert api.request("GET", "/media/nope.png").status_code == 404
    assert api.request("HEAD", "/media/nope.png").status_code == 404


def test_the_url_answers_the_length_and_a_head_the_same_headers_without_the_bytes(
    api: ApiClient,
) -> None:
    url = uploaded(api, "a.png", PNG, folder="gallery")["url"]
    got = api.request("GET", url)
    head = api.request("HEAD", url)
    assert (got.status_code, head.status_code) == (200, 200)
    assert (got.content, head.content) == (PNG, b"")
    for response in (got, head):
        assert response.headers["content-length"] == str(len(PNG))
        assert response.headers["content-type"].startswith("image/png")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == "sandbox"


def test_with_serve_redirect_the_url_answers_a_short_lived_url_of_the_bucket(
    project: Project, media_driver: str
) -> None:
    environ = {
        "FLEXTYPE_MEDIA__S3__SERVE": "redirect",
        "FLEXTYPE_MEDIA__S3__REDIRECT_EXPIRES": "120",
    }
    with serve(project, environ) as api:
        url = uploaded(api, "Photo.jpg", JPEG, folder="gallery")["url"]
        got = api.request("GET", url, follow_redirects=False)
        head = api.request("HEAD", url, follow_redirects=False)
        missing = api.request("GET", "/media/gallery/nope.jpg", follow_redirects=False)
    assert missing.status_code == 404
    assert head.status_code == 200  # a HEAD is answered here: a presigned GET is GET only
    assert head.headers["content-length"] == str(len(JPEG))
    if media_driver == "local":  # nothing to redirect to: the server streams the file
        assert (got.status_code, got.content) == (200, JPEG)
        return
    assert got.status_code == 307
    assert got.headers["cache-control"] == "no-store"
    location = got.headers["location"]
    assert "X-Amz-Expires=120" in location
    assert "test-secret" not in location
    fetched = httpx.get(location, timeout=30)  # from moto itself, with no credentials
    assert fetched.status_code == 200
    assert fetched.content == JPEG
    assert fetched.headers["content-type"] == "image/jpeg"


# -- uploads: refusals -------------------------------------------------------------------------


def test_an_upload_over_the_size_limit_is_refused_and_leaves_nothing(
    project: Project, stored: StoredMedia
) -> None:
    before = stored.snapshot()
    with serve(project, {"FLEXTYPE_MEDIA__MAX_FILE_SIZE": "1000"}) as api:
        big = encode(Image.effect_noise((100, 100), 64), "PNG")
        assert len(big) > 1000
        assert_error(upload(api, "big.png", big, folder="gallery"), 413, "PayloadTooLarge")
        assert stored.snapshot() == before
        assert data_of(upload(api, "small.gif", GIF, folder="ok"))["id"] == "ok/small.gif"
    assert stored.content("ok/small.gif") == GIF
    assert stored.content("gallery/big.png") is None


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("fake.png", b"<html><script>alert(1)</script></html>"),
        ("fake.jpg", PNG),
        ("fake.gif", JPEG),
        ("fake.webp", b"RIFF\x00\x00\x00\x00WAVEfmt "),
        ("tool.exe", b"MZ\x90\x00" + b"\x00" * 60),
        ("page.html", b"<html></html>"),
        ("noextension", PNG),
        ("double.png.exe", PNG),
    ],
)
def test_a_file_of_the_wrong_type_is_unsupported_and_not_stored(
    api: ApiClient, name: str, content: bytes, stored: StoredMedia
) -> None:
    before = stored.snapshot()
    assert_error(upload(api, name, content, folder="gallery"), 415, "UnsupportedMediaType")
    assert stored.snapshot() == before


@pytest.mark.parametrize("folder", ["../x", "/etc", "a/../../x", "a\x00b", "a\\b", "a//b"])
def test_traversal_in_the_upload_folder_is_a_bad_request(
    api: ApiClient, project: Project, folder: str, stored: StoredMedia
) -> None:
    before = stored.snapshot()
    assert_error(upload(api, "a.png", PNG, folder=folder), 400, "BadRequest")
    assert stored.snapshot() == before
    assert not (project.path.parent / "x").exists()


@pytest.mark.parametrize("file_id", ["../x.png", "/etc/passwd", "a\x00.png", "a/../../x.png"])
def test_traversal_in_a_file_id_is_a_bad_request(api: ApiClient, file_id: str) -> None:
    uploaded(api, "a.png", PNG)
    assert_error(api.get("media/files", {"id": file_id}), 400, "BadRequest")
    assert_error(api.send("DELETE", "media/files", {"id": file_id}), 400, "BadRequest")
    moved = api.send("PUT", "media/files", {"id": "a.png", "new_id": file_id})
    assert_error(moved, 400, "BadRequest")
    copied = api.send("PUT", "media/files/copy", {"id": file_id, "new_id": "b.png"})
    assert_error(copied, 400, "BadRequest")
    meta = api.send("POST", "media/files/meta", {"id": file_id, "field": "x", "value": 1})
    assert_error(meta, 400, "BadRequest")


def test_a_nul_in_the_query_string_id_is_a_bad_request(api: ApiClient) -> None:
    response = api.request("GET", f"/api/media/files?token={api.token}&id=a%00.png")
    assert_error(response, 400, "BadRequest")


def test_uploading_the_same_name_again_is_a_conflict_unless_replace_is_asked(
    api: ApiClient, project: Project, stored: StoredMedia
) -> None:
    first = uploaded(api, "photo.png", PNG, folder="gallery")
    kept = stored.snapshot()
    other = encode(gradient((80, 60)), "PNG")
    assert_error(upload(api, "Photo.png", other, folder="gallery"), 409, "Conflict")
    assert stored.content("gallery/photo.png") == PNG
    replaced = uploaded(api, "photo.png", other, folder="gallery", replace=True)
    assert replaced["id"] == first["id"]
    assert replaced["filesize"] == len(other)
    assert (replaced["width"], replaced["height"]) == (80, 60)
    assert stored.content("gallery/photo.png") == other
    leftovers = [p for p in (project.path / "media/.uploads").glob("*") if p.is_file()]
    assert leftovers == []
    assert len(stored.snapshot()) == len(kept)  # the replaced bytes are gone


def test_a_body_that_is_not_multipart_is_unsupported(api: ApiClient) -> None:
    response = api.send("POST", "media/files", {"folder": "gallery", "file": "aGVsbG8="})
    assert_error(response, 415, "UnsupportedMediaType")
    form = api.send_form("POST", "media/files", {"folder": "gallery"})
    assert_error(form, 415, "UnsupportedMediaType")


def test_a_multipart_body_without_a_file_is_a_bad_request(api: ApiClient) -> None:
    form = {"token": api.token, "access_token": api.access_token, "folder": "gallery"}
    response = api.request(
        "POST", "/api/media/files", files={"folder": (None, "gallery")}, data=form
    )
    assert_error(response, 400, "BadRequest")


# -- auth --------------------------------------------------------------------------------------


def test_an_upload_without_credentials_is_refused_and_leaves_nothing(
    api: ApiClient, stored: StoredMedia
) -> None:
    before = stored.snapshot()
    assert_error(upload(api, "a.png", PNG, auth=False), 401, "AccessTokenInvalid")
    no_access = upload(api, "a.png", PNG, auth=False, fields={"token": api.token})
    assert_error(no_access, 401, "AccessTokenInvalid")
    wrong = upload(
        api, "a.png", PNG, auth=False, fields={"token": api.token, "access_token": "f" * 32}
    )
    assert_error(wrong, 401, "AccessTokenInvalid")
    assert stored.snapshot() == before


def test_every_write_needs_the_token_and_its_access_token(api: ApiClient) -> None:
    uploaded(api, "a.png", PNG)
    data_of(api.send("POST", "media/folders", {"id": "albums"}))
    reader = api.as_token(api.token)
    writes = [
        ("PUT", "media/files", {"id": "a.png", "new_id": "b.png"}),
        ("PUT", "media/files/copy", {"id": "a.png", "new_id": "b.png"}),
        ("DELETE", "media/files", {"id": "a.png"}),
        ("POST", "media/files/meta", {"id": "a.png", "field": "alt", "value": "x"}),
        ("PATCH", "media/files/meta", {"id": "a.png", "field": "title", "value": "x"}),
        ("DELETE", "media/files/meta", {"id": "a.png", "field": "title"}),
        ("POST", "media/folders", {"id": "new"}),
        ("PUT", "media/folders", {"id": "albums", "new_id": "other"}),
        ("PUT", "media/folders/copy", {"id": "albums", "new_id": "other"}),
        ("DELETE", "media/folders", {"id": "albums"}),
    ]
    for method, path, body in writes:
        assert_error(reader.send(method, path, body), 401, "AccessTokenInvalid")
        assert_error(api.send(method, path, body, auth=False), 401, "AccessTokenInvalid")
    assert data_of(api.get("media/files", {"id": "a.png"}))["title"] == "a"
    assert data_of(api.get("media/folders", {"id": "albums"}))["id"] == "albums"


def test_reads_need_a_token_allowed_for_media(api: ApiClient) -> None:
    uploaded(api, "a.png", PNG)
    assert_error(api.get("media/files", {"id": "a.png"}, auth=False), 401, "AccessTokenInvalid")
    media_token, media_access = new_token(api, ["media"])
    entries_token, _ = new_token(api, ["entries"])
    media = api.as_token(media_token, media_access)
    assert data_of(media.get("media/files", {"id": "a.png"}))["id"] == "a.png"
    assert data_of(media.get("media/folders", {"id": ""}))["id"] == ""
    entries = api.as_token(entries_token)
    assert_error(entries.get("media/files", {"id": "a.png"}), 401, "AccessTokenInvalid")
    assert_error(entries.get("media/folders", {"id": ""}), 401, "AccessTokenInvalid")


def test_a_token_for_media_can_upload_and_one_for_entries_cannot(api: ApiClient) -> None:
    media_token, media_access = new_token(api, ["media"])
    entries_token, entries_access = new_token(api, ["entries"])
    media = api.as_token(media_token, media_access)
    assert uploaded(media, "m.png", PNG)["id"] == "m.png"
    entries = api.as_token(entries_token, entries_access)
    assert_error(upload(entries, "e.png", PNG), 401, "AccessTokenInvalid")


# -- folders -----------------------------------------------------------------------------------


def test_a_folder_is_created_and_fetched(api: ApiClient, stored: StoredMedia) -> None:
    created = data_of(api.send("POST", "media/folders", {"id": "albums/2024"}))
    assert created == {"id": "albums/2024", "url": "/media/albums/2024"}
    assert stored.folder_exists("albums/2024")
    fetched = data_of(api.get("media/folders", {"id": "albums/2024"}))
    assert fetched == {"id": "albums/2024", "url": "/media/albums/2024"}
    again = api.send("POST", "media/folders", {"id": "albums/2024"})
    assert_error(again, 409, "Conflict")


def test_a_missing_folder_is_not_found(api: ApiClient) -> None:
    assert_error(api.get("media/folders", {"id": "nowhere"}), 404, "NotFound")


@pytest.mark.parametrize("options", [{}, {"options[collection]": "true"}], ids=["one", "list"])
def test_a_folder_read_without_id_is_a_bad_request_and_an_empty_id_names_the_root(
    api: ApiClient, options: dict[str, str]
) -> None:
    answer = assert_error(api.get("media/folders", options), 400, "BadRequest")
    assert "'id'" in answer["message"]
    assert api.get("media/folders", {"id": "", **options}).status_code == 200


def test_a_folder_collection_lists_its_subfolders(api: ApiClient) -> None:
    for folder in ["albums/b", "albums/a", "albums/a/deep", "other"]:
        data_of(api.send("POST", "media/folders", {"id": folder}))
    uploaded(api, "file.png", PNG, folder="albums")
    params = {"id": "albums", "options[collection]": "true"}
    items = data_of(api.get("media/folders", params))
    assert items == [
        {"id": "albums/a", "url": "/media/albums/a"},
        {"id": "albums/b", "url": "/media/albums/b"},
    ]
    root = data_of(api.get("media/folders", {"id": "", "options[collection]": "true"}))
    assert [f["id"] for f in root] == ["albums", "other"]


def test_renaming_a_folder_moves_its_files(api: ApiClient, stored: StoredMedia) -> None:
    uploaded(api, "photo.png", PNG, folder="albums/2024")
    moved = data_of(api.send("PUT", "media/folders", {"id": "albums", "new_id": "archive/albums"}))
    assert moved == {"id": "archive/albums", "url": "/media/archive/albums"}
    assert not stored.folder_exists("albums")
    assert_error(api.get("media/folders", {"id": "albums"}), 404, "NotFound")
    file = data_of(api.get("media/files", {"id": "archive/albums/2024/photo.png"}))
    assert file["url"] == "/media/archive/albums/2024/photo.png"
    assert stored.content("archive/albums/2024/photo.png") == PNG


def test_copying_a_folder_keeps_the_original(api: ApiClient, stored: StoredMedia) -> None:
    uploaded(api, "photo.png", PNG, folder="albums/2024")
    copy = data_of(api.send("PUT", "media/folders/copy", {"id": "albums", "new_id": "backup"}))
    assert copy == {"id": "backup", "url": "/media/backup"}
    assert data_of(api.get("media/files", {"id": "backup/2024/photo.png"}))["type"] == "image/png"
    assert data_of(api.get("media/files", {"id": "albums/2024/photo.png"}))["type"] == "image/png"
    assert stored.content("backup/2024/photo.png") == PNG
    assert stored.content("albums/2024/photo.png") == PNG
    assert stored.meta("backup/2024/photo.png") == stored.meta("albums/2024/photo.png")


@pytest.mark.parametrize("path", ["media/folders", "media/folders/copy"])
def test_a_folder_cannot_go_into_its_own_subtree_or_onto_another(api: ApiClient, path: str) -> None:
    data_of(api.send("POST", "media/folders", {"id": "albums/2024"}))
    data_of(api.send("POST", "media/folders", {"id": "other"}))
    inside = api.send("PUT", path, {"id": "albums", "new_id": "albums/2024/albums"})
    assert_error(inside, 400, "BadRequest")
    assert_error(api.send("PUT", path, {"id": "albums", "new_id": "other"}), 409, "Conflict")
    assert_error(api.send("PUT", path, {"id": "nowhere", "new_id": "x"}), 404, "NotFound")
    assert data_of(api.get("media/folders", {"id": "albums/2024"}))["id"] == "albums/2024"


def test_deleting_a_folder_deletes_everything_in_it(api: ApiClient, stored: StoredMedia) -> None:
    uploaded(api, "photo.png", PNG, folder="albums/2024")
    uploaded(api, "notes.txt", TEXT, folder="albums")
    response = api.send("DELETE", "media/folders", {"id": "albums"})
    assert response.status_code == 204
    assert not stored.folder_exists("albums")
    assert_error(api.get("media/folders", {"id": "albums"}), 404, "NotFound")
    assert_error(api.get("media/files", {"id": "albums/notes.txt"}), 404, "NotFound")
    assert_error(api.send("DELETE", "media/folders", {"id": "albums"}), 404, "NotFound")


def test_the_root_folder_cannot_be_deleted_or_moved(api: ApiClient) -> None:
    assert_error(api.send("DELETE", "media/folders", {"id": ""}), 400, "BadRequest")
    moved = api.send("PUT", "media/folders", {"id": "", "new_id": "x"})
    assert_error(moved, 400, "BadRequest")


@pytest.mark.parametrize("folder_id", ["../x", "/etc", "a/../../x", "a\x00b"])
def test_traversal_in_a_folder_id_is_a_bad_request(
    api: ApiClient, project: Project, folder_id: str
) -> None:
    assert_error(api.get("media/folders", {"id": folder_id}), 400, "BadRequest")
    assert_error(api.send("POST", "media/folders", {"id": folder_id}), 400, "BadRequest")
    assert_error(api.send("DELETE", "media/folders", {"id": folder_id}), 400, "BadRequest")
    assert not (project.path.parent / "x").exists()
