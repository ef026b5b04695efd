"""``EntryStore.select`` on PostgreSQL: the query pushed down to SQL, the answer the core's.

Three plans, tried in this order, each giving exactly what the core's pipeline
(``evaluate.select`` and paging) gives over the entries of the range:

1. **Pushed down** (one statement): the range, the depth, the compiled ``where``, the
   order, offset and limit, the total and the page's bodies all in SQL. The statement
   also counts the rows it may have got wrong (``doubt`` of the where and of the sort:
   a string past ASCII, a number past 2**53, a row whose ``data`` is not exact); when
   that count is 0 the answer is exact and final. Skipped when the where leaves every
   candidate to the core (a regexp, a date).
2. **Sparse** (two statements): SQL returns the id of each candidate and only the
   top-level fields the where and sort read; Python runs the exact clause tests and the
   exact sort over these small items, takes the page, and a second statement reads the
   page's bodies by id. Each body read is checked to be the version the first
   statement saw (``xmin``); if another transaction changed one in between, the plan
   runs again.
3. **Whole range** (one statement): every body of the range decoded and the core's
   pipeline run over them, as a store without SQL would. The last resort: after a
   row that cannot be decoded (its id goes to ``unreadable``) or repeated races.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
import psycopg
from psycopg import sql

from flextype_adapters.postgres.query_sql import (
    EXACT_NUMBER,
    Compiled,
    SortSql,
    compile_sort,
    compile_where,
    field_keys,
)
from flextype_core.errors import EntryNotFound
from flextype_core.model import Selection
from flextype_core.query import clauses, evaluate
from flextype_core.query.model import Query

__all__ = ["select"]

Connection = psycopg.Connection[Any]
Fields = dict[str, Any]

_DECODER = msgspec.json.Decoder(dict[str, Any])
_VALUE = msgspec.json.Decoder()
_RACES = 3
"""Sparse plans run before the whole-range one, when other writers keep changing the page."""
_MAX_COUNT = 2**62
"""Offsets and limits past this (bigint) are all the same: past every row."""


class _Damaged(Exception):
    """A body that cannot be decoded: only the whole-range plan reports it."""


class _Raced(Exception):
    """A row changed between the statements of the sparse plan."""


def _decode(body: bytes) -> Fields:
    try:
        return _DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _Damaged from exc


def _public(entry_id: str, fields: Fields) -> dict[str, Any]:
    return {**fields, "id": entry_id, "slug": entry_id}


class _Scope:
    """The rows strictly below ``parent`` within the query's levels, as SQL."""

    def __init__(self, parent: str, query: Query) -> None:
        base = parent.count("/") + 1 if parent else 0
        parts: list[sql.Composable] = [sql.SQL("depth >= %s")]
        params: list[object] = [base + query.min_depth]
        if query.depth is not None:
            parts.append(sql.SQL("depth <= %s"))
            params.append(base + query.depth)
        if parent:
            # Ids compare byte by byte: the subtree is ['p/', 'p0'), '0' following '/'.
            parts.append(sql.SQL("id >= %s AND id < %s"))
            params += [parent + "/", parent + "0"]
        self.sql = sql.SQL(" AND ").join(parts)
        self.params = params


def select(conn: Connection, parent: str, query: Query) -> Selection:
    """The collection part of ``query`` below ``parent`` (``EntryStore.select``'s contract).

    ``conn`` may be in a transaction of any isolation level: each plan reads one
    snapshot or checks that what it read later is what it saw first.

    Raises:
        EntryNotFound: ``parent`` is neither an entry nor has descendants.
    """
    scope = _Scope(parent, query)
    where = compile_where(query.where)
    sort = compile_sort(query.sort)
    found: Selection | None = None
    try:
        if where.doubt is not None and sort.faithful:
            found = _pushed(conn, scope, where, sort, query)
        for _ in range(_RACES if found is None else 0):
            try:
                found = _sparse(conn, scope, where, query)
                break
            except _Raced:
                continue
    except _Damaged:
        found = None
    if found is None:
        found = _whole_range(conn, scope, query)
    if found.total == 0 and not found.unreadable and parent and not _exists(conn, parent):
        raise EntryNotFound(parent)
    return found


def _page_bounds(query: Query) -> list[object]:
    limit = None if query.limit is None else min(query.limit, _MAX_COUNT)
    return [min(query.offset, _MAX_COUNT), limit]


