"""The Images API over HTTP (api.md section 7), on both storage drivers and both media
drivers (local, s3), with generated images.

Sources are uploaded through the Media API, then fetched transformed: sizes per ``fit``,
output formats, EXIF handling, strict parameters, tokens and signatures, the HTTP cache
headers, the budgets and the derivative cache (on disk, or in the bucket).
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping
from urllib.parse import urlencode

import httpx
import pytest
from PIL import Image

from flextype_core.images import sign, signed_url
from tests.http_client import (
    ApiClient,
    Project,
    assert_error,
    data_of,
    serve,
)
from tests.images import GPS_IFD, ORIENTATION, encode, exif_jpeg, gradient, halves
from tests.integration.test_http_media import upload, uploaded
from tests.media_drivers import MEDIA_DRIVERS, StoredMedia

SOURCES: dict[str, bytes] = {
    "img/photo.png": encode(gradient((200, 100), "RGBA"), "PNG"),
    "img/photo.jpg": encode(gradient((200, 100)), "JPEG", quality=95),
    "img/halves.jpg": encode(halves(), "JPEG", quality=95),
    "img/exif.jpg": exif_jpeg(),
    "img/anim.gif": encode(gradient((200, 100)).convert("P"), "GIF"),
    "img/pic.webp": encode(gradient((200, 100)), "WEBP"),
    "img/notes.txt": b"Plain text, not an image.\n",
}
MAGIC = {
    "image/jpeg": b"\xff\xd8\xff",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/gif": b"GIF8",
}


@pytest.fixture
def with_demo() -> bool:
    return False


@pytest.fixture(params=MEDIA_DRIVERS)
def media_driver(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def upload_sources(api: ApiClient) -> None:
    for file_id, content in SOURCES.items():
        folder, _, name = file_id.rpartition("/")
        uploaded(api, name, content, folder=folder)


@pytest.fixture
def api(api: ApiClient) -> ApiClient:
    """The shared ``api``, with the SOURCES uploaded."""
    upload_sources(api)
    return api


@pytest.fixture(scope="module")
def big_jpeg() -> bytes:
    return encode(gradient((4000, 3000)), "JPEG", quality=85)


def image(api: ApiClient, path: str, params: Mapping[str, str] | None = None) -> httpx.Response:
    """GET an image with the project's token."""
    return api.get(f"images/{path}", params)


def anonymous(api: ApiClient, path: str, params: Mapping[str, str]) -> httpx.Response:
    """GET an image with no token (a signature, if any, is in ``params``)."""
    return api.get(f"images/{path}", params, auth=False)


def decoded(response: httpx.Response, mime: str | None = None) -> Image.Image:
    assert response.status_code == 200, response.text
    if mime is not None:
        assert response.headers["content-type"].startswith(mime)
    img = Image.open(io.BytesIO(response.content))
    img.load()
    return img


def sign_key(api: ApiClient) -> str:
    key: str = api.container.config.images.sign_key()
    assert key
    return key


def raw_query(api: ApiClient, path: str, query: str) -> httpx.Response:
    return api.request("GET", f"/api/images/{path}?{query}")


# -- sizes per fit -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "size"),
    [
        ({}, (200, 100)),
        ({"w": "100"}, (100, 50)),
        ({"h": "50"}, (100, 50)),
        ({"w": "100", "h": "100"}, (100, 50)),
        ({"w": "100", "h": "100", "fit": "contain"}, (100, 50)),
        ({"w": "400", "h": "400", "fit": "contain"}, (400, 200)),
        ({"w": "100", "h": "100", "fit": "max"}, (100, 50)),
        ({"w": "400", "h": "400", "fit": "max"}, (200, 100)),
        ({"w": "100", "h": "100", "fit": "fill"}, (100, 100)),
        ({"w": "400", "h": "400", "fit": "fill-max"}, (400, 400)),
        ({"w": "100", "h": "100", "fit": "stretch"}, (100, 100)),
        ({"w": "300", "h": "50", "fit": "stretch"}, (300, 50)),
        ({"w": "100", "h": "100", "fit": "crop"}, (100, 100)),
        ({"w": "50", "h": "80", "fit": "crop-top-left"}, (50, 80)),
        ({"w": "60", "h": "60", "fit": "crop-bottom-right"}, (60, 60)),
        ({"w": "60", "h": "40", "fit": "crop-25-75"}, (60, 40)),
        ({"w": "60", "h": "40", "fit": "crop-50-50-2"}, (60, 40)),
        ({"w": "100", "dpr": "2"}, (200, 100)),
        ({"w": "50", "h": "50", "fit": "crop", "dpr": "1.5"}, (75, 75)),
        ({"crop": "100,50,20,10"}, (100, 50)),
        ({"or": "90"}, (100, 200)),
        ({"border": "10,red,expand"}, (220, 120)),
    ],
)
def test_the_output_size_follows_the_fit_mode(
    api: ApiClient, query: dict[str, str], size: tuple[int, int]
) -> None:
    assert decoded(image(api, "img/photo.jpg", query), "image/jpeg").size == size


