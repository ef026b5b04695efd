"""PillowImageProcessor on generated images: sizes per fit, formats, EXIF, budgets, filters."""

from __future__ import annotations

import io
from pathlib import Path

import msgspec
import pytest
from PIL import Image

from flextype_adapters.derivative_cache import DiskDerivativeCache
from flextype_adapters.pillow_images import PillowImageProcessor
from flextype_core.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from flextype_core.images import parse_params
from tests.images import GPS_IFD, ORIENTATION, encode, gradient

LIMITS = {"max_width": 2000, "max_height": 2000, "max_source_pixels": 20_000_000}


@pytest.fixture(scope="module")
def sources() -> dict[str, bytes]:
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif.get_ifd(GPS_IFD)[2] = (48.0, 51.0, 24.0)  # GPSLatitude
    wide = Image.new("RGB", (200, 100), "red")
    wide.paste(Image.new("RGB", (100, 100), "blue"), (100, 0))
    return {
        "png": encode(gradient((200, 100), "RGBA"), "PNG"),
        "halves": encode(wide, "JPEG", quality=95),
        "jpg": encode(gradient((200, 100)), "JPEG", quality=95),
        "exif": encode(wide, "JPEG", exif=exif.tobytes()),
        "gif": encode(gradient((200, 100)).convert("P"), "GIF"),
        "webp": encode(gradient((200, 100)), "WEBP"),
        "big": encode(gradient((4000, 3000)), "JPEG", quality=85),
    }


@pytest.fixture(scope="module")
def processor() -> PillowImageProcessor:
    return PillowImageProcessor()


def render(
    processor: PillowImageProcessor,
    source: bytes,
    limits: dict[str, int] | None = None,
    /,
    **q: str,
) -> tuple[Image.Image, str]:
    params = msgspec.to_builtins(parse_params(q))
    data, mime = processor.render(source, params, limits or LIMITS)
    img = Image.open(io.BytesIO(data))
    img.load()
    return img, mime


@pytest.mark.parametrize(
    ("query", "size"),
    [
        ({}, (200, 100)),
        ({"w": "100"}, (100, 50)),
        ({"h": "25"}, (50, 25)),
        ({"w": "100", "h": "100"}, (100, 50)),
        ({"w": "400", "h": "400", "fit": "contain"}, (400, 200)),
        ({"w": "400", "h": "400", "fit": "max"}, (200, 100)),
        ({"w": "100", "h": "100", "fit": "max"}, (100, 50)),
        ({"w": "100", "h": "100", "fit": "fill"}, (100, 100)),
        ({"w": "400", "h": "400", "fit": "fill-max"}, (400, 400)),
        ({"w": "100", "h": "100", "fit": "stretch"}, (100, 100)),
        ({"w": "100", "h": "100", "fit": "crop"}, (100, 100)),
        ({"w": "30", "h": "80", "fit": "crop-top-left"}, (30, 80)),
        ({"w": "30", "h": "80", "fit": "crop-25-75-2"}, (30, 80)),
        ({"w": "100", "dpr": "2"}, (200, 100)),
        ({"w": "100", "h": "100", "fit": "crop", "dpr": "1.5"}, (150, 150)),
        ({"crop": "50,40,10,10"}, (50, 40)),
        ({"crop": "500,500,150,0"}, (50, 100)),
        ({"or": "90"}, (100, 200)),
        ({"border": "10,red,expand"}, (220, 120)),
        ({"border": "10,red,shrink"}, (200, 100)),
    ],
)
def test_each_fit_gives_its_output_size(
    processor: PillowImageProcessor,
    sources: dict[str, bytes],
    query: dict[str, str],
    size: tuple[int, int],
) -> None:
    img, _ = render(processor, sources["png"], **query)
    assert img.size == size


