"""How domain objects are shown outside: what a client or a terminal may see."""

from __future__ import annotations

from typing import Any

import msgspec

from flextype_core import IssuedToken, Token

__all__ = ["issued_token", "public_token"]


def public_token(token: Token) -> dict[str, Any]:
    """Return the token's fields without the hash of its access token."""
    shown: dict[str, Any] = msgspec.to_builtins(token)
    del shown["hashed_access_token"]
    return shown


def issued_token(issued: IssuedToken) -> dict[str, Any]:
    """Return a just-issued token with its access token (shown this once only)."""
    return {**public_token(issued.token), "access_token": issued.access_token}