@pytest.mark.parametrize(
    ("position", "colour"),
    [("crop-left", "red"), ("crop-right", "blue")],
)
def test_a_crop_position_picks_that_side_of_the_image(
    api: ApiClient, position: str, colour: str
) -> None:
    img = decoded(image(api, "img/halves.jpg", {"w": "40", "h": "100", "fit": position}))
    red, _, blue = img.convert("RGB").getpixel((20, 50))  # type: ignore[misc]
    assert (red > blue) == (colour == "red")


# -- formats -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fm", "mime"),
    [
        ("jpg", "image/jpeg"),
        ("pjpg", "image/jpeg"),
        ("png", "image/png"),
        ("gif", "image/gif"),
        ("webp", "image/webp"),
    ],
)
@pytest.mark.parametrize("source", ["img/photo.png", "img/photo.jpg", "img/pic.webp"])
def test_fm_sets_the_output_format(api: ApiClient, source: str, fm: str, mime: str) -> None:
    response = image(api, source, {"w": "80", "fm": fm})
    img = decoded(response, mime)
    assert img.size == (80, 40)
    if mime == "image/webp":
        assert response.content[:4] == b"RIFF"
        assert response.content[8:12] == b"WEBP"
    else:
        assert response.content.startswith(MAGIC[mime])
    assert img.format == {"jpg": "JPEG", "pjpg": "JPEG"}.get(fm, fm.upper())
    if fm == "pjpg":
        assert img.info.get("progressive") or img.info.get("progression")


@pytest.mark.parametrize(
    ("source", "mime"),
    [
        ("img/photo.png", "image/png"),
        ("img/photo.jpg", "image/jpeg"),
        ("img/anim.gif", "image/gif"),
        ("img/pic.webp", "image/webp"),
    ],
)
def test_without_fm_the_source_format_is_kept(api: ApiClient, source: str, mime: str) -> None:
    img = decoded(image(api, source, {"w": "50"}), mime)
    assert img.size == (50, 25)


def test_a_transparent_png_keeps_its_alpha(api: ApiClient) -> None:
    img = decoded(image(api, "img/photo.png", {"w": "100"}), "image/png")
    assert img.mode == "RGBA"
    assert img.getchannel("A").getextrema()[0] != 255  # some pixels are see-through


# -- EXIF --------------------------------------------------------------------------------------


def test_the_exif_orientation_is_applied_and_the_exif_stripped(api: ApiClient) -> None:
    assert SOURCES["img/exif.jpg"].count(b"Exif") >= 1
    response = image(api, "img/exif.jpg")
    img = decoded(response, "image/jpeg")
    assert img.size == (100, 200)  # stored 200x100, orientation 6 turns it a quarter
    top = img.convert("RGB").getpixel((50, 20))
    bottom = img.convert("RGB").getpixel((50, 180))
    assert isinstance(top, tuple)
    assert isinstance(bottom, tuple)
    assert top[0] > 200 > top[2]  # the left (red) half is now on top
    assert bottom[2] > 200 > bottom[0]
    exif = img.getexif()
    assert ORIENTATION not in exif
    assert not exif.get_ifd(GPS_IFD)
    assert len(exif) == 0
    assert "exif" not in img.info
    assert b"Exif" not in response.content


