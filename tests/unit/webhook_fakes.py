"""A name resolver for the tests of the private-network guard: a table, no DNS."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["FakeResolver"]


class FakeResolver:
    """HostResolver over a table of names; an IP literal resolves to itself.

    A name missing from the table does not resolve (``OSError``), as with DNS.
    """

    def __init__(self, names: Mapping[str, list[str]] | None = None) -> None:
        self.names = dict(names or {})
        self.asked: list[tuple[str, int]] = []

    def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        if host in self.names:
            return list(self.names[host])
        if host.replace(".", "").isdigit() or ":" in host:
            return [host]
        raise OSError(f"{host} does not resolve")
