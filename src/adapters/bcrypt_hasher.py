"""PasswordHasher over the bcrypt library, compatible with PHP's ``password_hash``."""

from __future__ import annotations

import bcrypt

__all__ = ["BcryptHasher"]


class BcryptHasher:
    """bcrypt hashes in PHP's ``$2y$`` spelling, verifying ``$2y$``, ``$2b$`` and ``$2a$``.

    ``$2y$`` (PHP) and ``$2b$`` (OpenBSD, the bcrypt library) name the same algorithm, so
    hashes written by Flextype verify here and ours verify in PHP.

    Args:
        rounds: the bcrypt cost; 10 is PHP's default. Tests use 4 (the minimum) for speed.
    """

    def __init__(self, rounds: int = 10) -> None:
        self._rounds = rounds

    def hash(self, secret: str) -> str:
        hashed = bcrypt.hashpw(secret.encode(), bcrypt.gensalt(self._rounds)).decode()
        return "$2y$" + hashed[4:]

    def verify(self, secret: str, hashed: str) -> bool:
        if hashed[:4] not in {"$2y$", "$2b$", "$2a$"}:
            return False
        try:
            return bcrypt.checkpw(secret.encode(), ("$2b$" + hashed[4:]).encode())
        except ValueError:
            # A malformed hash (or a secret over bcrypt's 72-byte limit) proves nothing.
            return False
