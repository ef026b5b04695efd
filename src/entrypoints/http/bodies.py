"""The parameters each write takes, as msgspec Structs: read from any body, shown in OpenAPI.

A request's parameters arrive as JSON, as a form with bracket keys, or in the query
string; ``RequestParams`` merges them, and ``read`` checks them against one of these
models. The OpenAPI document is generated from the same models.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from flextype_core.errors import BadRequest, ValidationFailed
from flextype_entrypoints.http.params import RequestParams

__all__ = [
    "Credentials",
    "EntryCreate",
    "EntryDelete",
    "EntryMove",
    "EntryQueries",
    "EntryUpdate",
    "FolderCreate",
    "HashCreate",
    "HashVerify",
    "MediaDelete",
    "MediaMove",
    "MediaUpload",
    "MetaDelete",
    "MetaWrite",
    "NamedQuery",
    "TokenCreate",
    "TokenDelete",
    "TokenMove",
    "TokenUpdate",
    "WebhookCreate",
    "WebhookDelete",
    "WebhookReplay",
    "WebhookUpdate",
    "meta_write",
    "read",
    "read_part",
]

T = TypeVar("T", bound=msgspec.Struct)

_MISSING = re.compile(r"missing required field `([^`]+)`")
_AT = re.compile(r"^(.*) - at `\$\.?([^`]*)`$")


class Credentials(msgspec.Struct, kw_only=True):
    """The token and access token of a write (also accepted in the Authorization header)."""

    token: str | None = None
    """The public token, allowed for this API."""
    access_token: str | None = None
    """The access token shown once when the token was created."""


class EntryCreate(Credentials, kw_only=True):
    id: str
    """The new entry's id, e.g. ``movies/platform``."""
    data: dict[str, Any]
    """The entry's fields. Managed fields (id, slug, uuid, created_at, modified_at) are 422."""


class EntryUpdate(Credentials, kw_only=True):
    id: str
    """The entry to update."""
    data: dict[str, Any]
    """Fields to set; a shallow merge over the stored fields."""


class EntryMove(Credentials, kw_only=True):
    id: str
    """The entry to move or copy, with its children."""
    new_id: str
    """Where to; 409 if an entry is there, 400 if inside the entry's own subtree."""


class EntryDelete(Credentials, kw_only=True):
    id: str
    """The entry to delete, with its children."""


class NamedQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One query of ``POST /api/entries/query``: what ``GET /api/entries`` would take."""

    id: str | None = None
    """The entry; with ``options.collection`` truthy, the parent (absent: the root)."""
    options: dict[str, Any] = msgspec.field(default_factory=dict)
    """The collection options, as ``GET`` takes them (JSON keeps numbers and booleans)."""


class EntryQueries(msgspec.Struct, kw_only=True):
    """The body of ``POST /api/entries/query``: a read, so the token alone."""

    token: str | None = None
    """The public token, allowed for ``entries`` (or send it in the Authorization header)."""
    queries: dict[str, NamedQuery]
    """Named queries (1 to 50; names of 1-64 letters, digits, ``_`` or ``-``)."""


class TokenCreate(Credentials, kw_only=True):
    id: str | None = None
    """The new token's public id (16-64 of ``[A-Za-z0-9_-]``); generated if absent."""
    data: dict[str, Any] = msgspec.field(default_factory=dict)
    """title, apis, limit_calls, state, expires_at."""


class TokenUpdate(Credentials, kw_only=True):
    id: str
    """The token to change."""
    data: dict[str, Any]
    """Any of title, apis, limit_calls, state, expires_at."""


class TokenMove(Credentials, kw_only=True):
    id: str
    """The token to move or copy."""
    new_id: str
    """Its new public id."""


class TokenDelete(Credentials, kw_only=True):
    id: str
    """The token to delete."""


class WebhookCreate(Credentials, kw_only=True):
    data: dict[str, Any]
    """url, events (required); id_prefix, title, state."""


