"""The schemas of the OpenAPI document that Litestar cannot infer: answers, bodies, options.

Models the handlers use (the request bodies, ``PageMeta``, ``Token``, the small answers
of ``responses.py``) are turned into schemas by msgspec, so the document follows them;
entries and media metadata are open mappings, described here by hand.
"""

from __future__ import annotations

from typing import Any

import msgspec

from flextype_core import PageMeta, Token
from flextype_core.entries import VISIBILITIES
from flextype_core.webhook_port import EVENTS, Delivery, Webhook
from flextype_core.webhooks import MAX_TITLE_LENGTH, MAX_URL_LENGTH, CreatedWebhook
from flextype_entrypoints.http import bodies, responses
from flextype_entrypoints.http.apidoc import Answer
from flextype_entrypoints.http.openapi_queries import ENTRY_EXTRAS, query_schemas

__all__ = ["ANSWERS", "REF", "components", "ref"]

REF = "#/components/schemas/{name}"

_MODELS: tuple[type[msgspec.Struct], ...] = (
    bodies.Credentials,
    bodies.EntryCreate,
    bodies.EntryUpdate,
    bodies.EntryMove,
    bodies.EntryDelete,
    bodies.TokenCreate,
    bodies.TokenUpdate,
    bodies.TokenMove,
    bodies.TokenDelete,
    bodies.HashCreate,
    bodies.HashVerify,
    bodies.MediaMove,
    bodies.MediaDelete,
    bodies.MediaUpload,
    bodies.FolderCreate,
    bodies.MetaWrite,
    bodies.MetaDelete,
    bodies.WebhookCreate,
    bodies.WebhookUpdate,
    bodies.WebhookDelete,
    bodies.WebhookReplay,
    bodies.EntryQueries,
    PageMeta,
    Token,
    Webhook,
    CreatedWebhook,
    Delivery,
    responses.RegistryItem,
    responses.GeneratedToken,
    responses.GeneratedHash,
    responses.HashVerified,
    responses.ChangesPage,
)


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(name=name)}


def _data(name: str, description: str, *, meta: bool = False) -> dict[str, Any]:
    """A success body ``{"data": <name>}`` (with ``meta`` on collections)."""
    schema: dict[str, Any] = {
        "type": "object",
        "description": description,
        "required": ["data", "meta"] if meta else ["data"],
        "properties": {"data": ref(name)},
    }
    if meta:
        schema["properties"]["meta"] = ref("PageMeta")
    return schema


def _listed(name: str, description: str, *, meta: bool) -> dict[str, Any]:
    """A collection body: a list, or one item or null (``return``), or groups (``group_by``)."""
    schema = _data(name, description, meta=meta)
    schema["properties"]["data"] = {
        "anyOf": [
            {"type": "array", "items": ref(name)},
            ref(name),
            {"type": "null"},
            {
                "type": "object",
                "description": "options[filter][group_by]: group value -> items.",
                "additionalProperties": {"type": "array", "items": ref(name)},
            },
        ]
        if meta
        else [{"type": "array", "items": ref(name)}]
    }
    return schema


_ENTRY: dict[str, Any] = {
    "type": "object",
    "description": (
        "An entry: its stored fields with `id` and `slug` (both the full id). Fields of "
        "your own sit beside these; `id`, `slug`, `uuid`, `created_at` and `modified_at` "
        "are managed by the server."
    ),
    "required": ["id"],
    "properties": {
        "id": {"type": "string", "example": "movies/platform"},
        "slug": {"type": "string", "example": "movies/platform"},
        "uuid": {"type": "string", "description": "A UUID v4, new for a created or copied entry."},
        "created_at": {"type": "integer", "description": "Unix time."},
        "modified_at": {"type": "integer", "description": "Unix time."},
        "published_at": {"type": "integer", "description": "Unix time; default: creation."},
        "published_by": {"type": "string"},
        "created_by": {"type": "string"},
        "routable": {"type": "boolean"},
        "visibility": {"type": "string", "description": "One of: " + ", ".join(VISIBILITIES)},
        **ENTRY_EXTRAS,
    },
}
_ENTRY_FIELDS: dict[str, Any] = {
    "type": "object",
    "description": (
        "Fields to write: any of your own, and these with their types. `id`, `slug`, "
        "`uuid`, `created_at` and `modified_at` are managed: writing one is 422."
    ),
    "properties": {
        "title": {"type": "string", "example": "Platform"},
        "published_at": {"type": "integer", "description": "Unix time."},
        "published_by": {"type": "string"},
        "created_by": {"type": "string"},
        "routable": {"type": "boolean"},
        "visibility": {"type": "string", "enum": list(VISIBILITIES)},
    },
}
_MEDIA_FILE: dict[str, Any] = {
    "type": "object",
    "description": "A media file's metadata; fields of your own sit beside these.",
    "required": ["id", "url"],
    "properties": {
        "id": {"type": "string", "example": "movies/posters/dune.jpg"},
        "url": {"type": "string", "description": "Where `GET` serves the file (no token)."},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "type": {"type": "string", "description": "The MIME type."},
        "filesize": {"type": "integer"},
        "uploaded_on": {"type": "integer", "description": "Unix time."},
        "width": {"type": "integer", "description": "Images only."},
        "height": {"type": "integer", "description": "Images only."},
    },
}
_FOLDER: dict[str, Any] = {
    "type": "object",
    "required": ["id", "url"],
    "properties": {
        "id": {"type": "string", "description": '`""` is the root.', "example": "movies"},
        "url": {"type": "string"},
    },
}
_ERROR: dict[str, Any] = {
    "type": "object",
    "description": "Every error, with its status.",
    "required": ["success", "errors", "data", "message"],
    "properties": {
        "success": {"type": "boolean", "const": False},
        "errors": {"type": "array", "items": {"type": "string"}, "example": ["NotFound"]},
        "data": {"type": "null"},
        "message": {"type": "string", "example": "Entry 'movies/nope' was not found."},
        "details": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The fields or parameters at fault.",
        },
    },
}