@pytest.mark.parametrize("fm", ["jpg", "png", "webp"])
def test_gps_data_never_reaches_a_derivative(api: ApiClient, fm: str) -> None:
    response = image(api, "img/exif.jpg", {"w": "50", "fm": fm})
    img = decoded(response)
    assert img.size == (50, 100)
    assert not img.getexif().get_ifd(GPS_IFD)
    assert b"Exif" not in response.content


def test_or_0_ignores_the_exif_orientation(api: ApiClient) -> None:
    assert decoded(image(api, "img/exif.jpg", {"or": "0"})).size == (200, 100)


# -- strict parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("w", "abc"),
        ("w", "0"),
        ("w", "-5"),
        ("h", "1.5"),
        ("fit", "sideways"),
        ("fit", "crop-101-50"),
        ("fm", "bmp"),
        ("fm", "JPG"),
        ("q", "101"),
        ("dpr", "9"),
        ("or", "45"),
        ("flip", "x"),
        ("bri", "200"),
        ("blur", "-1"),
        ("filt", "blue"),
        ("bg", "notacolour"),
        ("border", "10,red,wobble"),
        ("crop", "1,2,3"),
        ("expires", "soon"),
    ],
)
def test_an_invalid_parameter_is_a_bad_request_naming_it(
    api: ApiClient, name: str, value: str
) -> None:
    body = assert_error(image(api, "img/photo.jpg", {name: value}), 400, "BadRequest")
    assert body["details"] == [name]
    assert f"'{name}'" in body["message"]


def test_an_unknown_parameter_is_a_bad_request_naming_it(api: ApiClient) -> None:
    body = assert_error(image(api, "img/photo.jpg", {"w": "50", "width": "50"}), 400, "BadRequest")
    assert body["details"] == ["width"]
    assert "width" in body["message"]


@pytest.mark.parametrize("query", ["w[]=10", "w[0]=10&w[1]=20", "w[a]=10", "fm[x][y]=png"])
def test_a_parameter_sent_as_a_list_or_map_is_a_bad_request_naming_it(
    api: ApiClient, query: str
) -> None:
    name = query.split("[", 1)[0]
    response = raw_query(api, "img/photo.jpg", f"{query}&token={api.token}")
    body = assert_error(response, 400, "BadRequest")
    assert body["details"] == [name]
    assert f"'{name}'" in body["message"]


def test_a_signed_url_with_a_list_parameter_is_a_bad_request(api: ApiClient) -> None:
    # Signed without w; w[]=10 added: never an unchanged image, nor a 500.
    s = sign(sign_key(api), "img/photo.jpg", {"h": "20"})
    response = raw_query(api, "img/photo.jpg", f"h=20&w[]=10&s={s}")
    body = assert_error(response, 400, "BadRequest")
    assert body["details"] == ["w"]


def test_a_crop_outside_the_image_is_a_bad_request(api: ApiClient) -> None:
    body = assert_error(image(api, "img/photo.jpg", {"crop": "10,10,500,5"}), 400, "BadRequest")
    assert body["details"] == ["crop"]


def test_a_missing_source_is_not_found(api: ApiClient) -> None:
    assert_error(image(api, "img/nope.jpg", {"w": "10"}), 404, "NotFound")


@pytest.mark.parametrize("path", ["img/..%2F..%2Fsecret.png", "..%2Fsecret.png", "img/a%00.png"])
def test_a_traversal_in_the_image_path_never_reaches_a_file(api: ApiClient, path: str) -> None:
    response = api.request("GET", f"/api/images/{path}?token={api.token}")
    assert response.status_code in (400, 404), response.text
    assert not response.headers["content-type"].startswith("image/")


# -- access: tokens and signatures -------------------------------------------------------------


def test_no_token_and_no_signature_is_refused(api: ApiClient) -> None:
    response = anonymous(api, "img/photo.jpg", {"w": "50"})
    assert_error(response, 401, "AccessTokenInvalid")


