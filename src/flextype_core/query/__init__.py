"""The query language of collection fetches: ``options`` data parsed into typed parts."""

from __future__ import annotations

from flextype_core.query.depth import parse_depth

__all__ = ["parse_depth"]
