"""The success bodies of the API: ``{"data": ...}``, as msgspec Structs."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from flextype_core import PageMeta
from flextype_core.changes import Change

__all__ = [
    "ChangesMeta",
    "ChangesPage",
    "Data",
    "GeneratedHash",
    "GeneratedToken",
    "HashVerified",
    "Health",
    "QueriesAnswer",
    "RegistryItem",
    "ServiceIndex",
]


class Data(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A success body: an entry, a list of entries, a token, or a value."""

    data: Any
    meta: PageMeta | None = None
    """On collections: ``total`` matches before ``offset`` and ``limit``."""


class QueriesAnswer(msgspec.Struct, kw_only=True):
    """The answer of ``POST /api/entries/query``: each query's data and meta, by name."""

    data: dict[str, Any]
    """What ``GET /api/entries`` answers as ``data`` for each query."""
    meta: dict[str, PageMeta | None]
    """Each query's ``meta``: null for an entry (and a named method), as GET has none."""


class RegistryItem(msgspec.Struct, kw_only=True):
    key: str
    """The dot path asked for, e.g. ``flextype.manifest.version``."""
    value: Any
    """The value, or the subtree below the key."""


class GeneratedToken(msgspec.Struct, kw_only=True):
    token: str
    """32 random lowercase hex characters; nothing is stored."""


class GeneratedHash(msgspec.Struct, kw_only=True):
    hashed_token: str
    """The bcrypt hash (``$2y$``) of the given string."""


class HashVerified(msgspec.Struct, kw_only=True):
    verified: bool


class ServiceIndex(msgspec.Struct, kw_only=True):
    """Where the service's own pages are (``GET /``)."""

    name: str
    version: str
    docs: str
    """The API reference (Swagger UI)."""
    openapi: str
    """The OpenAPI 3.1 document."""
    health: str
    """The health check."""


class Health(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The storage answers (``GET /health``)."""

    status: Literal["ok"]
    version: str
    changes: Literal["ok", "unavailable"] | None = None
    """Whether the change feed can be read (``unavailable``: the content API answers,
    but followers of ``/api/changes`` and webhooks wait); absent without a change log."""


class ChangesMeta(msgspec.Struct, kw_only=True):
    next: str
    """The cursor to pass as ``since`` for what follows (``since`` itself if nothing came)."""
    more: bool
    """The page is full: ask again at once for more."""


class ChangesPage(msgspec.Struct, kw_only=True):
    """A page of the change feed, oldest change first."""

    data: list[Change]
    meta: ChangesMeta
