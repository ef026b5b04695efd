"""Glide parameters of the Images API and signed image URLs: parsed strictly, signed canonically.

Parsing is strict: an unknown parameter or a value out of range is a ``BadRequest`` naming
it, never ignored. A signature covers the path and every parameter but ``s`` and
``token``, sorted, so a client may send them in any order.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import msgspec

from flextype_core.errors import BadRequest, shown

__all__ = [
    "COLOURS",
    "FITS",
    "FORMATS",
    "POSITIONS",
    "Border",
    "ImageParams",
    "canonical",
    "parse_params",
    "sign",
    "signed_url",
    "single_values",
    "verify_signature",
]

FITS = ("contain", "max", "fill", "fill-max", "stretch", "crop")
"""The ``fit`` modes; ``crop-<position>`` and ``crop-X-Y[-Z]`` normalise to ``crop``."""

POSITIONS: dict[str, tuple[float, float]] = {
    "top-left": (0, 0),
    "top": (50, 0),
    "top-right": (100, 0),
    "left": (0, 50),
    "center": (50, 50),
    "right": (100, 50),
    "bottom-left": (0, 100),
    "bottom": (50, 100),
    "bottom-right": (100, 100),
}
"""``crop-<position>`` as the focal point (x %, y %) it stands for."""

FORMATS = {"jpg": "image/jpeg", "pjpg": "image/jpeg", "png": "image/png"}
FORMATS |= {"gif": "image/gif", "webp": "image/webp"}
"""The output formats (``fm``) and their MIME types."""

COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "red": (255, 0, 0),
    "lime": (0, 255, 0),
    "green": (0, 128, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "cyan": (0, 255, 255),
    "aqua": (0, 255, 255),
    "magenta": (255, 0, 255),
    "fuchsia": (255, 0, 255),
    "silver": (192, 192, 192),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "maroon": (128, 0, 0),
    "olive": (128, 128, 0),
    "purple": (128, 0, 128),
    "teal": (0, 128, 128),
    "navy": (0, 0, 128),
    "orange": (255, 165, 0),
    "pink": (255, 192, 203),
    "brown": (165, 42, 42),
}
"""Named colours for ``bg`` and ``border`` (the CSS basic colours and a few more)."""

_SIGNATURE_PARAMS = frozenset({"s", "token"})
"""Left out of the signed string: the signature itself and a token."""
_ACCESS_PARAMS = frozenset({"s", "token", "expires"})
_INT = re.compile(r"-?[0-9]{1,9}")
_UNIX_TIME = re.compile(r"[0-9]{1,12}")
"""``expires``: Unix times have 10 digits now; 12 reach past the year 33000."""
_DECIMAL = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,6})?")
_FOCAL = re.compile(r"crop-([0-9]{1,3})-([0-9]{1,3})(?:-([0-9]{1,3}(?:\.[0-9]{1,6})?))?")
_HEX = re.compile(r"[0-9a-fA-F]{3}|[0-9][0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9]{2}[0-9a-fA-F]{6}")
_KEY_VERSION = "flextype-images-1"
"""Part of every cache key: bump it when the renderer's output changes."""

Colour = tuple[int, int, int, int]


class Border(msgspec.Struct, frozen=True, kw_only=True):
    """A ``border``: its width in pixels, colour and method."""

    width: int
    colour: Colour = (255, 255, 255, 255)
    method: str = "overlay"
    """``overlay`` (over the image's edge), ``shrink`` (the image shrinks inside the same
    size) or ``expand`` (the output grows by twice the width)."""


class ImageParams(msgspec.Struct, frozen=True, kw_only=True):
    """Validated Glide parameters; every field has the value meaning "leave as is".

    ``msgspec.to_builtins`` of it is what the ``ImageProcessor`` receives (``or`` under
    its Glide name).
    """

    w: int | None = None
    """Output width in CSS pixels (times ``dpr``)."""
    h: int | None = None
    fit: str = "contain"
    """One of ``FITS``."""
    focus: tuple[float, float, float] = (50.0, 50.0, 1.0)
    """For ``fit=crop``: the focal point (x %, y %) and the zoom (1-100)."""
    crop: tuple[int, int, int, int] | None = None
    """A rectangle ``(width, height, x, y)`` cut from the source before resizing."""
    dpr: float = 1.0
    or_: str = msgspec.field(default="auto", name="or")
    """``auto`` (EXIF orientation), or 0, 90, 180, 270 degrees counter-clockwise."""
    flip: str | None = None
    bri: int = 0
    con: int = 0
    gam: float | None = None
    sharp: int = 0
    blur: int = 0
    pixel: int = 0
    filt: str | None = None
    bg: Colour | None = None
    border: Border | None = None
    q: int = 90
    fm: str | None = None
    """None keeps the source's format when it is one of ``FORMATS`` (else jpg)."""


