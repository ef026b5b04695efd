"""What a request carries: query, JSON or form body, and credentials, read one way for all."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from itertools import compress
from typing import Any

import msgspec
from anyio import to_thread
from litestar import Request
from litestar.exceptions import InternalServerException

from flextype_core.errors import BadRequest, QueryTooLong, UnsupportedMediaType
from flextype_entrypoints.http.brackets import parse_brackets
from flextype_entrypoints.http.errors import ClientDisconnected

__all__ = [
    "INLINE_BODY_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_QUERY_BYTES",
    "RequestParams",
    "is_truthy",
    "query_values",
    "read_body",
    "read_params",
    "sends_body",
    "with_credentials",
]

MAX_QUERY_BYTES = 32 * 1024
"""The longest query string read; uvicorn refuses lines much longer in plain text itself."""
MAX_JSON_DEPTH = 64
"""Deepest nesting of maps and lists accepted in a JSON body (stored entries are YAML)."""
INLINE_BODY_BYTES = 64 * 1024
"""Bodies up to this size are decoded on the event loop; larger ones in a worker thread,
where checking a big body (a million list items) does not hold up other requests."""

_TRUE = frozenset({"1", "true", "on", "yes"})
_FORM = "application/x-www-form-urlencoded"
_JSON_DECODER = msgspec.json.Decoder()
_CONTAINERS = frozenset({dict, list})


class RequestParams(msgspec.Struct, frozen=True, kw_only=True):
    """The request's parameters, merged: body fields win over query fields of one name."""

    values: dict[str, Any]
    """Nested data from the query string and the body (bracket keys already nested)."""
    token: str | None
    """The public token, from the body, the query, or the Authorization header."""
    access_token: str | None
    """The access token, from the body, the query, or Basic authorization."""

    def text(self, name: str, *, required: bool = True) -> Any:
        """Return the parameter ``name`` as given (None if absent and not required).

        Raises:
            BadRequest: it is required and absent.
        """
        value = self.values.get(name)
        if value is None and required:
            raise BadRequest(f"The parameter '{name}' is required.")
        return value

    def with_fields(self, fields: dict[str, str]) -> RequestParams:
        """Return these parameters with a multipart form's text fields added (they win)."""
        values = {**self.values, **fields}
        return RequestParams(
            values=values,
            token=_credential(fields.get("token")) or self.token,
            access_token=_credential(fields.get("access_token")) or self.access_token,
        )

    def options(self) -> dict[str, Any]:
        """Return ``options`` as a mapping (empty if absent).

        Raises:
            BadRequest: ``options`` is not an object.
        """
        options = self.values.get("options", {})
        if options == "":
            return {}
        if not isinstance(options, dict):
            raise BadRequest("The parameter 'options' must be an object.")
        return options


def is_truthy(value: Any) -> bool:
    """Read a flag as Flextype does: ``1``, ``true``, ``on``, ``yes`` (or JSON true)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in _TRUE


async def read_params(request: Request[Any, Any, Any]) -> RequestParams:
    """Read the query string, the body (JSON or form) and the Authorization header.

    Raises:
        BadRequest: malformed JSON, a JSON body that is not an object, bad brackets.
        QueryTooLong: a query string over ``MAX_QUERY_BYTES``.
        UnsupportedMediaType: a body of another type.
    """
    query: bytes = request.scope.get("query_string", b"")
    values = query_values(query)
    headers = request.headers
    # Most reads carry no body; not awaiting one spares a trip through the ASGI receive.
    content_type = headers.get("content-type", "")
    # A multipart body is an upload: its handler streams it (uploads.py), never whole.
    has_body = "content-length" in headers or "transfer-encoding" in headers
    if has_body and not content_type.lower().startswith("multipart/form-data"):
        body = await read_body(request)
        if len(body) > INLINE_BODY_BYTES:
            values.update(await to_thread.run_sync(_body_values, content_type, body))
        elif body.strip():
            values.update(_body_values(content_type, body))
    return with_credentials(values, headers.get("authorization"))


def sends_body(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether an ASGI request's raw headers announce a body (a length above 0, or chunks)."""
    for name, value in headers:
        if (name == b"content-length" and value != b"0") or name == b"transfer-encoding":
            return True
    return False


