"""The Litestar HTTP app: request parsing, auth, controllers, and error mapping."""

from __future__ import annotations

__all__: list[str] = []
