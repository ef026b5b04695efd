"""The query language of collection fetches: ``options`` data parsed into typed parts."""

from __future__ import annotations

from flextype_core.query.collections import Collections
from flextype_core.query.depth import parse_depth
from flextype_core.query.evaluate import page, run, select, select_from, shape, shape_page
from flextype_core.query.model import Clause, Query, SortKey
from flextype_core.query.parse import parse_options
from flextype_core.query.prefilter import IndexedItems

__all__ = [
    "Clause",
    "Collections",
    "IndexedItems",
    "Query",
    "SortKey",
    "page",
    "parse_depth",
    "parse_options",
    "run",
    "select",
    "select_from",
    "shape",
    "shape_page",
]