def query_values(query: bytes) -> dict[str, Any]:
    """The parameters of a query string (bracket names nested).

    Raises:
        BadRequest: bad brackets.
        QueryTooLong: a query string over ``MAX_QUERY_BYTES``.
    """
    if len(query) > MAX_QUERY_BYTES:
        raise QueryTooLong(
            f"The query string is {len(query)} bytes; at most {MAX_QUERY_BYTES} are read. "
            "Send long parameters in a JSON body."
        )
    return parse_brackets(query)


def with_credentials(values: dict[str, Any], authorization: str | None) -> RequestParams:
    """The request's parameters: ``values``, and the credentials from them or the header."""
    token, access_token = _authorization(authorization)
    return RequestParams(
        values=values,
        token=_credential(values.get("token")) or token,
        access_token=_credential(values.get("access_token")) or access_token,
    )


async def read_body(request: Request[Any, Any, Any]) -> bytes:
    """Return the whole request body.

    Raises:
        ClientDisconnected: the client went away before sending all of it.
        HTTPException: 413 past ``api.max_body_size`` (Litestar's own).
    """
    try:
        return await request.body()
    except InternalServerException as exc:
        # Litestar's one 500 from reading a body: the disconnect message of the server.
        raise ClientDisconnected from exc


def _body_values(content_type: str, body: bytes) -> dict[str, Any]:
    media_type = content_type.split(";", 1)[0].strip().lower()
    # curl -d sends a form type, and fetch() text/plain, unless told otherwise; read as
    # they say, such JSON would be a missing 'id': say which header is missing instead.
    looks_like_json = body.lstrip()[:1] in (b"{", b"[")
    if media_type == _FORM:
        if looks_like_json:
            raise BadRequest(_json_hint(media_type))
        return parse_brackets(body)
    if media_type in ("application/json", "") or media_type.endswith("+json"):
        try:
            decoded = _JSON_DECODER.decode(body)
        except msgspec.DecodeError as exc:
            form = media_type == "" and not looks_like_json and b"=" in body
            hint = f"; it looks like a form: add the header 'Content-Type: {_FORM}'" if form else ""
            raise BadRequest(f"The body is not valid JSON: {exc}{hint}.") from exc
        except RecursionError as exc:
            raise _too_deep() from exc
        if not isinstance(decoded, dict):
            raise BadRequest("The JSON body must be an object.")
        if _depth(decoded) > MAX_JSON_DEPTH:
            raise _too_deep()
        return decoded
    if looks_like_json:
        raise UnsupportedMediaType(_json_hint(media_type))
    raise UnsupportedMediaType(
        f"Bodies of type '{media_type[:60]}' are not accepted; send JSON or a form."
    )


def _json_hint(media_type: str) -> str:
    return (
        f"The body looks like JSON but was sent as {media_type[:60]}:"
        " add the header 'Content-Type: application/json'."
    )


def _too_deep() -> BadRequest:
    return BadRequest(f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels.")


def _depth(value: Any) -> int:
    """How deep maps and lists nest in ``value``, counted up to one past the limit.

    Level by level, without recursion (input is hostile). The decoder makes plain dicts
    and lists, so their exact types pick the containers for the next level, in C loops:
    a flat list of a million numbers takes a tenth of what a Python loop would.
    """
    level, nodes = 0, [value] if type(value) in _CONTAINERS else []
    while nodes and level <= MAX_JSON_DEPTH:
        level += 1
        below: list[Any] = []
        for node in nodes:
            children = list(node.values()) if type(node) is dict else node
            below += compress(children, map(_CONTAINERS.__contains__, map(type, children)))
        nodes = below
    return level


def _credential(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _authorization(header: str | None) -> tuple[str | None, str | None]:
    """Read ``Bearer T``, a bare ``T``, or ``Basic base64(T:A)``."""
    if not header:
        return None, None
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None, None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(rest.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise BadRequest("The Basic authorization header is not valid base64.") from exc
        token, _, access_token = decoded.partition(":")
        return token or None, access_token or None
    return (scheme or None) if not rest else None, None