def test_crop_positions_take_the_named_side(
    processor: PillowImageProcessor, sources: dict[str, bytes]
) -> None:
    left, _ = render(processor, sources["halves"], w="50", h="100", fit="crop-left")
    right, _ = render(processor, sources["halves"], w="50", h="100", fit="crop-right")
    assert left.convert("RGB").getpixel((25, 50))[0] > 200  # type: ignore[index]
    assert right.convert("RGB").getpixel((25, 50))[2] > 200  # type: ignore[index]


def test_fill_pads_with_the_background_colour(
    processor: PillowImageProcessor, sources: dict[str, bytes]
) -> None:
    img, _ = render(processor, sources["halves"], w="100", h="100", fit="fill", bg="00ff00")
    assert img.size == (100, 100)
    assert img.convert("RGB").getpixel((50, 5)) == pytest.approx((0, 255, 0), abs=3)


@pytest.mark.parametrize(
    ("source", "fm", "mime", "pillow_format"),
    [
        ("png", None, "image/png", "PNG"),
        ("jpg", None, "image/jpeg", "JPEG"),
        ("gif", None, "image/gif", "GIF"),
        ("webp", None, "image/webp", "WEBP"),
        ("png", "jpg", "image/jpeg", "JPEG"),
        ("png", "pjpg", "image/jpeg", "JPEG"),
        ("jpg", "png", "image/png", "PNG"),
        ("jpg", "gif", "image/gif", "GIF"),
        ("png", "gif", "image/gif", "GIF"),
        ("gif", "webp", "image/webp", "WEBP"),
    ],
)
def test_the_output_format_follows_fm_or_the_source(
    processor: PillowImageProcessor,
    sources: dict[str, bytes],
    source: str,
    fm: str | None,
    mime: str,
    pillow_format: str,
) -> None:
    query = {"fm": fm} if fm else {}
    img, got = render(processor, sources[source], w="50", **query)
    assert (got, img.format) == (mime, pillow_format)
    if fm == "pjpg":
        assert img.info.get("progressive") or img.info.get("progression")


def test_quality_changes_the_jpeg(
    processor: PillowImageProcessor, sources: dict[str, bytes]
) -> None:
    params = msgspec.to_builtins(parse_params({"q": "10"}))
    low, _ = processor.render(sources["big"], params, LIMITS)
    high, _ = processor.render(sources["big"], {**params, "q": 95}, LIMITS)
    assert len(low) < len(high)


def test_exif_orientation_is_applied_and_all_exif_is_stripped(
    processor: PillowImageProcessor, sources: dict[str, bytes]
) -> None:
    original = Image.open(io.BytesIO(sources["exif"]))
    assert original.getexif().get_ifd(GPS_IFD)
    for fm in ("jpg", "png", "webp"):
        img, _ = render(processor, sources["exif"], fm=fm)
        assert img.size == (100, 200)  # turned a quarter
        exif = img.getexif()
        assert not exif.get_ifd(GPS_IFD)
        assert ORIENTATION not in exif
        assert "exif" not in img.info
        # Orientation 6: the top of the stored image (red left, blue right) is on the right.
        assert img.convert("RGB").getpixel((50, 20))[0] > 200  # type: ignore[index]


def test_or_zero_ignores_the_exif_orientation(
    processor: PillowImageProcessor, sources: dict[str, bytes]
) -> None:
    img, _ = render(processor, sources["exif"], **{"or": "0"})
    assert img.size == (200, 100)


def test_a_large_jpeg_is_thumbnailed(
    processor: PillowImageProcessor, sources: dict[str, bytes]
) -> None:
    img, _ = render(processor, sources["big"], w="320")
    assert img.size == (320, 240)
    img, _ = render(processor, sources["big"], w="320", h="320", fit="crop")
    assert img.size == (320, 320)


def test_the_output_is_capped_to_the_limits(
    processor: PillowImageProcessor, sources: dict[str, bytes]
) -> None:
    small = {**LIMITS, "max_width": 150, "max_height": 150}
    assert render(processor, sources["png"], small, w="150", dpr="4")[0].size == (150, 75)
    assert render(processor, sources["png"], small, border="50,red,expand")[0].size == (150, 105)


