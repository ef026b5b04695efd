"""Cursors (``meta.next``, ``options[filter][after]``): a keyset, signed for the query it serves.

A cursor is ``<payload>.<mac>``, both base64url without padding: the payload is the
keyset and the walk as compact JSON (``[values, score, id, [epoch, position] | null]``,
the walk being where the change log stood before the walk's first page), the mac an
HMAC-SHA256 (truncated to 128 bits) over the payload and the query's fingerprint: the
parent, the depth range, ``where``, ``sort_by`` and the search (text and fields). The
page size, ``return`` and the projection are not in it: a client may change those
between pages. A cursor edited (its walk too), forged, made by another server (another
secret) or given to another query fails the check, and is a ``BadRequest``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import secrets
import threading
from typing import Any

import msgspec

from flextype_core.errors import BadRequest
from flextype_core.query.model import Keyset, Query

__all__ = ["CURSOR_KEY_NAME", "MemorySecrets", "Walk", "decode", "encode", "fingerprint", "read"]

CURSOR_KEY_NAME = "cursors"
"""The name of the secret cursors are signed with (``SecretStore.secret``)."""

_DOMAIN = b"flextype-cursor/2\x00"
"""Prefixed to what is signed: a new cursor format changes it, so old cursors fail."""
_MAC_SIZE = 16


class Walk(msgspec.Struct, frozen=True, array_like=True):
    """Where the change log stood when a walk began: read before its first page's select.

    Every change a later page must allow for comes after ``position`` in the log named
    ``epoch`` (``flextype_core.walk``). Carried unchanged by every cursor of the walk.
    """

    epoch: str
    position: int


_ENCODER = msgspec.json.Encoder()
_PAYLOAD = msgspec.json.Decoder(tuple[tuple[Any, ...], float | None, str, Walk | None])
_REFUSED = (
    "options[filter][after] is not a cursor of this query: use the meta.next of a page"
    " with the same find, filter (where, sort_by) and search options."
)


def fingerprint(parent: str, query: Query) -> bytes:
    """What a cursor is bound to: the parts of ``query`` that decide the order and the set."""
    search = query.search
    return _ENCODER.encode(
        (
            parent,
            query.min_depth,
            query.depth,
            query.where,
            query.sort,
            None if search is None else (search.q, search.fields),
        )
    )


def _mac(secret: bytes, parent: str, query: Query, payload: bytes) -> bytes:
    signed = _DOMAIN + fingerprint(parent, query) + b"\x00" + payload
    return hmac.digest(secret, signed, hashlib.sha256)[:_MAC_SIZE]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_NUMBER = "\x00float"
"""The key of a number JSON cannot hold (inf, -inf, nan), spelt as a map in a cursor."""


def _tagged(value: Any) -> Any:
    """``value`` with its non-finite numbers as ``{_NUMBER: "inf"}`` (JSON would null them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return {_NUMBER: repr(value)}
    if isinstance(value, list | tuple):
        return [_tagged(item) for item in value]
    if isinstance(value, dict):
        return {key: _tagged(item) for key, item in value.items()}
    return value


def _untagged(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_NUMBER} and value[_NUMBER] in ("inf", "-inf", "nan"):
            return float(value[_NUMBER])
        return {key: _untagged(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_untagged(item) for item in value]
    return value


def encode(
    keyset: Keyset, parent: str, query: Query, secret: bytes, walk: Walk | None = None
) -> str:
    """The cursor of ``keyset`` (in ``walk``) for ``query`` below ``parent``, signed."""
    payload = _ENCODER.encode((_tagged(keyset.values), keyset.score, keyset.id, walk))
    return _b64(payload) + "." + _b64(_mac(secret, parent, query, payload))


def decode(cursor: str, parent: str, query: Query, secret: bytes) -> Keyset:
    """The keyset of ``cursor``, checked to be one ``encode`` made for this query (see ``read``)."""
    return read(cursor, parent, query, secret)[0]


def read(cursor: str, parent: str, query: Query, secret: bytes) -> tuple[Keyset, Walk | None]:
    """The keyset and walk of ``cursor``, checked to be one ``encode`` made for this query.

    Raises:
        BadRequest: the cursor is malformed, edited (its walk too), signed with another
            secret or made for another query (parent, depth, where, sort_by or search).
    """
    payload_text, _, mac_text = cursor.partition(".")
    try:
        payload, mac = _unb64(payload_text), _unb64(mac_text)
    except (binascii.Error, ValueError):
        raise BadRequest(_REFUSED) from None
    if not hmac.compare_digest(mac, _mac(secret, parent, query, payload)):
        raise BadRequest(_REFUSED)
    try:
        values, score, entry_id, walk = _PAYLOAD.decode(payload)
    except msgspec.DecodeError:  # signed by us: only a change of format gets here
        raise BadRequest(_REFUSED) from None
    if len(values) != len(query.sort):
        raise BadRequest(_REFUSED)
    return Keyset(values=tuple(_untagged(v) for v in values), score=score, id=entry_id), walk


class MemorySecrets:
    """A ``SecretStore`` in memory: secrets live as long as the object (one process).

    For a service built without a store (a library caller): its cursors work within the
    process and fail (400) after a restart or on another process.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[str, bytes] = {}

    def secret(self, name: str) -> bytes:
        """Return the secret ``name``, made on first use."""
        with self._lock:
            return self._secrets.setdefault(name, secrets.token_bytes(32))
