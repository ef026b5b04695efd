"""The OpenAPI document: Litestar's, completed from each route's ``ApiDoc`` and models.

Handlers read their parameters through ``RequestParams`` (JSON, form or query, with
bracket keys) and answer ``Response[Any]``, which Litestar cannot see through; so each
operation is completed here from the ``ApiDoc`` its decorator carries (``apidoc.py``):
the JSON body (the models of ``bodies.py``), the query and conditional headers, the
success answer (``openapi_schemas.py``) and exactly the errors it can answer.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin
from litestar.routes import HTTPRoute

import flextype_core
from flextype_entrypoints.http.apidoc import ApiDoc, doc_of
from flextype_entrypoints.http.docs_ui import SwaggerPage
from flextype_entrypoints.http.openapi_examples import ENTRY_EXAMPLE, REQUEST_EXAMPLES
from flextype_entrypoints.http.openapi_queries import (
    OPTIONS_DESCRIPTION,
    QUERIES_EXAMPLE,
    SEARCH_PAGE_EXAMPLE,
)
from flextype_entrypoints.http.openapi_schemas import ANSWERS, components, ref

__all__ = ["DESCRIPTION", "SCHEMA_PATH", "document", "openapi_config"]

SCHEMA_PATH = "/schema"
_DONE = "x-flextype-documented"

DESCRIPTION = """\
A headless flat-file CMS: the Flextype REST API in Python. Its API families, each served
identically under `/api`, `/api/v0` and `/api/v1`:

- **Entries** (`/api/entries`): content as a tree of entries, with collection queries:
  where clauses and `or`/`and`/`not` groups, full-text search (`options[search]`),
  cursor pages (`meta.next`, `Link`, `options[filter][after]`), and several named
  queries in one JSON body (`POST /api/entries/query`).
- **Registry** (`/api/registry`): the manifest and the settings, by dot path.
- **Tokens** (`/api/tokens`): the tokens that open the API, and bcrypt helpers.
- **Media files** (`/api/media/files`): uploads and their metadata; the files themselves
  are public at `/media/{path}`.
- **Media folders** (`/api/media/folders`): the folders of the media.
- **Images** (`/api/images/{path}`): media images transformed by Glide parameters.
- **Changes** (`/api/changes`): everything that changed, in commit order, to follow by
  cursor, long poll or server-sent events; collection answers carry `X-Changes-Cursor`.
- **Webhooks** (`/api/webhooks`): the change feed pushed to other systems, signed
  (Standard Webhooks), retried, with a delivery log and replays.

**Tokens.** Every API call needs a token allowed for its family; writes also need the
token's access token. Send them as `Authorization: Basic base64(token:access_token)`,
`Authorization: Bearer <token>` (reads), `token`/`access_token` parameters in the query
or the body.

**Bodies.** Writes take JSON, or the same parameters as a form
(`application/x-www-form-urlencoded`, with bracket keys: `data[title]=Platform`), or in
the query string; uploads are `multipart/form-data`.

**Caching and concurrency.** Reads answer a strong `ETag` and `304` to `If-None-Match`;
writes honour `If-Match` (`412` when stale) and answer the new `ETag`.

**Errors** are JSON in one shape: `{"success": false, "errors": [code], "data": null,
"message": "..."}`. `HEAD` is answered wherever `GET` is, with the same headers.
`GET /health` tells whether the storage answers.