class WebhookUpdate(Credentials, kw_only=True):
    id: str
    """The webhook to change."""
    data: dict[str, Any]
    """Any of url, events, id_prefix, title, state."""


class WebhookDelete(Credentials, kw_only=True):
    id: str
    """The webhook to delete, with its delivery log."""


class WebhookReplay(Credentials, kw_only=True):
    id: str
    """The webhook whose deliveries restart."""
    since: str
    """A change cursor (a change's ``cursor``, ``meta.next`` of the feed), or ``now``."""


class HashCreate(Credentials, kw_only=True):
    string: str
    """The secret to hash with bcrypt."""


class HashVerify(Credentials, kw_only=True):
    string: str
    """The secret."""
    hash: str
    """A bcrypt hash (``$2y$``, ``$2b$`` or ``$2a$``)."""


def read(params: RequestParams, model: type[T]) -> T:
    """Check the request's parameters against ``model``; other parameters are ignored.

    Raises:
        BadRequest: a parameter is missing or has the wrong type.
        ValidationFailed: ``data`` is not an object.
    """
    values = params.values
    if values.get("data") == "":
        # A form cannot send an empty object; ``data=`` is the closest it gets.
        values = {**values, "data": {}}
    try:
        return msgspec.convert(values, model)
    except msgspec.ValidationError as exc:
        raise _translated(str(exc)) from exc


def read_part(value: Any, model: type[T], name: str) -> T:
    """Check one part of the parameters, ``name`` (``queries.recent``), against ``model``.

    Raises:
        BadRequest: it is not an object, or a field is missing or has the wrong type
            (the message names the parameter by its dot path).
    """
    try:
        return msgspec.convert(value, model)
    except msgspec.ValidationError as exc:
        raise _translated(str(exc), name) from exc


def _translated(message: str, part: str = "") -> BadRequest | ValidationFailed:
    missing = _MISSING.search(message)
    if missing is not None:
        return BadRequest(f"The parameter '{_joined(part, missing.group(1))}' is required.")
    located = _AT.match(message)
    if located is None:
        if part:
            return BadRequest(f"The parameter '{part}': {message}.")
        return BadRequest(f"Invalid parameters: {message}.")
    problem, path = located.groups()
    name = _joined(part, re.sub(r"\[(\d+)\]", r".\1", path)) or "(body)"
    if name.split(".")[0] == "data":
        return ValidationFailed(f"'data' must be an object: {problem}.", details=["data"])
    return BadRequest(f"The parameter '{name}': {problem}.")


class MediaMove(Credentials, kw_only=True):
    id: str
    """The file or folder to move or copy."""
    new_id: str
    """Where to; 409 if taken."""


class MediaDelete(Credentials, kw_only=True):
    id: str
    """The file or folder to delete (a folder with everything in it)."""


class FolderCreate(Credentials, kw_only=True):
    id: str
    """The new folder's id, e.g. ``movies/posters``."""


class MetaDelete(Credentials, kw_only=True):
    id: str
    """The file whose metadata changes."""
    field: str
    """The metadata field, e.g. ``title`` or a field of your own."""


class MetaWrite(MetaDelete, kw_only=True):
    value: Any
    """The value; required and not null, as in Flextype (DELETE removes a field)."""


def _joined(part: str, path: str) -> str:
    return f"{part}.{path}" if part and path else part or path


def meta_write(params: RequestParams) -> MetaWrite:
    """Read a metadata write: ``MetaWrite``, its ``value`` present and not null.

    Raises:
        BadRequest: as ``read``, or ``value`` is null.
    """
    body = read(params, MetaWrite)
    if body.value is None:
        raise BadRequest("The parameter 'value' is required (null is no value).")
    return body


class MediaUpload(Credentials, kw_only=True):
    """An upload, sent as ``multipart/form-data``: text fields and one file part."""

    file: bytes
    """The file; its part's file name, made safe, becomes the stored name."""
    folder: str = ""
    """The folder to upload into, created if missing; the root if absent."""
    replace: bool = False
    """Replace a file of the same name (fresh metadata); else a taken name is 409."""
