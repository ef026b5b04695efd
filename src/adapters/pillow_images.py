"""The ImageProcessor port over Pillow: decode within budgets, apply Glide parameters, encode."""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from PIL import Image, ImageDraw, ImageFile, ImageFilter, ImageOps, UnidentifiedImageError

from flextype_core.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

__all__ = ["PillowImageProcessor"]

_SOURCE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP")
"""What is decoded at all: the formats of the upload allow-list, nothing exotic."""
_SAVE_AS = {
    "jpg": ("JPEG", "image/jpeg"),
    "pjpg": ("JPEG", "image/jpeg"),
    "png": ("PNG", "image/png"),
    "gif": ("GIF", "image/gif"),
    "webp": ("WEBP", "image/webp"),
}
_KEEP_FORMAT = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}
_SWAPS_AXES = {5, 6, 7, 8}
"""EXIF orientations that turn the image a quarter."""
_ROTATE = {
    "90": Image.Transpose.ROTATE_90,
    "180": Image.Transpose.ROTATE_180,
    "270": Image.Transpose.ROTATE_270,
}
_FLIP = {
    "h": Image.Transpose.FLIP_LEFT_RIGHT,
    "v": Image.Transpose.FLIP_TOP_BOTTOM,
    "both": Image.Transpose.ROTATE_180,
}
_SEPIA = (0.393, 0.769, 0.189, 0, 0.349, 0.686, 0.168, 0, 0.272, 0.534, 0.131, 0)
_WHITE = (255, 255, 255, 255)
_CLEAR = (0, 0, 0, 0)
_RESAMPLE = Image.Resampling.LANCZOS
_REDUCING_GAP = 3.0
"""Resize in two steps, ``reduce()`` by an integer factor first, when shrinking a lot."""

Box = tuple[float, float, float, float]
Colour = tuple[int, int, int, int]


class _Plan:
    """How the whole (oriented, cropped) source maps to the output before effects."""

    def __init__(
        self,
        size: tuple[int, int],
        box: Box | None = None,
        canvas: tuple[int, int] | None = None,
        scale: tuple[float, float] = (1.0, 1.0),
    ) -> None:
        self.size = size
        """The resized size."""
        self.box = box
        """The source region resized (None: all of it)."""
        self.canvas = canvas
        """Pad to this size (``fill``)."""
        self.scale = scale
        """The scale applied to the whole source, per axis."""


def _target(source: tuple[int, int], p: Mapping[str, Any], limits: Mapping[str, int]) -> Box:
    """Glide's Size: the box to fit into, missing sides from the ratio, times dpr, capped."""
    sw, sh = source
    w, h = p["w"], p["h"]
    if w is None and h is None:
        w, h = sw, sh
    elif w is None:
        w = h * sw / sh
    elif h is None:
        h = w * sh / sw
    w, h = w * p["dpr"], h * p["dpr"]
    cap = min(1.0, limits["max_width"] / w, limits["max_height"] / h)
    return (0.0, 0.0, max(1.0, w * cap), max(1.0, h * cap))


def _plan(source: tuple[int, int], p: Mapping[str, Any], limits: Mapping[str, int]) -> _Plan:
    sw, sh = source
    _, _, tw, th = _target(source, p, limits)
    fit = p["fit"]
    if fit == "stretch":
        size = (round(tw), round(th))
        return _Plan(size, scale=(size[0] / sw, size[1] / sh))
    if fit == "crop":
        fx, fy, zoom = p["focus"]
        scale = max(tw / sw, th / sh) * zoom
        tw, th = round(tw), round(th)
        ox = min(max(fx / 100 * sw * scale - tw / 2, 0), sw * scale - tw)
        oy = min(max(fy / 100 * sh * scale - th / 2, 0), sh * scale - th)
        box = (ox / scale, oy / scale, (ox + tw) / scale, (oy + th) / scale)
        return _Plan((tw, th), box=box, scale=(scale, scale))
    scale = min(tw / sw, th / sh)
    if fit in ("max", "fill-max"):
        scale = min(scale, 1.0)
    size = (max(1, round(sw * scale)), max(1, round(sh * scale)))
    canvas = (round(tw), round(th)) if fit in ("fill", "fill-max") else None
    return _Plan(size, canvas=canvas, scale=(scale, scale))


def _map_rgb(img: Image.Image, channel: Callable[[int], float]) -> Image.Image:
    lut = [min(255, max(0, round(channel(v)))) for v in range(256)]
    return img.point(lut * 3 + (list(range(256)) if img.mode == "RGBA" else []))


