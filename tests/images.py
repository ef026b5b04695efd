"""Images generated for the tests: encoded in any format, with known pixels and EXIF."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

__all__ = ["GPS_IFD", "ORIENTATION", "encode", "exif_jpeg", "gradient", "halves"]

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def encode(img: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def gradient(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """Red grows to the right, green downwards: no flip or filter leaves it as it was."""
    down = Image.linear_gradient("L").resize(size)
    across = down.transpose(Image.Transpose.ROTATE_90).resize(size)
    img = Image.merge("RGB", (across, down, Image.new("L", size, 60)))
    if mode == "RGBA":
        img.putalpha(down)
    return img.convert(mode)


def halves(size: tuple[int, int] = (200, 100)) -> Image.Image:
    """Red on the left half, blue on the right half."""
    img = Image.new("RGB", size, "red")
    img.paste(Image.new("RGB", (size[0] - size[0] // 2, size[1]), "blue"), (size[0] // 2, 0))
    return img


def exif_jpeg() -> bytes:
    """A 200x100 JPEG (red left, blue right) with EXIF orientation 6 and a GPS position."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif.get_ifd(GPS_IFD)[2] = (48.0, 51.0, 24.0)  # GPSLatitude
    return encode(halves(), "JPEG", quality=95, exif=exif.tobytes())
