"""Content sniffing: does a file's first bytes agree with its extension, and what MIME type is it.

An upload is accepted only when its content is what its name says, so a ``.png`` that
holds a script or an HTML page never gets stored as an image. Only the first bytes are
looked at (``HEAD_BYTES`` is enough for every rule here).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["HEAD_BYTES", "MIME_TYPES", "detect"]

HEAD_BYTES = 4096
"""How many leading bytes ``detect`` needs at most to decide."""


def _starts(*magics: bytes) -> Callable[[bytes], bool]:
    return lambda head: head.startswith(magics)


def _webp(head: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


def _mp3(head: bytes) -> bool:
    # An ID3v2 tag, or an MPEG audio frame header: 11 set sync bits.
    return head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] >= 0xE0)


def _mp4(head: bytes) -> bool:
    return head[4:8] == b"ftyp"


def _utf8_text(head: bytes) -> str | None:
    """Decode ``head`` as UTF-8, allowing a character cut at its end; None if not text."""
    if b"\x00" in head:
        return None
    try:
        return head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the head is still text.
        if exc.reason != "unexpected end of data" or exc.start < len(head) - 3:
            return None
        return _utf8_text(head[: exc.start])


def _text(head: bytes) -> bool:
    return _utf8_text(head) is not None


def _svg(head: bytes) -> bool:
    text = _utf8_text(head)
    if text is None:
        return False
    start = text.lstrip()
    return start.startswith("<") and "<svg" in start.lower()


_RULES: dict[str, tuple[str, Callable[[bytes], bool]]] = {
    "gif": ("image/gif", _starts(b"GIF87a", b"GIF89a")),
    "jpg": ("image/jpeg", _starts(b"\xff\xd8\xff")),
    "jpeg": ("image/jpeg", _starts(b"\xff\xd8\xff")),
    "png": ("image/png", _starts(b"\x89PNG\r\n\x1a\n")),
    "webp": ("image/webp", _webp),
    "svg": ("image/svg+xml", _svg),
    "ico": ("image/vnd.microsoft.icon", _starts(b"\x00\x00\x01\x00")),
    "pdf": ("application/pdf", _starts(b"%PDF-")),
    "txt": ("text/plain", _text),
    "md": ("text/markdown", _text),
    "zip": ("application/zip", _starts(b"PK\x03\x04", b"PK\x05\x06")),
    "mp3": ("audio/mpeg", _mp3),
    "mp4": ("video/mp4", _mp4),
    "webm": ("video/webm", _starts(b"\x1a\x45\xdf\xa3")),
}

MIME_TYPES: dict[str, str] = {extension: mime for extension, (mime, _) in _RULES.items()}
"""The MIME type of each extension ``detect`` knows."""


def detect(head: bytes, extension: str) -> str | None:
    """Return the MIME type of a file whose first bytes are ``head`` and name ends ``extension``.

    Args:
        head: the file's first bytes (``HEAD_BYTES`` of them, or the whole file if shorter).
        extension: the file name's extension, without the dot, in any case.

    Returns:
        The MIME type when the content is consistent with the extension; None when it is
        not, or when the extension is unknown.
    """
    rule = _RULES.get(extension.lower().removeprefix("."))
    if rule is None:
        return None
    mime, matches = rule
    return mime if matches(head) else None