**Limits.** A body over `api.max_body_size`, an entry over `api.max_entry_size` (its
fields as JSON) or an upload over `media.max_file_size` is `413`. Before any route, the
server bounds each connection: a request head over `server.max_header_size` is `431`
(`414` when the URL is most of it), and a head that takes over `server.header_timeout`
or a body that sends nothing for `server.body_timeout` is `408`; the connection is then
closed. Operations do not list these two.
"""

_FORM_NOTE = (
    "\n\nThe parameters may also come as a form (`application/x-www-form-urlencoded`, "
    "bracket keys such as `data[title]=Platform`) or in the query string."
)

_QUERY: dict[str, dict[str, Any]] = {
    "id": {
        "description": "The entry, token, file, folder or webhook id, or the registry dot "
        "path (on `/api/changes`: only changes at or below this id).",
        "schema": {"type": "string"},
        "example": "movies",
    },
    "since": {
        "description": "A change cursor (`meta.next`, `X-Changes-Cursor`): the changes "
        "after it. Absent: from the oldest kept; `now`: only changes from now on.",
        "schema": {"type": "string"},
    },
    "limit": {
        "description": "Changes per page.",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    },
    "wait": {
        "description": "Seconds to hold the request when nothing is newer than `since` "
        "(long poll); decimals allowed.",
        "schema": {"type": "number", "minimum": 0, "maximum": 60, "default": 0},
    },
    "types": {
        "description": "`entry`, `media` or `entry,media` (the default).",
        "schema": {"type": "string"},
        "example": "entry",
    },
    "token": {
        "description": "The token (or send it in the Authorization header).",
        "schema": {"type": "string"},
    },
    "options": {
        "description": OPTIONS_DESCRIPTION,
        "style": "deepObject",
        "explode": True,
        "schema": ref("CollectionOptions"),
    },
}
_IMAGE_QUERY = {
    "w": "Width in pixels.",
    "h": "Height in pixels.",
    "fit": "contain, max, fill, fill-max, stretch, crop, crop-<position> or crop-X-Y[-Z].",
    "crop": "A crop rectangle: width,height,x,y.",
    "dpr": "Device pixel ratio, 1-8.",
    "or": "Orientation: auto, 0, 90, 180, 270.",
    "flip": "v, h or both.",
    "bri": "Brightness, -100 to 100.",
    "con": "Contrast, -100 to 100.",
    "gam": "Gamma, 0.1 to 9.99.",
    "sharp": "Sharpen, 0-100.",
    "blur": "Blur, 0-100.",
    "pixel": "Pixelate, 0-1000.",
    "filt": "greyscale or sepia.",
    "bg": "Background colour: a name or hex.",
    "border": "width,colour,method (overlay, shrink, expand).",
    "q": "Quality 0-100.",
    "fm": "Output format: jpg, pjpg, png, gif, webp.",
    "s": "Signature: HMAC-SHA256 of '<path>?<sorted params>' (instead of a token).",
    "expires": "Unix time after which a signed URL is refused.",
}
_HEADERS = {
    "If-Match": "Write only if the resource's current ETag is one of these (else 412).",
    "If-None-Match": "On a read: 304 if the current ETag is one of these.",
}
_CREATE_IF_ABSENT = "`*`: create only if nothing is there (else 412), never replace."
_ERRORS = {
    400: "BadRequest: a missing or malformed parameter, an invalid id",
    401: "AccessTokenInvalid: the token is missing, unknown, wrong or not allowed",
    404: "NotFound",
    409: "Conflict: the id is taken",
    412: "PreconditionFailed: If-Match does not name the current ETag "
    "(or If-None-Match: * found something)",
    413: "PayloadTooLarge: the body (api.max_body_size), the entry (api.max_entry_size) "
    "or the uploaded file (media.max_file_size) is over its limit",
    414: "URITooLong: the query string is over 32 KiB, or the URL is most of a request "
    "head over server.max_header_size",
    410: "ResyncRequired: the cursor is older than `changes.retention_days` or of another "
    "change log (a collection walk: more than 1,000 entries changed since its first "
    "page): list the collection again (start the walk again), then follow from `now`",
    415: "UnsupportedMediaType: a body type (or file type) that is not accepted",
    422: "ValidationFailed: invalid data; `details` lists the fields",
    429: "CallLimitExceeded: the token's limit_calls is used up",
    503: "ServiceUnavailable: try again after Retry-After seconds",
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
_ETAG = {
    "ETag": {"description": "The strong entity tag of the answer.", "schema": {"type": "string"}}
}
_CHANGES_CURSOR = {
    "X-Changes-Cursor": {
        "description": "On collections: the change feed's position this answer reflects; "
        "follow `/api/changes?since=` it to miss nothing after.",
        "schema": {"type": "string"},
    }
}
_LINK = {
    "Link": {
        "description": 'On a collection cut by `limit`: `<URL of the next page>; rel="next"` '
        "(the same query with `options[filter][after]` = `meta.next`); absent on the last "
        "page.",
        "schema": {"type": "string"},
    }
}
_EVENTS = {
    "schema": {
        "type": "string",
        "description": "With `Accept: text/event-stream`: one event per change (`id:` its "
        "cursor, `data:` the change as JSON), a comment line every 15 s of silence.",
        "example": 'id: k3x9-42\ndata: {"cursor":"k3x9-42","op":"update",...}\n\n',
    }
}
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_SECURITY: list[dict[str, list[str]]] = [{"basic": []}, {"bearer": []}, {"tokenQuery": []}]
_SECURITY_SCHEMES = {
    "basic": {
        "type": "http",
        "scheme": "basic",
        "description": "base64(token:access_token): reads and writes.",
    },
    "bearer": {"type": "http", "scheme": "bearer", "description": "The token: reads."},
    "tokenQuery": {"type": "apiKey", "in": "query", "name": "token"},
}


def _header(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


def _parameters(operation: dict[str, Any], doc: ApiDoc, *, api: bool, read: bool) -> None:
    params = [p for p in operation.get("parameters", []) if p.get("in") == "path"]
    names = list(doc.query) + (["token"] if api and read else [])
    params += [{"name": n, "in": "query", "required": False, **_QUERY[n]} for n in names]
    if doc.image_query:
        params += [
            {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
            | {"description": text}
            for n, text in _IMAGE_QUERY.items()
        ]
    if read and doc.etag:
        params.append(_header("If-None-Match", _HEADERS["If-None-Match"]))
    if doc.if_none_match:
        params.append(_header("If-None-Match", _CREATE_IF_ABSENT))
    if doc.if_match:
        params.append(_header("If-Match", _HEADERS["If-Match"]))
    if doc.event_stream:
        params.append(_header("Accept", "`text/event-stream`: server-sent events."))
        params.append(_header("Last-Event-ID", "With events: resume after this cursor."))
    operation["parameters"] = params


def _request_body(operation: dict[str, Any], doc: ApiDoc, name: str) -> None:
    if doc.body is None:
        return
    model = doc.body.__name__
    required = any(field.required for field in msgspec.structs.fields(doc.body))
    if doc.multipart:
        content = {"multipart/form-data": {"schema": ref(model)}}
    else:
        media: dict[str, Any] = {"schema": ref(model)}
        if name in REQUEST_EXAMPLES:
            media["examples"] = {
                "seed": {"summary": "From the Flextype docs", "value": REQUEST_EXAMPLES[name]}
            }
        elif name == "query_entries":
            media["examples"] = {
                "demo": {"summary": "Two collections and an entry", "value": QUERIES_EXAMPLE}
            }
        content = {"application/json": media}
        operation["description"] = operation.get("description", "") + _FORM_NOTE
    operation["requestBody"] = {"required": required, "content": content}


def _success(operation: dict[str, Any], doc: ApiDoc, *, read: bool) -> None:
    responses = operation["responses"]
    if doc.answer is not None:
        for status in [s for s in responses if s.startswith("2")]:
            del responses[status]
        content: dict[str, dict[str, Any]]
        if doc.answer == "Image":
            content = {t: _BINARY for t in _IMAGE_TYPES}
        elif doc.answer == "File":
            content = {"application/octet-stream": _BINARY, "*/*": _BINARY}
        else:
            content = {"application/json": {"schema": ANSWERS[doc.answer]}}
        ok: dict[str, Any] = {"description": "OK", "content": content}
        if doc.answer == "Entry":
            content["application/json"]["example"] = {"data": ENTRY_EXAMPLE}
        if doc.answer == "Entries":
            content["application/json"]["examples"] = {
                "entry": {"summary": "One entry", "value": {"data": ENTRY_EXAMPLE}},
                "search": {
                    "summary": "A search page with _score, _highlight and meta.next",
                    "value": SEARCH_PAGE_EXAMPLE,
                },
            }
        if doc.event_stream:
            content["text/event-stream"] = _EVENTS
        responses["200"] = ok
    if doc.etag:
        for status in [s for s in responses if s.startswith("2")]:
            headers = _ETAG | (_CHANGES_CURSOR if doc.changes_cursor else {})
            if doc.answer == "Entries":  # cursor pages of collections of entries
                headers = headers | _LINK
            responses[status]["headers"] = headers
        if read:
            responses["304"] = {
                "description": "Not Modified: If-None-Match names the current ETag; no body.",
                "headers": _ETAG,
            }


def _errors(operation: dict[str, Any], doc: ApiDoc, *, api: bool, reads_request: bool) -> None:
    responses = operation["responses"]
    for status in [s for s in responses if s.startswith(("4", "5"))]:
        del responses[status]
    statuses = set(doc.errors)
    if reads_request:
        statuses |= {400, 413, 414, 415}
    if api:
        statuses |= {401, 429}
    if doc.if_match or doc.if_none_match:
        statuses.add(412)
    error = {"application/json": {"schema": ref("Error")}}
    for status in sorted(statuses):
        response: dict[str, Any] = {"description": _ERRORS[status], "content": error}
        if status in (429, 503):
            response["headers"] = _RETRY_AFTER
        responses[str(status)] = response


def _complete(operation: dict[str, Any], path: str, handler: HTTPRouteHandler) -> None:
    doc = doc_of(handler.opt) or ApiDoc()
    api = path.startswith("/api/")
    read = "GET" in handler.http_methods or doc.read_only
    reads_request = "call" in handler.parsed_fn_signature.parameters
    if reads_request or doc.query or doc.image_query:
        _parameters(operation, doc, api=api, read=read)
    _request_body(operation, doc, handler.handler_name)
    _success(operation, doc, read=read)
    _errors(operation, doc, api=api, reads_request=reads_request)
    if api:
        operation["security"] = _SECURITY


def document(schema: dict[str, Any], app: Litestar) -> dict[str, Any]:
    """Complete Litestar's generated document in place (once) and return it."""
    if schema.get(_DONE):
        return schema
    found = schema.setdefault("components", {})
    found.setdefault("schemas", {}).update(components())
    found["schemas"].pop("Data", None)  # Litestar's view of the handlers' Response[Data]
    found["securitySchemes"] = _SECURITY_SCHEMES
    paths = schema.get("paths", {})
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path_format not in paths:
            continue
        for method, (handler, _) in route.route_handler_map.items():
            operation = paths[route.path_format].get(method.lower())
            if isinstance(operation, dict) and "responses" in operation:
                _complete(operation, route.path_format, handler)
    schema[_DONE] = True
    return schema


class _Json(JsonRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, document(openapi_schema, request.app))


def openapi_config() -> OpenAPIConfig:
    """``/schema/openapi.json`` (also at ``/schema``) and Swagger UI at ``/schema/swagger``."""
    plugins: list[OpenAPIRenderPlugin] = [_Json(), SwaggerPage(SCHEMA_PATH, document)]
    return OpenAPIConfig(
        title="flextype-py",
        version=flextype_core.__version__,
        description=DESCRIPTION,
        path=SCHEMA_PATH,
        render_plugins=plugins,
        use_handler_docstrings=True,
    )
