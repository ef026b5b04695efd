"""The success bodies of the API: ``{"data": ...}``, as msgspec Structs."""

from __future__ import annotations

from typing import Any

import msgspec

from flextype_core import PageMeta

__all__ = ["Data", "GeneratedHash", "GeneratedToken", "HashVerified", "RegistryItem"]


class Data(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A success body: an entry, a list of entries, a token, or a value."""

    data: Any
    meta: PageMeta | None = None
    """On collections: ``total`` matches before ``offset`` and ``limit``."""


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
