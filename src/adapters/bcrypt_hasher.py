"""PasswordHasher over the bcrypt library, compatible with PHP's ``password_hash``."""

from __future__ import annotations

import re

import bcrypt

__all__ = ["BcryptHasher"]

# The modular crypt form: variant, two-digit cost, 22 characters of salt and 31 of hash.
_HASH = re.compile(r"\$2[aby]\$([0-9]{2})\$[./A-Za-z0-9]{53}")
_MAX_SECRET = 72
"""bcrypt reads this many bytes of a secret; PHP ignores the rest, bcrypt 5 refuses it."""


def _secret(secret: str) -> bytes:
    # "surrogatepass": a lone surrogate still gives bytes rather than a failure.
    return secret.encode("utf-8", "surrogatepass")[:_MAX_SECRET]


class BcryptHasher:
    """bcrypt hashes in PHP's ``$2y$`` spelling, verifying ``$2y$``, ``$2b$`` and ``$2a$``.

    ``$2y$`` (PHP) and ``$2b$`` (OpenBSD, the bcrypt library) name the same algorithm, so
    hashes written by Flextype verify here and ours verify in PHP. As PHP, only the first
    72 bytes of a secret count.

    Args:
        rounds: the bcrypt cost; 10 is PHP's default. Tests use 4 (the minimum) for speed.
    """

    def __init__(self, rounds: int = 10) -> None:
        self._rounds = rounds

    @property
    def cost(self) -> int:
        return self._rounds

    def cost_of(self, hashed: str) -> int | None:
        found = _HASH.fullmatch(hashed)
        return None if found is None else int(found[1])

    def hash(self, secret: str) -> str:
        hashed = bcrypt.hashpw(_secret(secret), bcrypt.gensalt(self._rounds)).decode()
        return "$2y$" + hashed[4:]

    def verify(self, secret: str, hashed: str) -> bool:
        if self.cost_of(hashed) is None:
            return False
        try:
            return bcrypt.checkpw(_secret(secret), ("$2b$" + hashed[4:]).encode())
        except ValueError:
            # A cost outside 4..31 proves nothing.
            return False
