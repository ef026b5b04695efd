"""Read answers encoded once: the body's bytes and the ETag made from them, kept for reuse.

An answer is encoded once, its ETag hashed from those bytes, and those bytes are sent:
never encoded again by the framework. ``AnswerCache`` keeps recent answers of reads
(collections, registry items) under keys that change whenever what they show may have
changed (the change feed's head and the store's version), within a byte budget.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import msgspec
import xxhash

from flextype_core.byte_lru import ByteLru
from flextype_core.etags import tag_of_json

__all__ = [
    "JSON",
    "Answer",
    "AnswerCache",
    "data_answer",
    "page_tag",
    "params_key",
    "payload_answer",
]

JSON = "application/json"

_ENCODER = msgspec.json.Encoder()
# What a kept answer costs beyond its body: the key, the object, the headers (a guess).
_OVERHEAD = 512
_CREDENTIALS = ("token", "access_token")


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    """A read's answer as sent: body bytes, its ETag, and the headers that go with it."""

    body: bytes
    etag: str
    headers: Mapping[str, str] = msgspec.field(default_factory=dict)
    """Sent with the answer, and with a 304 for it (``X-Changes-Cursor``)."""
    next: str | None = None
    """``meta.next`` of a page, for the request's own ``Link`` header (it names the
    request's URL, so it is never kept with the answer)."""
    media_type: str = JSON


def data_answer(value: Any, headers: Mapping[str, str] | None = None) -> Answer:
    """``{"data": value}``, tagged as ``entity_tag(value)`` is: one encode of ``value``."""
    encoded = _ENCODER.encode(value)
    return Answer(
        body=b'{"data":' + encoded + b"}", etag=tag_of_json(encoded), headers=headers or {}
    )


def payload_answer(
    payload: msgspec.Struct, headers: Mapping[str, str] | None = None, *, next: str | None = None
) -> Answer:
    """A whole body (a page with its ``meta``), tagged by ``page_tag``."""
    body = _ENCODER.encode(payload)
    return Answer(body=body, etag=page_tag(body), headers=headers or {}, next=next)


def page_tag(body: bytes) -> str:
    """The strong ETag of a page's body (a listing, a query's answer): XXH3-128 of its bytes.

    A page's tag is only ever given back in ``If-None-Match`` for the same URL: unlike
    one resource's (``entity_tag``, SHA-256, which ``If-Match`` and the change feed
    compare), it need not be any other function. XXH3 hashes a 363 kB listing in 7 us
    where SHA-256 takes 200 (a third of answering it); 128 bits leave no chance of two
    versions of one URL sharing a tag.
    """
    return '"' + xxhash.xxh3_128_hexdigest(body) + '"'


def params_key(values: Mapping[str, Any]) -> bytes | None:
    """The request's parameters as one key: credentials left out, in the order given.

    Two requests with the same parameters, with any token, get the same key; None for
    values that cannot be encoded (never kept). Not sorted: where two list indexes are
    equal as numbers (``[1]``, ``[01]``), the order given decides the answer.
    """
    kept = {name: value for name, value in values.items() if name not in _CREDENTIALS}
    try:
        return _ENCODER.encode(kept)
    except (TypeError, msgspec.EncodeError):
        return None


class AnswerCache:
    """Recent answers by key, within ``limit`` bytes (0: none kept), least recent dropped.

    A key names everything an answer depends on: the route, the parameters
    (``params_key``) and the store's version, which moves with every change of an
    entry. A hit is then exactly what computing it again would give.
    """

    def __init__(self, limit: int) -> None:
        self._kept: ByteLru[Answer] = ByteLru(limit, _size)

    @property
    def enabled(self) -> bool:
        return self._kept.limit > 0

    @property
    def bytes(self) -> int:
        return self._kept.bytes

    def get(self, key: Hashable) -> Answer | None:
        return self._kept.get(key)

    def put(self, key: Hashable, answer: Answer, *, key_bytes: int = 0) -> None:
        """Keep ``answer``; ``key_bytes``: the size of a key that may be long (parameters)."""
        self._kept.put(key, answer, extra=key_bytes)


def _size(answer: Answer) -> int:
    return len(answer.body) + _OVERHEAD