def _pushed(
    conn: Connection, scope: _Scope, where: Compiled, sort: SortSql, query: Query
) -> Selection | None:
    """Plan 1; None when SQL's answer may differ from the core's for these rows."""
    n = len(sort.values)
    names = [f"s{i}" for i in range(n)]
    values = [
        sql.SQL("{} AS {}").format(expr, sql.Identifier(name))
        for (expr, _), name in zip(sort.values, names, strict=True)
    ]
    value_params = [p for _, params in sort.values for p in params]
    doubt = sql.SQL("({}) OR NOT data_exact").format(where.doubt or sql.SQL("TRUE"))
    order_p = sort.order_by([sql.Identifier("p", name) for name in names])
    order_u = sort.order_by([sql.Identifier("u", name) for name in names])
    statement = sql.SQL(
        "WITH m AS (SELECT {m_cols} FROM entries WHERE {scope} AND (({where}) OR NOT data_exact)),"
        " p AS (SELECT m.*, count(*) OVER () AS total,"
        " count(*) FILTER (WHERE m.doubt OR {sort_doubt}) OVER () AS doubtful"
        " FROM m AS m ORDER BY {order_m} m.id OFFSET %s LIMIT %s)"
        " SELECT u.id, u.body, u.total, u.doubtful FROM ("
        "SELECT p.*, e.body FROM p AS p JOIN entries AS e ON e.id = p.id"
        " UNION ALL SELECT NULL, {nulls} NULL, count(*), count(*) FILTER (WHERE m.doubt), NULL"
        " FROM m AS m WHERE NOT EXISTS (SELECT FROM p)"
        ") AS u ORDER BY {order_u} u.id"
    ).format(
        m_cols=sql.SQL(", ").join([sql.SQL("id"), *values, sql.SQL("{} AS doubt").format(doubt)]),
        scope=scope.sql,
        where=where.sql,
        sort_doubt=sort.doubt([sql.Identifier("m", name) for name in names]),
        order_m=sql.SQL("{},").format(sort.order_by([sql.Identifier("m", name) for name in names]))
        if n
        else sql.SQL(""),
        nulls=sql.SQL("NULL::jsonb, " * n),
        order_u=sql.SQL("{},").format(order_u) if n else sql.SQL(""),
    )
    del order_p
    params = [
        *value_params,
        *where.doubt_params,
        *scope.params,
        *where.params,
        *_page_bounds(query),
    ]
    rows = conn.execute(statement, params, binary=True).fetchall()
    if not rows:
        return Selection(items=[], total=0)  # no candidate at all
    if rows[0][3]:
        return None
    items = [_public(row[0], _decode(bytes(row[1]))) for row in rows if row[0] is not None]
    return Selection(items=items, total=int(rows[0][2]))


def _sparse(conn: Connection, scope: _Scope, where: Compiled, query: Query) -> Selection:
    """Plan 2: the core decides over small items; the page's bodies are read by id."""
    keys = field_keys([c.key for c in query.where] + [k.key for k in query.sort])
    columns = [sql.SQL("(data -> %s)::text") for _ in keys]
    statement = sql.SQL(
        "SELECT id, xmin::text, CASE WHEN data_exact THEN NULL ELSE body END{columns}"
        " FROM entries WHERE {scope} AND (({where}) OR NOT data_exact) ORDER BY id"
    ).format(
        columns=sql.SQL("").join(sql.SQL(", {}").format(c) for c in columns),
        scope=scope.sql,
        where=where.sql,
    )
    rows = conn.execute(statement, [*keys, *scope.params, *where.params], binary=True).fetchall()
    versions: dict[str, str] = {}
    items: list[dict[str, Any]] = []
    inexact: list[dict[str, Any]] = []
    unsure: list[str] = []
    for row in rows:
        entry_id, version, body = row[0], row[1], row[2]
        versions[entry_id] = version
        if body is not None:
            item = _public(entry_id, _decode(bytes(body)))
            inexact.append(item)
        else:
            item = {key: _VALUE.decode(text) for key, text in zip(keys, row[3:]) if text is not None}
            if _has_big_number(item.values()):
                unsure.append(entry_id)
            item = _public(entry_id, item)
        items.append(item)
    if unsure:
        # jsonb may hold such a float as its decimal: the body holds the binary value.
        bodies = _bodies(conn, unsure, versions)
        items = [bodies.get(item["id"], item) for item in items]
    if not where.exact or inexact or unsure:
        test = clauses.compile_where(query.where)
        items = [item for item in items if test(item)]
    found = evaluate.sort_items(items, query.sort)
    offset, limit = query.offset, query.limit
    page = found[offset:] if limit is None else found[offset : offset + limit]
    bodies = _bodies(conn, [item["id"] for item in page], versions)
    return Selection(items=[bodies[item["id"]] for item in page], total=len(found))


def _bodies(conn: Connection, ids: list[str], versions: dict[str, str]) -> dict[str, Any]:
    """The public items of ``ids``, as the first statement saw them (else ``_Raced``)."""
    if not ids:
        return {}
    rows = conn.execute(
        "SELECT id, xmin::text, body FROM entries WHERE id = ANY(%s::text[])", [ids], binary=True
    ).fetchall()
    if len(rows) != len(ids) or any(versions[row[0]] != row[1] for row in rows):
        raise _Raced
    return {row[0]: _public(row[0], _decode(bytes(row[2]))) for row in rows}


def _has_big_number(values: Iterable[Any]) -> bool:
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > EXACT_NUMBER:
            return True
        if isinstance(value, list) and _has_big_number(value):
            return True
        if isinstance(value, dict) and _has_big_number(value.values()):
            return True
    return False


def _whole_range(conn: Connection, scope: _Scope, query: Query) -> Selection:
    """Plan 3: every body of the range, and the core's pipeline over them."""
    statement = sql.SQL("SELECT id, body FROM entries WHERE {} ORDER BY id").format(scope.sql)
    items, damaged = [], []
    for entry_id, body in conn.execute(statement, scope.params, binary=True):
        try:
            items.append(_public(entry_id, _decode(bytes(body))))
        except _Damaged:
            damaged.append(entry_id)
    found = evaluate.select(query, items)
    offset, limit = query.offset, query.limit
    page = found[offset:] if limit is None else found[offset : offset + limit]
    return Selection(items=page, total=len(found), unreadable=tuple(damaged))


def _exists(conn: Connection, parent: str) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT FROM entries WHERE id = %s)"
        " OR EXISTS (SELECT FROM entries WHERE id >= %s AND id < %s)",
        [parent, parent + "/", parent + "0"],
    ).fetchone()
    return bool(row and row[0])
