"""The success bodies of the API: ``{"data": ...}``, as msgspec Structs."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["Data", "GeneratedHash", "GeneratedToken", "HashVerified", "RegistryItem"]


class Data(msgspec.Struct, kw_only=True):
    """A success body: an entry, a list of entries, a token, or a value."""

    data: Any


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