def _brightness(level: int) -> Callable[[int], float]:
    return lambda v: v + level * 2.55


def _contrast(level: int) -> Callable[[int], float]:
    c = level * 2.55
    factor = 259 * (c + 255) / (255 * (259 - c))
    return lambda v: factor * (v - 128) + 128


def _gamma(gamma: float) -> Callable[[int], float]:
    return lambda v: 255 * (v / 255) ** (1 / gamma)


def _keeping_alpha(img: Image.Image, change: Callable[[Image.Image], Image.Image]) -> Image.Image:
    if img.mode != "RGBA":
        return change(img)
    changed = change(img.convert("RGB")).convert("RGBA")
    changed.putalpha(img.getchannel("A"))
    return changed


def _filter(img: Image.Image, name: str) -> Image.Image:
    if name == "greyscale":
        return _keeping_alpha(img, lambda i: ImageOps.grayscale(i).convert("RGB"))
    return _keeping_alpha(img, lambda i: i.convert("RGB", matrix=_SEPIA))


def _pixelate(img: Image.Image, size: int) -> Image.Image:
    small = (max(1, img.width // size), max(1, img.height // size))
    return img.resize(small, Image.Resampling.BOX).resize(img.size, Image.Resampling.NEAREST)


def _over(img: Image.Image, colour: Colour, size: tuple[int, int] | None = None) -> Image.Image:
    """``img`` centred on a canvas of ``colour`` (its own size by default)."""
    size = size or img.size
    canvas = Image.new("RGBA", size, colour)
    at = ((size[0] - img.width) // 2, (size[1] - img.height) // 2)
    canvas.alpha_composite(img.convert("RGBA"), at)
    return canvas


def _border(img: Image.Image, border: Mapping[str, Any]) -> Image.Image:
    width, colour, method = border["width"], tuple(border["colour"]), border["method"]
    if method == "expand":
        return _over(img, colour, (img.width + 2 * width, img.height + 2 * width))
    if method == "shrink":
        inner = (max(1, img.width - 2 * width), max(1, img.height - 2 * width))
        return _over(img.resize(inner, _RESAMPLE), colour, img.size)
    layer = Image.new("RGBA", img.size, _CLEAR)
    ImageDraw.Draw(layer).rectangle(
        (0, 0, img.width - 1, img.height - 1), outline=colour, width=width
    )
    return Image.alpha_composite(img.convert("RGBA"), layer)


def _normalised(img: Image.Image) -> Image.Image:
    """RGB, or RGBA when the source has any transparency (never a palette)."""
    if img.mode in ("RGBA", "RGB"):
        return img
    if "transparency" in img.info or "A" in img.mode or img.mode == "PA":
        return img.convert("RGBA")
    return img.convert("RGB")


def _effects(img: Image.Image, p: Mapping[str, Any]) -> Image.Image:
    """Brightness, contrast, gamma, sharpen, filter, flip, blur and pixelate, in that order."""
    for level, curve in ((p["bri"], _brightness), (p["con"], _contrast)):
        if level:
            img = _map_rgb(img, curve(level))
    if p["gam"] is not None:
        img = _map_rgb(img, _gamma(p["gam"]))
    if p["sharp"]:
        img = img.filter(ImageFilter.UnsharpMask(radius=2, percent=p["sharp"] * 2, threshold=2))
    if p["filt"] is not None:
        img = _filter(img, p["filt"])
    if p["flip"] is not None:
        img = img.transpose(_FLIP[p["flip"]])
    if p["blur"]:
        img = img.filter(ImageFilter.GaussianBlur(p["blur"] / 2))
    if p["pixel"] > 1:
        img = _pixelate(img, p["pixel"])
    return img


@contextmanager
def _opened(source: bytes, max_pixels: int) -> Iterator[ImageFile.ImageFile]:
    """Open ``source`` (headers only) and refuse it before decoding if it is too big."""
    try:
        img = Image.open(io.BytesIO(source), formats=_SOURCE_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own bomb check (MAX_IMAGE_PIXELS) fires inside open(); the warning is
        # an exception only where warnings are errors (the test suite), same meaning.
        raise PayloadTooLarge("The image has too many pixels to be transformed.") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnsupportedMediaType("The file is not an image that can be decoded.") from exc
    with img:
        if img.width * img.height > max_pixels:
            raise PayloadTooLarge(
                f"The image has {img.width}x{img.height} pixels, more than the "
                f"{max_pixels} allowed for a transformation."
            )
        yield img


class PillowImageProcessor:
    """ImageProcessor over Pillow.

    Only the first frame of an animation is used. The output carries no EXIF, XMP or
    comment: only the ICC profile is kept, so colours stay right.
    """

    def probe(self, head: bytes) -> tuple[int, int] | None:
        try:
            with Image.open(io.BytesIO(head), formats=_SOURCE_FORMATS) as img:
                return img.size
        except (
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
            UnidentifiedImageError,
            OSError,
            SyntaxError,
            ValueError,
            EOFError,
        ):
            return None

    def render(
        self, source: bytes, params: Mapping[str, Any], limits: Mapping[str, int]
    ) -> tuple[bytes, str]:
        with _opened(source, limits["max_source_pixels"]) as opened:
            source_format = opened.format or ""
            icc = opened.info.get("icc_profile")
            img = self._decoded(opened, params, limits)
        img = self._transformed(img, params, limits)
        return self._encoded(img, params, source_format, icc)

    def _decoded(
        self, img: ImageFile.ImageFile, p: Mapping[str, Any], limits: Mapping[str, int]
    ) -> Image.Image:
        """Decode (a JPEG at a reduced scale when that is enough), oriented, RGB(A)."""
        try:
            # getexif() loads a PNG's data: a truncated one fails here already.
            orientation = img.getexif().get(0x0112, 1) if p["or"] == "auto" else 1
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise UnsupportedMediaType("The image is damaged or truncated.") from exc
        if img.format == "JPEG" and p["crop"] is None:
            turned = orientation in _SWAPS_AXES or p["or"] in ("90", "270")
            size = (img.height, img.width) if turned else img.size
            sx, sy = _plan(size, p, limits).scale
            wanted = (math.ceil(size[0] * sx), math.ceil(size[1] * sy))
            if sx < 1 and sy < 1:
                img.draft(img.mode, wanted[::-1] if turned else wanted)
        try:
            img.load()
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise UnsupportedMediaType("The image is damaged or truncated.") from exc
        decoded: Image.Image = img
        if p["or"] == "auto":
            decoded = ImageOps.exif_transpose(img) if orientation != 1 else img
        elif p["or"] != "0":
            decoded = img.transpose(_ROTATE[p["or"]])
        return _normalised(decoded)

    def _transformed(
        self, img: Image.Image, p: Mapping[str, Any], limits: Mapping[str, int]
    ) -> Image.Image:
        """Apply the parameters in Glide's order.

        Crop, size, brightness, contrast, gamma, sharpen, filter, flip, blur, pixelate,
        background, border; then the output is capped to the size limits.
        """
        if p["crop"] is not None:
            cw, ch, x, y = p["crop"]
            if x >= img.width or y >= img.height:
                raise BadRequest(
                    "Image parameter 'crop' starts outside the image.", details=["crop"]
                )
            img = img.crop((x, y, min(img.width, x + cw), min(img.height, y + ch)))
        plan = _plan(img.size, p, limits)
        if plan.size != img.size or plan.box is not None:
            img = img.resize(plan.size, _RESAMPLE, box=plan.box, reducing_gap=_REDUCING_GAP)
        if plan.canvas is not None:
            img = _over(img, _CLEAR, plan.canvas)
        img = _effects(img, p)
        if p["bg"] is not None:
            img = _over(img, tuple(p["bg"]))
        if p["border"] is not None:
            img = _border(img, p["border"])
        if img.width > limits["max_width"] or img.height > limits["max_height"]:
            img.thumbnail((limits["max_width"], limits["max_height"]), _RESAMPLE)
        return img

    def _encoded(
        self, img: Image.Image, p: Mapping[str, Any], source_format: str, icc: bytes | None
    ) -> tuple[bytes, str]:
        fm = p["fm"] or _KEEP_FORMAT.get(source_format, "jpg")
        pillow_format, mime = _SAVE_AS[fm]
        options: dict[str, Any] = {}
        if pillow_format == "JPEG":
            if img.mode == "RGBA":
                img = _over(img, tuple(p["bg"] or _WHITE))
            img = img.convert("RGB")
            options = {"quality": p["q"], "progressive": fm == "pjpg"}
        elif pillow_format == "WEBP":
            options = {"quality": p["q"]}
        if icc and pillow_format != "GIF":
            options["icc_profile"] = icc
        # Metadata (EXIF with GPS, XMP, comments) is carried in ``info``: drop it all.
        img.info = {}
        out = io.BytesIO()
        img.save(out, pillow_format, **options)
        return out.getvalue(), mime
