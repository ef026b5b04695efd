"""The system clock and the random id factory: the core's view of time and randomness."""

from __future__ import annotations

import secrets
import socket
import time
import uuid

__all__ = ["RandomIdFactory", "SystemClock", "SystemResolver"]


class SystemClock:
    """Clock over ``time.time()``."""

    def now(self) -> int:
        return int(time.time())


class RandomIdFactory:
    """IdFactory over the ``secrets`` and ``uuid`` modules (OS randomness)."""

    def uuid(self) -> str:
        return str(uuid.uuid4())

    def token(self) -> str:
        return secrets.token_hex(16)

    def secret(self) -> bytes:
        return secrets.token_bytes(24)


class SystemResolver:
    """HostResolver over ``socket.getaddrinfo`` (the system's resolver: hosts file, DNS)."""

    def resolve(self, host: str, port: int) -> list[str]:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except UnicodeError as exc:  # a name the IDNA codec refuses: it cannot resolve
            raise OSError(f"cannot resolve {host!r}: not a valid host name") from exc
        return list(dict.fromkeys(str(info[4][0]) for info in found))
