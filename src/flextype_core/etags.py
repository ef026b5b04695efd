"""Entity tags: one strong validator per representation, and the If-Match / If-None-Match rules."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from flextype_core.errors import PreconditionFailed

__all__ = ["check_if_match", "entity_tag", "matches_any", "tag_of_json"]

_ENCODER = msgspec.json.Encoder()


def entity_tag(value: Any) -> str:
    """Return the strong ETag (quoted) of a JSON-able value: a hash of its JSON text.

    Equal values in equal key order give equal tags; any change of a field changes it.
    """
    return tag_of_json(_ENCODER.encode(value))


def tag_of_json(encoded: bytes) -> str:
    """Return ``entity_tag`` of the value whose JSON text is ``encoded``.

    For a caller that encodes the value anyway (to send it): one encode, not two.
    """
    return '"' + hashlib.sha256(encoded).hexdigest()[:40] + '"'


def matches_any(header: str | None, etag: str, *, weak: bool) -> bool:
    """Tell whether an ``If-Match``/``If-None-Match`` header names ``etag`` (or is ``*``).

    ``weak`` comparison (If-None-Match) ignores a ``W/`` prefix; strong comparison
    (If-Match) never matches a weak tag.
    """
    if header is None:
        return False
    for candidate in (part.strip() for part in header.split(",")):
        if candidate == "*":
            return True
        if candidate.startswith("W/"):
            if weak and candidate[2:] == etag:
                return True
        elif candidate == etag:
            return True
    return False


def check_if_match(header: str | None, current: Any, what: str) -> None:
    """Refuse a write whose ``If-Match`` does not name the current representation.

    Args:
        header: the request's ``If-Match`` (None: no condition).
        current: the representation now, as GET would answer it.
        what: a name for the message, e.g. ``Entry 'movies/dune'``.

    Raises:
        PreconditionFailed: the header is given and does not match.
    """
    if header is not None and not matches_any(header, entity_tag(current), weak=False):
        raise PreconditionFailed(f"{what} has changed: its ETag no longer matches If-Match.")
