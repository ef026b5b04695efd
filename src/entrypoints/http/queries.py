"""Queries in a body (``POST /api/entries/query``): named entry and collection reads at once.

Each query runs exactly as ``GET /api/entries?id=ID&options...`` would (``answer``, which
the GET handler uses too); the whole request is one read, checked and counted once.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import msgspec

from flextype_core import EntriesService, Page, PageMeta
from flextype_core.errors import BadRequest, FlextypeError, shown
from flextype_entrypoints.http.bodies import NamedQuery, read, read_part
from flextype_entrypoints.http.params import RequestParams, is_truthy
from flextype_entrypoints.http.responses import QueriesAnswer

__all__ = [
    "MAX_NAME_LENGTH",
    "MAX_QUERIES",
    "answer",
    "is_collection",
    "read_queries",
    "run_queries",
]

MAX_QUERIES = 50
"""The most queries one request may carry (api.md section 10)."""
MAX_NAME_LENGTH = 64
"""The longest query name: a key of the answer, so a name, never content."""

_NAME = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_NAME_LENGTH}}}")


def is_collection(options: dict[str, Any]) -> bool:
    """Whether ``options`` ask for a collection (or a named method) rather than one entry."""
    return is_truthy(options.get("collection")) or "method" in options


def answer(entries: EntriesService, entry_id: str | None, options: dict[str, Any]) -> Page:
    """What ``GET /api/entries`` answers for ``id`` and ``options`` (blocking: a thread's).

    Raises:
        BadRequest: ``entry_id`` is None for one entry, or an option is malformed.
        FlextypeError: as ``EntriesService.query`` and ``fetch``.
    """
    if is_collection(options):
        return entries.query(entry_id or "", options, shared=True)
    if entry_id is None:
        raise BadRequest("The parameter 'id' is required.")
    return Page(data=entries.fetch(entry_id))


class _Given(msgspec.Struct):
    queries: dict[str, Any]


def read_queries(params: RequestParams) -> dict[str, NamedQuery]:
    """Read the body's queries (``EntryQueries``): their number, names, then each one.

    Raises:
        BadRequest: ``queries`` missing or not an object, no query, more than
            ``MAX_QUERIES``, a name that is not 1 to ``MAX_NAME_LENGTH`` letters,
            digits, ``_`` or ``-``, or a query of the wrong shape (named by its path,
            ``queries.NAME.options``).
    """
    given = read(params, _Given).queries
    if not given:
        raise BadRequest("The parameter 'queries' names no query: send at least one.")
    if len(given) > MAX_QUERIES:
        raise BadRequest(
            f"The parameter 'queries' has {len(given)} queries; at most {MAX_QUERIES} "
            "are run in one request."
        )
    for name in given:
        if _NAME.fullmatch(name) is None:
            raise BadRequest(
                f"The query name {shown(name)} is not allowed: use 1 to {MAX_NAME_LENGTH} "
                "letters, digits, '_' or '-'."
            )
    return {name: read_part(query, NamedQuery, f"queries.{name}") for name, query in given.items()}


def run_queries(entries: EntriesService, queries: dict[str, NamedQuery]) -> QueriesAnswer:
    """Run every query in the body's order (blocking: a thread's).

    Raises:
        FlextypeError: the first query that fails, its message led by the query's name
            (the same class, so the same status).
    """
    data: dict[str, Any] = {}
    meta: dict[str, PageMeta | None] = {}
    for name, query in queries.items():
        try:
            page = answer(entries, query.id, query.options)
        except FlextypeError as exc:
            raise _named(exc, name) from exc
        data[name] = page.data
        meta[name] = page.meta
    return QueriesAnswer(data=data, meta=meta)


def _named(error: FlextypeError, name: str) -> FlextypeError:
    """A copy of ``error`` (same class, status and fields) whose message names the query.

    A copy, not the original changed: a store may keep one error and raise it again.
    """
    named = copy.copy(error)
    named.message = f"Query {shown(name)}: {error.message}"
    named.args = (named.message,)
    return named