# ---------------------------------------------------------------------------- parsing


def _bad(name: str, expected: str, value: str) -> BadRequest:
    return BadRequest(
        f"Image parameter '{name}' must be {expected}, got {shown(value)}.", details=[name]
    )


def _int(name: str, value: str, low: int, high: int | None) -> int:
    expected = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"
    if not _INT.fullmatch(value):
        raise _bad(name, expected, value)
    number = int(value)
    if number < low or (high is not None and number > high):
        raise _bad(name, expected, value)
    return number


def _decimal(name: str, value: str, low: float, high: float) -> float:
    expected = f"a number from {low:g} to {high:g}"
    if not _DECIMAL.fullmatch(value) or not low <= float(value) <= high:
        raise _bad(name, expected, value)
    return float(value)


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _bad(name, "one of " + ", ".join(choices), value)
    return value


def _colour(name: str, value: str) -> Colour:
    """A Glide colour: a name, or hex RGB/ARGB (3, 4, 6 or 8 digits).

    As in Glide, the alpha of 4 and 8 digits comes first and is decimal: ``5fff`` is white
    at 50 %, ``25ffffff`` white at 25 %.
    """
    named = COLOURS.get(value.lower())
    if named is not None:
        return (*named, 255)
    if not _HEX.fullmatch(value):
        raise _bad(name, "a colour name or 3, 4, 6 or 8 hex digits", value)
    alpha = 255
    if len(value) in (4, 8):
        digits = len(value) // 4
        alpha = round(int(value[:digits]) / 10**digits * 255)
        value = value[digits:]
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    red, green, blue = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return (red, green, blue, alpha)


def _fit(value: str) -> tuple[str, tuple[float, float, float]]:
    if value in FITS:
        return value, (50.0, 50.0, 1.0)
    position = POSITIONS.get(value.removeprefix("crop-")) if value.startswith("crop-") else None
    if position is not None:
        return "crop", (float(position[0]), float(position[1]), 1.0)
    focal = _FOCAL.fullmatch(value)
    if focal:
        x, y, zoom = int(focal[1]), int(focal[2]), float(focal[3] or 1)
        if x <= 100 and y <= 100 and 1 <= zoom <= 100:
            return "crop", (float(x), float(y), zoom)
    expected = "one of " + ", ".join(FITS) + ", crop-<position> or crop-X-Y[-ZOOM]"
    raise _bad("fit", expected, value)


def _crop(value: str) -> tuple[int, int, int, int]:
    parts = value.split(",")
    expected = "four integers 'width,height,x,y' (width and height > 0)"
    if len(parts) != 4 or not all(_INT.fullmatch(p) for p in parts):
        raise _bad("crop", expected, value)
    width, height, x, y = (int(p) for p in parts)
    if width < 1 or height < 1 or x < 0 or y < 0:
        raise _bad("crop", expected, value)
    return (width, height, x, y)


def _border(value: str) -> Border:
    parts = value.split(",")
    if len(parts) > 3:
        raise _bad("border", "'width[,colour[,method]]'", value)
    width = _int("border", parts[0], 1, 10_000)
    colour = _colour("border", parts[1]) if len(parts) > 1 else (255, 255, 255, 255)
    method = (
        _choice("border", parts[2], ("overlay", "shrink", "expand"))
        if len(parts) > 2
        else "overlay"
    )
    return Border(width=width, colour=colour, method=method)


_PARSERS: dict[str, Callable[[str], tuple[str, Any]]] = {
    "w": lambda v: ("w", _int("w", v, 1, None)),
    "h": lambda v: ("h", _int("h", v, 1, None)),
    "fit": lambda v: ("fit", _fit(v)),
    "crop": lambda v: ("crop", _crop(v)),
    "dpr": lambda v: ("dpr", _decimal("dpr", v, 1, 8)),
    "or": lambda v: ("or_", _choice("or", v, ("auto", "0", "90", "180", "270"))),
    "flip": lambda v: ("flip", _choice("flip", v, ("v", "h", "both"))),
    "bri": lambda v: ("bri", _int("bri", v, -100, 100)),
    "con": lambda v: ("con", _int("con", v, -100, 100)),
    "gam": lambda v: ("gam", _decimal("gam", v, 0.1, 9.99)),
    "sharp": lambda v: ("sharp", _int("sharp", v, 0, 100)),
    "blur": lambda v: ("blur", _int("blur", v, 0, 100)),
    "pixel": lambda v: ("pixel", _int("pixel", v, 0, 1000)),
    "filt": lambda v: ("filt", _choice("filt", v, ("greyscale", "sepia"))),
    "bg": lambda v: ("bg", _colour("bg", v)),
    "border": lambda v: ("border", _border(v)),
    "q": lambda v: ("q", _int("q", v, 0, 100)),
    "fm": lambda v: ("fm", _choice("fm", v, tuple(FORMATS))),
}