def test_a_source_over_the_pixel_limit_is_too_large(
    processor: PillowImageProcessor, sources: dict[str, bytes]
) -> None:
    with pytest.raises(PayloadTooLarge):
        render(processor, sources["big"], {**LIMITS, "max_source_pixels": 11_999_999}, w="10")


def test_a_decompression_bomb_is_too_large_without_being_decoded(
    processor: PillowImageProcessor,
) -> None:
    # A 1-bit PNG of 30000 x 30000 compresses to a few kB and would need 900 MB decoded.
    bomb = encode(Image.new("1", (30_000, 30_000)), "PNG")
    assert len(bomb) < 200_000
    huge = {**LIMITS, "max_source_pixels": 10**12}
    for limits in (LIMITS, huge):
        with pytest.raises(PayloadTooLarge):
            processor.render(bomb, msgspec.to_builtins(parse_params({})), limits)


@pytest.mark.parametrize(
    "data", [b"just some text\n" * 10, b"", b"\x89PNG\r\n\x1a\n" + b"\0" * 20], ids=str
)
def test_a_non_image_is_unsupported(processor: PillowImageProcessor, data: bytes) -> None:
    with pytest.raises(UnsupportedMediaType):
        processor.render(data, msgspec.to_builtins(parse_params({})), LIMITS)


def test_a_truncated_image_is_unsupported(
    processor: PillowImageProcessor, sources: dict[str, bytes]
) -> None:
    with pytest.raises(UnsupportedMediaType):
        processor.render(sources["big"][:5000], msgspec.to_builtins(parse_params({})), LIMITS)


def test_a_crop_outside_the_image_is_a_bad_request(
    processor: PillowImageProcessor, sources: dict[str, bytes]
) -> None:
    with pytest.raises(BadRequest):
        render(processor, sources["png"], crop="10,10,200,0")


@pytest.mark.parametrize(
    "query",
    [
        {"bri": "50"},
        {"bri": "-50"},
        {"con": "50"},
        {"con": "-100"},
        {"gam": "2.2"},
        {"sharp": "50"},
        {"blur": "20"},
        {"pixel": "10"},
        {"filt": "greyscale"},
        {"filt": "sepia"},
        {"flip": "h"},
        {"flip": "v"},
        {"flip": "both"},
        {"or": "180"},
        {"or": "270"},
        {"bg": "5f00"},
        {"border": "5,ff0000"},
        {"border": "5,50ff0000,overlay"},
    ],
    ids=lambda q: "&".join(f"{k}={v}" for k, v in q.items()),
)
@pytest.mark.parametrize("source", ["png", "jpg", "gif", "webp"])
def test_every_adjustment_runs_on_every_format(
    processor: PillowImageProcessor,
    sources: dict[str, bytes],
    source: str,
    query: dict[str, str],
) -> None:
    plain, _ = render(processor, sources[source])
    img, _ = render(processor, sources[source], **query)
    assert img.size == plain.size or img.size == plain.size[::-1]
    if "bg" not in query or source == "png":  # a background shows only through alpha
        assert img.tobytes() != plain.tobytes()


def test_probe_reads_the_size_from_the_first_bytes(
    processor: PillowImageProcessor, sources: dict[str, bytes]
) -> None:
    for name in ("png", "jpg", "gif", "webp"):
        assert processor.probe(sources[name][:4096]) == (200, 100)
    assert processor.probe(sources["big"][:4096]) == (4000, 3000)
    assert processor.probe(b"hello") is None


def test_the_disk_cache_keeps_derivatives_by_key(tmp_path: Path) -> None:
    cache = DiskDerivativeCache(tmp_path / "cache" / "images")
    key = "ab" + "0" * 62
    assert cache.get(key) is None
    cache.put(key, b"one")
    cache.put(key, b"two")
    assert cache.get(key) == b"two"
    assert (tmp_path / "cache" / "images" / "ab" / key).read_bytes() == b"two"
    with pytest.raises(ValueError, match="key"):
        cache.get("../../etc/passwd")