def test_a_token_not_allowed_for_images_is_refused(api: ApiClient) -> None:
    issued = data_of(api.send("POST", "tokens", {"data": {"title": "E", "apis": ["entries"]}}))
    entries = api.as_token(issued["token"])
    assert_error(image(entries, "img/photo.jpg", {"w": "50"}), 401, "AccessTokenInvalid")
    assert_error(image(api.as_token("0" * 32), "img/photo.jpg"), 401, "AccessTokenInvalid")


def test_a_token_allowed_for_images_only_is_accepted(api: ApiClient) -> None:
    issued = data_of(api.send("POST", "tokens", {"data": {"title": "I", "apis": ["images"]}}))
    images = api.as_token(issued["token"])
    assert decoded(image(images, "img/photo.jpg", {"w": "50"})).size == (50, 25)


def test_a_valid_signature_is_accepted_without_a_token(api: ApiClient) -> None:
    query = {"w": "50", "fm": "webp"}
    s = sign(sign_key(api), "img/photo.jpg", query)
    assert len(s) == 64
    assert s == s.lower()
    img = decoded(anonymous(api, "img/photo.jpg", {**query, "s": s}), "image/webp")
    assert img.size == (50, 25)


def test_a_signed_url_from_the_library_is_served(api: ApiClient) -> None:
    url = signed_url(sign_key(api), "img/photo.jpg", {"h": "20", "fit": "crop-top-left"})
    response = api.request("GET", url)
    assert decoded(response).size == (40, 20)


def test_a_signature_with_no_parameters_is_accepted(api: ApiClient) -> None:
    s = sign(sign_key(api), "img/photo.jpg", {})
    assert decoded(anonymous(api, "img/photo.jpg", {"s": s})).size == (200, 100)


def test_a_signature_is_checked_even_beside_a_token_not_allowed_for_images(
    api: ApiClient,
) -> None:
    issued = data_of(api.send("POST", "tokens", {"data": {"title": "E", "apis": ["entries"]}}))
    query = {"w": "30"}
    s = sign(sign_key(api), "img/photo.jpg", query)
    response = image(api.as_token(issued["token"]), "img/photo.jpg", {**query, "s": s})
    assert decoded(response).size == (30, 15)


@pytest.mark.parametrize(
    "tamper",
    ["value", "added", "removed", "path", "signature", "uppercase", "empty"],
)
def test_a_tampered_signature_is_refused(api: ApiClient, tamper: str) -> None:
    query = {"w": "50", "h": "40"}
    s = sign(sign_key(api), "img/photo.jpg", query)
    path = "img/photo.jpg"
    sent = {**query, "s": s}
    if tamper == "value":
        sent["w"] = "500"
    elif tamper == "added":
        sent["blur"] = "5"
    elif tamper == "removed":
        del sent["h"]
    elif tamper == "path":
        path = "img/photo.png"
    elif tamper == "signature":
        sent["s"] = ("0" if s[0] != "0" else "1") + s[1:]
    elif tamper == "uppercase":
        sent["s"] = s.upper()
    else:
        sent["s"] = ""
    assert_error(anonymous(api, path, sent), 401, "AccessTokenInvalid")


def test_a_signature_made_with_another_key_is_refused(api: ApiClient) -> None:
    query = {"w": "50"}
    s = sign("not-the-key", "img/photo.jpg", query)
    assert_error(anonymous(api, "img/photo.jpg", {**query, "s": s}), 401, "AccessTokenInvalid")


def test_an_expired_signature_is_refused(api: ApiClient) -> None:
    past = {"w": "50", "expires": str(int(time.time()) - 60)}
    sent = {**past, "s": sign(sign_key(api), "img/photo.jpg", past)}
    assert_error(anonymous(api, "img/photo.jpg", sent), 401, "AccessTokenInvalid")


def test_an_unexpired_signature_is_served_until_its_expires_time(api: ApiClient) -> None:
    key = sign_key(api)
    future = {"w": "50", "expires": str(int(time.time()) + 3600)}
    sent = {**future, "s": sign(key, "img/photo.jpg", future)}
    assert decoded(anonymous(api, "img/photo.jpg", sent)).size == (50, 25)
    moved = {**sent, "expires": str(int(time.time()) + 7200)}
    assert_error(anonymous(api, "img/photo.jpg", moved), 401, "AccessTokenInvalid")


