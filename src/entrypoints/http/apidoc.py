"""What a route's decorator tells the OpenAPI document beyond what Litestar sees of it.

Handlers read their parameters through ``RequestParams`` (JSON, form or query, with
bracket keys) and answer ``Response[Any]``, which Litestar cannot describe. Each route
decorator therefore carries an ``ApiDoc`` (``@get(..., doc=ApiDoc(...))``; Litestar
keeps it in the handler's ``opt``), and ``openapi.py`` completes the document from it.
Descriptions come from the handlers' docstrings.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["Answer", "ApiDoc", "QueryName", "doc_of"]

Answer = Literal[
    "Entry",
    "Entries",
    "RegistryItem",
    "Token",
    "Tokens",
    "CreatedToken",
    "GeneratedToken",
    "GeneratedHash",
    "HashVerified",
    "MediaFile",
    "MediaFiles",
    "Folder",
    "Folders",
    "Image",
    "File",
    "Webhook",
    "Webhooks",
    "CreatedWebhook",
    "Deliveries",
    "Changes",
    "Queries",
]
"""The success answers ``openapi_schemas.ANSWERS`` describes."""

QueryName = Literal["id", "options", "since", "limit", "wait", "types"]
"""Query parameters a read documents (``token`` is added to every API operation)."""


class ApiDoc(msgspec.Struct, frozen=True, kw_only=True):
    """The parts of an operation's documentation that its signature cannot give."""

    body: type[msgspec.Struct] | None = None
    """The model of the parameters a write reads (JSON body; a form is accepted too)."""
    multipart: bool = False
    """The body is ``multipart/form-data`` (an upload); ``bytes`` fields are files."""
    query: tuple[QueryName, ...] = ()
    """Query parameters a read takes."""
    image_query: bool = False
    """The read takes the Images API's Glide parameters and signature."""
    answer: Answer | None = None
    """The success answer (200); None: no content (204)."""
    errors: tuple[int, ...] = ()
    """Statuses beyond those every call may answer (400, 413, 414, 415, and 401 and 429
    under ``/api``) and those the flags below give (304, 412)."""
    etag: bool = False
    """The answer carries an ``ETag``; on a read, ``If-None-Match`` naming it is 304."""
    if_match: bool = False
    """The write honours ``If-Match`` (412 when the current ETag differs)."""
    if_none_match: bool = False
    """The write honours ``If-None-Match: *``: create only if absent (412 otherwise)."""
    read_only: bool = False
    """A POST that only reads (its query is a body): documented as a read, with the
    token alone and ``If-None-Match`` (304)."""
    changes_cursor: bool = False
    """A collection answer carries ``X-Changes-Cursor`` (the change feed's position)."""
    event_stream: bool = False
    """With ``Accept: text/event-stream`` the answer is server-sent events, resuming after
    ``Last-Event-ID``."""


def doc_of(opt: dict[str, object]) -> ApiDoc | None:
    """Return the ``ApiDoc`` a route handler's ``opt`` carries, if any."""
    found = opt.get("doc")
    return found if isinstance(found, ApiDoc) else None