_WEBHOOK_FIELDS: dict[str, Any] = {
    "type": "object",
    "description": "A webhook's writable fields; `url` and `events` are required at create.",
    "properties": {
        "url": {
            "type": "string",
            "maxLength": MAX_URL_LENGTH,
            "description": "http or https, with a host and no user name or password. Its "
            "host must resolve to public addresses only, unless "
            "webhooks.allow_private_networks is true.",
            "example": "https://build.example.com/hooks/cms",
        },
        "events": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "enum": [*EVENTS, "*"]},
            "description": 'The events sent, or `["*"]` for all of them.',
            "example": ["entry.created", "entry.updated", "entry.deleted"],
        },
        "id_prefix": {
            "type": ["string", "null"],
            "description": "Only changes of this id or below it (an entry, folder or file id).",
            "example": "movies",
        },
        "title": {"type": "string", "maxLength": MAX_TITLE_LENGTH},
        "state": {
            "type": "string",
            "enum": ["enabled", "disabled"],
            "description": "`failing` is set by the delivery; set `enabled` to resume.",
        },
    },
}

ANSWERS: dict[Answer, dict[str, Any]] = {
    "Entry": ref("EntryData"),
    "Entries": {"anyOf": [ref("EntryCollection"), ref("EntryData"), ref("AnyData")]},
    "RegistryItem": ref("RegistryItemData"),
    "Token": ref("TokenData"),
    "Tokens": {"anyOf": [ref("TokenList"), ref("TokenData")]},
    "CreatedToken": ref("CreatedTokenData"),
    "GeneratedToken": ref("GeneratedTokenData"),
    "GeneratedHash": ref("GeneratedHashData"),
    "HashVerified": ref("HashVerifiedData"),
    "MediaFile": ref("MediaFileData"),
    "MediaFiles": {"anyOf": [ref("MediaFileCollection"), ref("MediaFileData")]},
    "Folder": ref("FolderData"),
    "Folders": {"anyOf": [ref("FolderList"), ref("FolderData")]},
    "Webhook": ref("WebhookData"),
    "Webhooks": {"anyOf": [ref("WebhookList"), ref("WebhookData")]},
    "CreatedWebhook": ref("CreatedWebhookData"),
    "Deliveries": ref("DeliveryList"),
    "Changes": ref("ChangesPage"),
    "Queries": ref("QueriesAnswer"),
}
"""The JSON answers; ``Image`` and ``File`` are bytes (``openapi.py``)."""


def _token_views(models: dict[str, Any]) -> None:
    token = models["Token"]
    token["properties"].pop("hashed_access_token")
    token["required"] = [r for r in token["required"] if r != "hashed_access_token"]
    token["description"] = "A token, as the API shows it: never its access token or hash."
    created = {**token, "required": [*token["required"], "access_token"]}
    created["properties"] = {
        **token["properties"],
        "access_token": {"type": "string", "description": "Shown in this answer only."},
    }
    created["description"] = "A new token, with its access token (shown once)."
    created["title"] = "CreatedToken"
    models["CreatedToken"] = created


def _bodies(models: dict[str, Any]) -> None:
    for name in ("EntryCreate", "EntryUpdate"):
        models[name]["properties"]["data"] = ref("EntryFields")
    upload = models["MediaUpload"]["properties"]
    upload["file"] = {"type": "string", "format": "binary", "description": "The file."}
    for name in ("WebhookCreate", "WebhookUpdate"):
        models[name]["properties"]["data"] = ref("WebhookFields")


def components() -> dict[str, Any]:
    """Every schema the completed document refers to, by name."""
    _, models = msgspec.json.schema_components(_MODELS, ref_template=REF)
    _token_views(models)
    _bodies(models)
    query_schemas(models)
    models.update(
        Error=_ERROR,
        Entry=_ENTRY,
        EntryFields=_ENTRY_FIELDS,
        MediaFile=_MEDIA_FILE,
        Folder=_FOLDER,
        AnyData={"type": "object", "required": ["data"], "properties": {"data": {}}},
        EntryData=_data("Entry", "One entry."),
        EntryCollection=_listed("Entry", "A collection of entries.", meta=True),
        RegistryItemData=_data("RegistryItem", "A registry item."),
        TokenData=_data("Token", "One token."),
        TokenList=_listed("Token", "Every token.", meta=False),
        CreatedTokenData=_data("CreatedToken", "A new token and its access token."),
        GeneratedTokenData=_data("GeneratedToken", "A random token (not stored)."),
        GeneratedHashData=_data("GeneratedHash", "A bcrypt hash."),
        HashVerifiedData=_data("HashVerified", "Whether the string matches the hash."),
        MediaFileData=_data("MediaFile", "One file's metadata."),
        MediaFileCollection=_listed("MediaFile", "The files of a folder.", meta=True),
        FolderData=_data("Folder", "One folder."),
        FolderList=_listed("Folder", "The folders in a folder.", meta=False),
        WebhookFields=_WEBHOOK_FIELDS,
        WebhookData=_data("Webhook", "One webhook (never its secret)."),
        WebhookList={
            "type": "object",
            "description": "Every webhook, oldest first.",
            "required": ["data", "meta"],
            "properties": {
                "data": {"type": "array", "items": ref("Webhook")},
                "meta": ref("PageMeta"),
            },
        },
        CreatedWebhookData=_data("CreatedWebhook", "A new webhook and its secret."),
        DeliveryList=_listed("Delivery", "The last 100 attempts, newest first.", meta=False),
    )
    return models