def test_a_current_unix_time_in_expires_is_a_valid_parameter(api: ApiClient) -> None:
    expires = str(int(time.time()) + 3600)  # ten digits, as every Unix time since 2001
    assert decoded(image(api, "img/photo.jpg", {"w": "50", "expires": expires})).size == (50, 25)


def test_reordered_parameters_keep_the_same_signature(api: ApiClient) -> None:
    query = {"w": "60", "h": "40", "fit": "crop", "fm": "png"}
    s = sign(sign_key(api), "img/photo.jpg", query)
    forward = raw_query(api, "img/photo.jpg", urlencode({**query, "s": s}))
    backward = raw_query(api, "img/photo.jpg", urlencode({"s": s, **dict(reversed(query.items()))}))
    assert decoded(forward, "image/png").size == (60, 40)
    assert decoded(backward, "image/png").size == (60, 40)
    assert forward.content == backward.content
    assert forward.headers["etag"] == backward.headers["etag"]


def test_a_signature_covers_percent_encoded_values(api: ApiClient) -> None:
    query = {"w": "40", "border": "2,red,expand"}
    url = signed_url(sign_key(api), "img/photo.jpg", query)
    assert "2%2Cred%2Cexpand" in url
    assert decoded(api.request("GET", url)).size == (44, 24)


# -- HTTP caching ------------------------------------------------------------------------------