def single_values(query: Mapping[str, object]) -> dict[str, str]:
    """Return the request's parameters, each one text value, as signing and parsing take them.

    Raises:
        BadRequest: a parameter came as a list or a map (``w[]=10``, ``w[a]=10``) or
            another non-text value; ``details`` names them.
    """
    wrong = sorted(name for name, value in query.items() if not isinstance(value, str))
    if wrong:
        kinds = {"list": "a list", "dict": "a map"}
        shown_as = ", ".join(
            f"{shown(name)} ({kinds.get(type(query[name]).__name__, 'not text')})" for name in wrong
        )
        raise BadRequest(f"Image parameters take one text value each: {shown_as}.", details=wrong)
    return {name: value for name, value in query.items() if isinstance(value, str)}


def parse_params(query: Mapping[str, str]) -> ImageParams:
    """Validate the Glide parameters of an image request.

    Args:
        query: the query parameters, one value each. ``s`` and ``token`` are skipped
            (access is checked elsewhere); ``expires`` must be a Unix time.

    Returns:
        The parameters, normalised (``fit=crop-center`` and ``fit=crop-50-50`` are equal).

    Raises:
        BadRequest: an unknown parameter, or a value that is malformed or out of range;
            the message and ``details`` name the parameter.
    """
    unknown = sorted(k for k in query if k not in _PARSERS and k not in _ACCESS_PARAMS)
    if unknown:
        names = ", ".join(shown(k) for k in unknown)
        raise BadRequest(f"Unknown image parameter(s): {names}.", details=unknown)
    if "expires" in query and not _UNIX_TIME.fullmatch(query["expires"]):
        raise _bad("expires", "a Unix time (seconds)", query["expires"])
    fields: dict[str, Any] = {}
    for name in sorted(query.keys() & _PARSERS.keys()):
        field, value = _PARSERS[name](query[name])
        fields[field] = value
    if "fit" in fields:
        fields["fit"], fields["focus"] = fields["fit"]
    return ImageParams(**fields)


# ---------------------------------------------------------------------------- signing


def _encode(text: str) -> str:
    # safe="" leaves exactly RFC 3986's unreserved set (A-Z a-z 0-9 - . _ ~) unescaped.
    return quote(text, safe="")


def canonical(path: str, query: Mapping[str, str]) -> str:
    """Return the string a signature covers: ``<path>?<params>``.

    ``path`` is the file id as after ``/api/images/`` (a leading slash is dropped), in its
    URL form (percent-encoded, slashes kept). ``<params>`` is every parameter but ``s`` and
    ``token``, sorted by name, each name and value percent-encoded with only RFC 3986
    unreserved characters left as they are (a space is ``%20``), joined ``k=v&k=v``.
    """
    params = "&".join(
        f"{_encode(k)}={_encode(v)}" for k, v in sorted(query.items()) if k not in _SIGNATURE_PARAMS
    )
    return f"{quote(path.lstrip('/'), safe='/')}?{params}"


def sign(key: str, path: str, query: Mapping[str, str]) -> str:
    """Return the signature ``s`` of an image URL: lowercase hex HMAC-SHA256 of ``canonical``."""
    message = canonical(path, query).encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def signed_url(
    key: str, path: str, query: Mapping[str, str], *, prefix: str = "/api/images/"
) -> str:
    """Return ``prefix`` + the canonical path and parameters + ``&s=<signature>``."""
    text = canonical(path, query)
    glue = "" if text.endswith("?") else "&"
    return f"{prefix}{text}{glue}s={sign(key, path, query)}"


def verify_signature(key: str, path: str, query: Mapping[str, str], now: int) -> bool:
    """Tell whether ``query["s"]`` signs this path and query and ``expires`` is not past.

    The comparison takes the same time wherever the signatures differ. An empty ``key``
    (signing not set up), a missing ``s`` or a malformed ``expires`` never verify.
    """
    given = query.get("s")
    if not key or given is None:
        return False
    expires = query.get("expires")
    if expires is not None and (not _UNIX_TIME.fullmatch(expires) or int(expires) < now):
        return False
    return hmac.compare_digest(sign(key, path, query).encode(), given.encode())
