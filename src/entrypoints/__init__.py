"""Ways into flextype-py: the HTTP app, the command line, and the composition root."""

from __future__ import annotations

__all__: list[str] = []