def test_a_derivative_carries_an_etag_and_a_long_cache_control(api: ApiClient) -> None:
    response = image(api, "img/photo.jpg", {"w": "50"})
    assert response.status_code == 200
    etag = response.headers["etag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert "max-age=" in response.headers["cache-control"]
    assert image(api, "img/photo.jpg", {"w": "50"}).headers["etag"] == etag
    assert image(api, "img/photo.jpg", {"w": "51"}).headers["etag"] != etag


@pytest.mark.parametrize("form", ["exact", "weak", "list", "star"])
def test_if_none_match_answers_304_with_no_body(api: ApiClient, form: str) -> None:
    etag = image(api, "img/photo.jpg", {"w": "50"}).headers["etag"]
    header = {
        "exact": etag,
        "weak": f"W/{etag}",
        "list": f'"other", {etag}',
        "star": "*",
    }[form]
    response = api.get("images/img/photo.jpg", {"w": "50"}, headers={"If-None-Match": header})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert "cache-control" in response.headers


def test_a_stale_if_none_match_gets_the_image(api: ApiClient) -> None:
    response = api.get("images/img/photo.jpg", {"w": "50"}, headers={"If-None-Match": '"old"'})
    assert decoded(response).size == (50, 25)


def test_if_none_match_with_a_signature_is_304_too(api: ApiClient) -> None:
    query = {"w": "50"}
    sent = {**query, "s": sign(sign_key(api), "img/photo.jpg", query)}
    etag = anonymous(api, "img/photo.jpg", sent).headers["etag"]
    response = api.get("images/img/photo.jpg", sent, auth=False, headers={"If-None-Match": etag})
    assert response.status_code == 304


def test_a_replaced_source_gets_a_new_etag_and_is_never_served_stale(api: ApiClient) -> None:
    first = image(api, "img/photo.jpg", {"w": "50"})
    assert decoded(first).size == (50, 25)
    square = encode(gradient((100, 100)), "JPEG", quality=95)
    data_of(upload(api, "photo.jpg", square, folder="img", fields={"replace": "true"}))
    second = image(api, "img/photo.jpg", {"w": "50"})
    assert decoded(second).size == (50, 50)
    assert second.headers["etag"] != first.headers["etag"]
    stale = api.get(
        "images/img/photo.jpg", {"w": "50"}, headers={"If-None-Match": first.headers["etag"]}
    )
    assert stale.status_code == 200


def test_derivatives_are_stored_in_the_cache_of_the_media_driver(
    api: ApiClient, project: Project, stored: StoredMedia
) -> None:
    """On local under the project's ``cache/``; on s3 in the bucket, shared by servers."""
    before = stored.derivatives()
    first = image(api, "img/photo.jpg", {"w": "70"})
    after = stored.derivatives()
    added = {k: v for k, v in after.items() if k not in before}
    assert list(added.values()) == [first.content]
    again = image(api, "img/photo.jpg", {"h": "35"})  # the same output, spelled otherwise
    assert again.content == first.content
    image(api, "img/photo.jpg", {"w": "70"})
    assert len(stored.derivatives()) == len(after) + 1
    assert not (project.path / "media" / "cache").exists()
    if stored.driver == "s3":
        assert not (project.path / "cache" / "images").exists()


def test_a_cache_hit_after_a_restart_is_served_from_the_cache_without_a_render(
    project: Project, stored: StoredMedia
) -> None:
    with serve(project) as api:
        upload_sources(api)
        first = image(api, "img/photo.jpg", {"w": "64"})
    derived = list(stored.derivatives())
    assert len(derived) == 1
    marker = encode(Image.new("RGB", (3, 3), "green"), "JPEG")
    # Were the source decoded again, this would not be served.
    stored.replace_derivative(derived[0], marker)
    with serve(project) as api:
        again = image(api, "img/photo.jpg", {"w": "64"})
    assert again.content == marker
    assert again.headers["etag"] == first.headers["etag"]


# -- budgets -----------------------------------------------------------------------------------


def test_a_source_over_the_pixel_budget_is_refused(project: Project, big_jpeg: bytes) -> None:
    environ = {"FLEXTYPE_IMAGES__MAX_SOURCE_PIXELS": "1000000"}
    with serve(project, environ) as api:
        uploaded(api, "big.jpg", big_jpeg, folder="img")
        response = image(api, "img/big.jpg", {"w": "320"})
        assert response.status_code == 413, response.text
        assert_error(response, 413, "PayloadTooLarge")
        assert "4000x3000" in response.json()["message"]


def test_a_large_jpeg_becomes_a_thumbnail(api: ApiClient, big_jpeg: bytes) -> None:
    uploaded(api, "big.jpg", big_jpeg, folder="img")
    img = decoded(image(api, "img/big.jpg", {"w": "320"}), "image/jpeg")
    assert img.size == (320, 240)


@pytest.mark.parametrize(("name", "value"), [("w", "5000"), ("h", "4097")])
def test_a_size_over_the_limit_is_a_bad_request(api: ApiClient, name: str, value: str) -> None:
    body = assert_error(image(api, "img/photo.jpg", {name: value}), 400, "BadRequest")
    assert body["details"] == [name]


def test_the_limits_come_from_the_settings(project: Project) -> None:
    with serve(project, {"FLEXTYPE_IMAGES__MAX_WIDTH": "100"}) as api:
        upload_sources(api)
        assert_error(image(api, "img/photo.jpg", {"w": "101"}), 400, "BadRequest")
        assert decoded(image(api, "img/photo.jpg", {"w": "100"})).size == (100, 50)
        capped = decoded(image(api, "img/photo.jpg", {"w": "80", "dpr": "2"}))
        assert capped.width <= 100


def test_no_render_slot_left_is_503_with_retry_after(project: Project) -> None:
    with serve(project, {"FLEXTYPE_IMAGES__MAX_CONCURRENT_RENDERS": "0"}) as api:
        upload_sources(api)
        response = image(api, "img/photo.jpg", {"w": "50"})
        assert_error(response, 503, "ServiceUnavailable")
        assert response.headers["retry-after"] == "1"


def test_a_source_that_is_not_an_image_is_unsupported(api: ApiClient) -> None:
    response = image(api, "img/notes.txt", {"w": "50"})
    assert_error(response, 415, "UnsupportedMediaType")


def test_a_truncated_image_is_unsupported(api: ApiClient) -> None:
    whole = encode(gradient((200, 200)), "PNG")
    uploaded(api, "cut.png", whole[: len(whole) // 2], folder="img")
    assert_error(image(api, "img/cut.png", {"w": "50"}), 415, "UnsupportedMediaType")
