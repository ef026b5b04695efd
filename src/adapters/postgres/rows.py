"""How entries are laid out in rows: the id's range and depth, the fields' two encodings."""

from __future__ import annotations

from typing import Any

import msgspec
from psycopg import sql
from psycopg.types.json import Jsonb

from flextype_adapters.postgres.search_sql import search_columns
from flextype_core.errors import StorageError, shown

__all__ = [
    "EntryRow",
    "decode_fields",
    "depth_of",
    "encode_fields",
    "parent_of",
    "subtree",
]

Fields = dict[str, Any]

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(dict[str, Any])
_NUL_ESCAPE = b"\\u0000"
_REPLACEMENT = "\ufffd"


class EntryRow(msgspec.Struct, frozen=True):
    """The column values of one entry."""

    id: str
    parent: str
    depth: int
    data: Jsonb
    data_exact: bool
    body: bytes
    search: str
    """The tsvector literal of the entry's words (``search_sql``)."""
    search_of: bytes
    """The digest of ``body`` that ``search`` was built from."""
    search_exact: bool
    """Whether ``search`` kept every word position (else phrases are the core's)."""


def parent_of(entry_id: str) -> str:
    """The id of the entry's parent, '' for a top-level entry."""
    return entry_id.rpartition("/")[0]


def depth_of(entry_id: str) -> int:
    """The number of segments of a (non-root) id."""
    return entry_id.count("/") + 1


def subtree(entry_id: str) -> tuple[sql.Composable, list[str]]:
    """The condition "strictly below ``entry_id``" as an index range on ``id``.

    Ids compare byte by byte (COLLATE "C"): everything below 'movies' lies in
    ['movies/', 'movies0'), '0' being the character after '/'. The root has no bounds.
    """
    if not entry_id:
        return sql.SQL("true"), []
    return sql.SQL("id >= %s AND id < %s"), [entry_id + "/", entry_id + "0"]


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\0", _REPLACEMENT)
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


def _as_is(encoded: Any) -> bytes:
    return bytes(encoded)


def encode_fields(entry_id: str, fields: Fields) -> EntryRow:
    """Lay an entry out in a row.

    ``body`` is the fields as JSON, in their order: what reads decode. ``data`` is the
    same as jsonb, for SQL to filter on. jsonb cannot hold a NUL character: then ``data``
    has U+FFFD in its place and ``data_exact`` is false (queries must not trust it).
    ``search`` is the words of the fields (``search_sql.search_columns``).
    """
    body = _ENCODER.encode(fields)
    # An escaped NUL, or a backslash followed by "u0000" (rare): look closer then.
    exact = _NUL_ESCAPE not in body or _without_nul(fields) == fields
    # The body's bytes are the jsonb's text when exact: encoded once, not twice.
    data = (
        Jsonb(body, dumps=_as_is) if exact else Jsonb(_without_nul(fields), dumps=_ENCODER.encode)
    )
    search = search_columns(entry_id, fields, body)
    return EntryRow(
        id=entry_id,
        parent=parent_of(entry_id),
        depth=depth_of(entry_id),
        data=data,
        data_exact=exact,
        body=body,
        search=search.vector,
        search_of=search.digest,
        search_exact=search.exact,
    )


def decode_fields(entry_id: str, body: bytes) -> Fields:
    """Read the fields back from ``body``.

    Raises:
        StorageError: the row holds no JSON object (changed outside flextype).
    """
    try:
        return _DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageError(f"Entry {shown(entry_id)} cannot be read: damaged row ({exc}).") from exc
