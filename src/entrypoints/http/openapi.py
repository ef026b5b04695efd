"""The OpenAPI document: Litestar's, completed with the parameter models the handlers read.

Handlers read their parameters through ``RequestParams`` (JSON, form or query, with
bracket keys), which Litestar cannot see; so the models of ``bodies.py`` are added to the
generated document as request bodies and query parameters, with the seed's examples.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Request
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    RedocRenderPlugin,
    SwaggerRenderPlugin,
)

from flextype_entrypoints.http import bodies

__all__ = ["render_plugins"]

_REF = "#/components/schemas/{name}"
_DONE = "x-flextype-documented"

_WRITE_MODELS: dict[str, type[msgspec.Struct]] = {
    "create_entry": bodies.EntryCreate,
    "update_entry": bodies.EntryUpdate,
    "move_entry": bodies.EntryMove,
    "copy_entry": bodies.EntryMove,
    "delete_entry": bodies.EntryDelete,
    "create_token": bodies.TokenCreate,
    "update_token": bodies.TokenUpdate,
    "move_token": bodies.TokenMove,
    "copy_token": bodies.TokenMove,
    "delete_token": bodies.TokenDelete,
    "generate_token": bodies.Credentials,
    "generate_hash": bodies.HashCreate,
    "generate_hash_alias": bodies.HashCreate,
    "verify_hash": bodies.HashVerify,
    "verify_hash_alias": bodies.HashVerify,
}

_PLATFORM = (
    "The Platform (Spanish: El hoyo, transl. The Hole) is a Spanish science fiction "
    "horror-thriller film, directed by Galder Gaztelu-Urrutia and released in 2019."
)
_EXAMPLES: dict[str, dict[str, Any]] = {
    "create_entry": {
        "id": "movies/platform",
        "token": "f3acf199a9ac120d3bfd604e1e382456",
        "access_token": "bbc4417d171e38099bd129aeca279018",
        "data": {"title": "Platform", "content": _PLATFORM},
    },
    "update_entry": {
        "id": "movies/platform",
        "token": "f3acf199a9ac120d3bfd604e1e382456",
        "access_token": "bbc4417d171e38099bd129aeca279018",
        "data": {"content": "A vertical prison with one cell per level."},
    },
    "move_entry": {
        "id": "movies/platform",
        "new_id": "movies/the-platform",
        "token": "f3acf199a9ac120d3bfd604e1e382456",
        "access_token": "bbc4417d171e38099bd129aeca279018",
    },
    "copy_entry": {
        "id": "movies/2019/the-platform",
        "new_id": "movies/horror/the-platform",
        "token": "f3acf199a9ac120d3bfd604e1e382456",
        "access_token": "bbc4417d171e38099bd129aeca279018",
    },
    "delete_entry": {
        "id": "movies/horror/the-platform",
        "token": "f3acf199a9ac120d3bfd604e1e382456",
        "access_token": "bbc4417d171e38099bd129aeca279018",
    },
    "create_token": {
        "token": "f3acf199a9ac120d3bfd604e1e382456",
        "access_token": "bbc4417d171e38099bd129aeca279018",
        "data": {"title": "Reader", "apis": ["entries", "registry"], "limit_calls": 1000},
    },
}

_ENTRY_EXAMPLE = {
    "title": "Platform",
    "uuid": "7e724722-da2f-410f-abd2-f44fbea1f6f0",
    "published_at": 1587118620,
    "created_at": 1587118620,
    "published_by": "",
    "created_by": "",
    "routable": True,
    "visibility": "visible",
    "content": _PLATFORM,
    "modified_at": 1587118658,
    "id": "movies/platform",
    "slug": "movies/platform",
}

_QUERY: dict[str, dict[str, Any]] = {
    "id": {"description": "The entry id, token id or registry dot path.", "example": "movies"},
    "token": {
        "description": "The token (or send `Authorization: Bearer <token>`).",
        "example": "6f047babd1894064fbf7662080a9a2f0",
    },
    "options": {
        "description": (
            "Collection options as bracket keys: `options[collection]=true`, "
            "`options[find][depth]=2`."
        ),
        "style": "deepObject",
        "explode": True,
        "schema": {"type": "object", "additionalProperties": True},
    },
}

_IMAGE_QUERY = {
    "w": "Width in pixels.",
    "h": "Height in pixels.",
    "fit": "contain, max, fill, stretch, crop or crop-<position>.",
    "fm": "Output format: jpg, pjpg, png, gif, webp.",
    "q": "Quality 0-100.",
    "s": "Signature: HMAC-SHA256 of '<path>?<sorted params>' (instead of a token).",
    "expires": "Unix time after which a signed URL is refused.",
}
_QUERY.update({name: {"description": text} for name, text in _IMAGE_QUERY.items()})

_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["success", "errors", "data", "message"],
    "properties": {
        "success": {"type": "boolean", "const": False},
        "errors": {"type": "array", "items": {"type": "string"}, "example": ["NotFound"]},
        "data": {"type": "null"},
        "message": {"type": "string", "example": "Entry 'movies/nope' was not found."},
        "details": {"type": "array", "items": {"type": "string"}},
    },
}
_ERRORS = {
    "400": "BadRequest: a missing or malformed parameter, an invalid id",
    "401": "AccessTokenInvalid: the token is missing, unknown, wrong or not allowed",
    "404": "NotFound",
    "409": "Conflict: the id is taken",
    "413": "PayloadTooLarge",
    "414": "URITooLong: the query string is over 32 KiB",
    "415": "UnsupportedMediaType: send JSON or a form",
    "422": "ValidationFailed: invalid data; `details` lists the fields",
    "429": "CallLimitExceeded: the token's limit_calls is used up",
}


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


def _handler_name(operation_id: str) -> str | None:
    for name in sorted(_WRITE_MODELS.keys() | {"fetch_entry", "fetch_token"}, key=len)[::-1]:
        if operation_id.endswith(_camel(name)):
            return name
    return None


def _document_operation(operation: dict[str, Any], method: str) -> None:
    name = _handler_name(operation.get("operationId", ""))
    if method == "get":
        tags = operation.get("tags", [])
        names = ["id", "token"] if "Registry" in tags else ["id", "token", "options"]
        if "Images" in tags:
            names = ["token", *_IMAGE_QUERY]
        in_path = [p for p in operation.get("parameters", []) if p.get("in") == "path"]
        operation["parameters"] = in_path + [
            {"name": n, "in": "query", "required": False, "schema": {"type": "string"}, **_QUERY[n]}
            for n in names
        ]
    elif name in _WRITE_MODELS:
        schema = {"$ref": _REF.format(name=_WRITE_MODELS[name].__name__)}
        media: dict[str, Any] = {"schema": schema}
        if name in _EXAMPLES:
            media["examples"] = {
                "seed": {"summary": "From the Flextype docs", "value": _EXAMPLES[name]}
            }
        form = {"schema": schema}
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": media, "application/x-www-form-urlencoded": form},
        }
    if name in ("create_entry", "update_entry", "move_entry", "copy_entry"):
        ok = operation["responses"].get("200", {}).get("content", {}).get("application/json")
        if ok is not None:
            ok["example"] = {"data": _ENTRY_EXAMPLE}
    _error_responses(operation)
    operation["security"] = [{"bearer": []}, {"basic": []}, {"tokenQuery": []}]


def _error_responses(operation: dict[str, Any]) -> None:
    """Every error status answers the one error shape (Litestar documents its own 400)."""
    error = {"application/json": {"schema": {"$ref": _REF.format(name="Error")}}}
    for status, text in _ERRORS.items():
        operation["responses"][status] = {"description": text, "content": error}


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """Complete Litestar's generated document in place (once) and return it."""
    if schema.get(_DONE):
        return schema
    _, models = msgspec.json.schema_components(
        sorted(set(_WRITE_MODELS.values()), key=lambda m: m.__name__), ref_template=_REF
    )
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {}).update({**models, "Error": _ERROR_SCHEMA})
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "The token, for reads."},
        "basic": {
            "type": "http",
            "scheme": "basic",
            "description": "base64(token:access_token), for writes.",
        },
        "tokenQuery": {"type": "apiKey", "in": "query", "name": "token"},
    }
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if not (isinstance(operation, dict) and "responses" in operation):
                continue
            if re.match(r"^/api(/v[01])?/", path):
                _document_operation(operation, method)
            else:
                _error_responses(operation)
    schema[_DONE] = True
    return schema


class _Json(JsonRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, document(openapi_schema))


class _Redoc(RedocRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, document(openapi_schema))


class _Swagger(SwaggerRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, document(openapi_schema))


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """Routes under ``/schema``: ``openapi.json``, ``redoc`` and ``swagger``."""
    return [_Json(), _Redoc(), _Swagger()]
