"""``EntryStore.select`` on PostgreSQL: the query pushed down to SQL, the answer the core's.

Three plans, tried in this order, each giving exactly what the core's pipeline
(``evaluate.select`` and paging) gives over the entries of the range:

1. **Pushed down** (``pushed_plan``, one statement): the range, the depth, the compiled
   ``where``, the order, offset and limit, the total and the page's bodies all in SQL.
   The statement also counts the rows it may have got wrong (the where's doubt, rows
   whose ``data`` is not exact); when there are none, its answer is final. Rows whose
   place in the order only the core knows (a sort key past ASCII) come back apart, and
   a first page merges them in the core's order (a second statement reads their
   bodies). Skipped when the where leaves every candidate to the core (a regexp).
2. **Sparse** (``sparse_plan``, two statements): SQL returns the id of each candidate
   and only the top-level fields the where and sort read; the core tests and sorts
   these small items, takes the page, and a second statement reads the page's bodies
   by id, each checked to be the version the first statement saw (``xmin``): if
   another transaction changed one in between, the plan runs again.
3. **Whole range** (one statement): every body of the range decoded and the core's
   pipeline run over them, as a store without SQL would. The last resort: when the
   range holds a row changed by hand (``body_ok`` false, or a body that does not
   decode: its id goes to ``unreadable``), or after repeated races.

A query with a search takes the same three plans over the ``search`` column
(``search_plan``).

``select`` needs no transaction of its own (``PostgresDatabase.read``): every answer
comes from one snapshot, or from statements checked to agree.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from flextype_adapters.postgres import search_plan
from flextype_adapters.postgres.plan_rows import Connection, DamagedError, RacedError, Scope
from flextype_adapters.postgres.pushed_plan import MIXED_SORTS, pushed
from flextype_adapters.postgres.query_sql import compile_sort, compile_where
from flextype_adapters.postgres.sparse_plan import sparse, whole_range
from flextype_core.errors import EntryNotFound
from flextype_core.model import Selection
from flextype_core.query.model import Path, Query

__all__ = ["MIXED_SORTS", "select"]

_RACES = 3
"""Sparse plans run before the whole-range one, when other writers keep changing the page."""


def select(
    conn: Connection, parent: str, query: Query, columns: Mapping[Path, str] | None = None
) -> Selection:
    """The collection part of ``query`` below ``parent`` (``EntryStore.select``'s contract).

    ``columns``: the declared field indexes in place (``field_columns``): the SQL reads
    those columns instead of ``data`` (the same values), so their indexes serve.

    ``conn`` may be in a transaction of any isolation level: each plan reads one
    snapshot or checks that what it read later is what it saw first.

    Raises:
        EntryNotFound: ``parent`` is neither an entry nor has descendants.
    """
    scope = Scope(parent, query)
    if query.search is not None:
        found = search_plan.select(conn, scope, query, columns or {})
    else:
        found = _select(conn, scope, query, columns)
    if found.total == 0 and not found.unreadable and parent and not _parent_exists(conn, parent):
        raise EntryNotFound(parent)
    return found


def _select(
    conn: Connection, scope: Scope, query: Query, columns: Mapping[Path, str] | None
) -> Selection:
    """Plans 1, 2 and 3 in turn (see the module), for a query without a search."""
    where = compile_where(query.where, columns)
    sort = compile_sort(query.sort, columns)
    found: Selection | None = None
    try:
        if where.doubt is not None:
            with contextlib.suppress(RacedError):
                found = pushed(conn, scope, where, sort, query)
        attempts = 0
        while found is None and attempts < _RACES:
            attempts += 1
            with contextlib.suppress(RacedError):
                found = sparse(conn, scope, where, query)
    except DamagedError:
        found = None
    return found if found is not None else whole_range(conn, scope, query)


def _parent_exists(conn: Connection, parent: str) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT FROM entries WHERE id = %s)"
        " OR EXISTS (SELECT FROM entries WHERE id >= %s AND id < %s)",
        [parent, parent + "/", parent + "0"],
    ).fetchone()
    return bool(row and row[0])
