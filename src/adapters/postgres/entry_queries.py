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

import contextlib
from collections.abc import Iterable
from typing import Any, Literal

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
from flextype_adapters.postgres.rows import decode_fields, depth_of, subtree
from flextype_core.errors import EntryNotFound, StorageError
from flextype_core.model import Selection
from flextype_core.query import clauses, evaluate
from flextype_core.query.model import Query, SortKey

__all__ = ["MIXED_SORTS", "select"]

Connection = psycopg.Connection[Any]
Fields = dict[str, Any]

_VALUE = msgspec.json.Decoder()
_RACES = 3
"""Sparse plans run before the whole-range one, when other writers keep changing the page."""
_MAX_COUNT = 2**62
"""Offsets and limits past this (bigint) are all the same: past every row."""


class _DamagedError(Exception):
    """A body that cannot be decoded: only the whole-range plan reports it."""


class _RacedError(Exception):
    """A row changed between the statements of the sparse plan."""


def _public(entry_id: str, body: bytes) -> dict[str, Any]:
    """The public item of a row's body."""
    try:
        fields = decode_fields(entry_id, body)
    except StorageError as exc:
        raise _DamagedError from exc
    return _item(entry_id, fields)


def _item(entry_id: str, fields: Fields) -> dict[str, Any]:
    return {**fields, "id": entry_id, "slug": entry_id}


class _Scope:
    """The rows strictly below ``parent`` within the query's levels, as SQL."""

    def __init__(self, parent: str, query: Query) -> None:
        if query.depth == 1 and query.min_depth <= 1:  # the children: the parent index has them
            self.sql: sql.Composable = sql.SQL("parent = %s")
            self.params: list[object] = [parent]
            return
        below, bounds = subtree(parent)
        parts: list[sql.Composable] = [below]
        self.params = list(bounds)
        base = depth_of(parent) if parent else 0
        if query.min_depth > 1:
            parts.append(sql.SQL("depth >= %s"))
            self.params.append(base + query.min_depth)
        if query.depth is not None:
            parts.append(sql.SQL("depth <= %s"))
            self.params.append(base + query.depth)
        self.sql = sql.SQL(" AND ").join(parts)


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
        if where.doubt is not None:
            with contextlib.suppress(_RacedError):
                found = _pushed(conn, scope, where, sort, query)
        attempts = 0
        while found is None and attempts < _RACES:
            attempts += 1
            with contextlib.suppress(_RacedError):
                found = _sparse(conn, scope, where, query)
    except _DamagedError:
        found = None
    if found is None:
        found = _whole_range(conn, scope, query)
    if found.total == 0 and not found.unreadable and parent and not _parent_exists(conn, parent):
        raise EntryNotFound(parent)
    return found


def _page_bounds(query: Query) -> list[object]:
    limit = None if query.limit is None else min(query.limit, _MAX_COUNT)
    return [min(query.offset, _MAX_COUNT), limit]


def _matches(
    scope: _Scope, where: Compiled, sort: SortSql, *, lossy: bool, ranks: bool = True
) -> tuple[sql.Composable, list[object]]:
    """The candidate rows: id, version, each sort key's jsonb (s0...) and rank (r0...), doubt.

    ``lossy``: include the rows whose ``data`` is not exact (always in doubt).
    ``ranks``: add each key's type rank (and the row version) for the generic order.
    ``OFFSET 0`` keeps the subquery apart, so each key is read out of ``data`` once.
    """
    columns: list[sql.Composable] = [sql.SQL("id")]
    params: list[object] = []
    if ranks:
        columns.append(sql.SQL("xmin AS version"))
    for i, (value, value_params) in enumerate(sort.values):
        columns.append(sql.SQL("{} AS {}").format(value, sql.Identifier(f"s{i}")))
        params += value_params
        if ranks:
            rank = sort.rank(i, value)
            columns.append(sql.SQL("{} AS {}").format(rank, sql.Identifier(f"r{i}")))
            params += value_params
    doubt = sql.SQL("TRUE") if where.doubt is None else where.doubt
    condition = where.sql
    if lossy:
        doubt = sql.SQL("({}) OR NOT data_exact").format(doubt)
        condition = sql.SQL("({}) OR NOT data_exact").format(condition)
    columns.append(sql.SQL("{} AS doubt").format(doubt))
    params += where.doubt_params
    statement = sql.SQL("SELECT {} FROM entries WHERE {} AND ({}) OFFSET 0").format(
        sql.SQL(", ").join(columns), scope.sql, condition
    )
    return statement, [*params, *scope.params, *where.params]


MIXED_SORTS: dict[tuple[tuple[tuple[str, ...], bool], ...], None] = {}
"""Sorts that lately met a key holding something else than a number: the numeric shape
would only find that out again (a hint for speed, never for the answer)."""
MIXED_SORTS_KEPT = 256


def _pushed(
    conn: Connection, scope: _Scope, where: Compiled, sort: SortSql, query: Query
) -> Selection | None:
    """Plan 1; None when SQL's answer may differ from the core's for these rows.

    A sort on numbers (the common case: years, dates, prices) first takes the numeric
    shape: jsonb's own order, which is the core's while every key is a number or
    missing (a count says so). Else the generic shape orders by type rank, then value
    (``SortSql.order_by``).
    """
    signature = tuple((key.key, key.descending) for key in query.sort)
    if query.sort and signature not in MIXED_SORTS:
        found = _run_pushed(conn, scope, where, sort, query, numeric=True)
        if not isinstance(found, _NotNumbers):
            return found
        if len(MIXED_SORTS) >= MIXED_SORTS_KEPT:
            MIXED_SORTS.clear()
        MIXED_SORTS[signature] = None
    generic = _run_pushed(conn, scope, where, sort, query, numeric=False)
    return None if isinstance(generic, _NotNumbers) else generic


class _NotNumbers:
    """A sort key held something else than a number: the numeric shape cannot answer."""


_NOT_NUMBERS = _NotNumbers()


def _pushed_statement(
    scope: _Scope, where: Compiled, sort: SortSql, query: Query, *, numeric: bool
) -> tuple[sql.Composed, list[object], int]:
    """The statement of plan 1 in either shape; its parameters; its columns in doubt.

    Its rows: id, body, total, doubtful (where), lossy, suspect, not numbers, the rows in doubt
    (arrays of ids, versions, then each key), each key of the row. Rows in doubt come
    as arrays (one per column): they cost nothing while there are none.
    """
    matches, params = _matches(scope, where, sort, lossy=False, ranks=not numeric)
    n = len(sort.values)

    def keys(table: str) -> tuple[list[sql.Composable], list[sql.Composable]]:
        return (
            [sql.Identifier(table, f"s{i}") for i in range(n)],
            [sql.Identifier(table, f"r{i}") for i in range(n)],
        )

    def order(table: str) -> sql.Composable:
        """The sort keys' ORDER BY items, then the id (numeric; or sure rows first)."""
        if numeric:
            items = [sort.native_order(keys(table)[0])]
        else:
            items = [sql.Identifier(table, "sd"), *([sort.order_by(*keys(table))] if n else [])]
        return sql.SQL(", ").join([*items, sql.Identifier(table, "id")])

    unsure = [sql.SQL("m.id"), sql.SQL("m.version"), *keys("m")[0]]
    kinds: sql.Composable
    if numeric:
        arrays = [
            sql.SQL("NULL::text[] AS {}").format(sql.Identifier(f"u{i}"))
            for i in range(len(unsure))
        ]
        kinds = sql.SQL("count(*) FILTER (WHERE {}) OVER ()").format(sort.not_numbers(keys("m")[0]))
        sure = sql.SQL("SELECT m0.* FROM ({}) AS m0").format(matches)
    else:
        arrays = [
            sql.SQL("array_agg({}) FILTER (WHERE m.sd) OVER () AS {}").format(
                c, sql.Identifier(f"u{i}")
            )
            for i, c in enumerate(unsure)
        ]
        kinds = sql.SQL("0")
        sure = sql.SQL("SELECT m0.*, {} AS sd FROM ({}) AS m0").format(
            sort.doubt(*keys("m0")), matches
        )
    statement = sql.SQL(
        "SELECT p.id, e.body, p.total, p.doubtful, p.lossy, p.suspect, p.kinds,"
        " {unsure_p}{values_p} FROM ("
        "SELECT m.*, count(*) OVER () AS total,"
        " count(*) FILTER (WHERE m.doubt) OVER () AS doubtful, {kinds} AS kinds, {arrays},"
        " {lossy} AS lossy, {suspect} AS suspect"
        " FROM ({sure}) AS m ORDER BY {order_m} OFFSET %s LIMIT %s"
        ") AS p JOIN entries AS e ON e.id = p.id ORDER BY {order_p}"
    ).format(
        unsure_p=sql.SQL(", ").join(
            sql.SQL("{}::text[]").format(sql.Identifier("p", f"u{i}")) for i in range(len(unsure))
        ),
        values_p=sql.SQL("").join(sql.SQL(", {}::text").format(c) for c in keys("p")[0]),
        kinds=kinds,
        arrays=sql.SQL(", ").join(arrays),
        lossy=_exists(scope, "NOT data_exact"),
        suspect=_exists(scope, "NOT body_ok"),
        sure=sure,
        order_m=order("m"),
        order_p=order("p"),
    )
    return statement, [*scope.params, *scope.params, *params, *_page_bounds(query)], len(unsure)


def _run_pushed(
    conn: Connection, scope: _Scope, where: Compiled, sort: SortSql, query: Query, *, numeric: bool
) -> Selection | _NotNumbers | None:
    """Run plan 1 in one shape: the answer, None (another plan), or _NOT_NUMBERS."""
    statement, params, width = _pushed_statement(scope, where, sort, query, numeric=numeric)
    rows = conn.execute(statement, params, binary=True).fetchall()
    if not rows:
        return _counted(conn, scope, where, query)
    head = rows[0]
    total, doubtful, lossy, suspect, kinds = int(head[2]), head[3], head[4], head[5], head[6]
    if suspect:
        raise _DamagedError
    if doubtful or lossy:
        return None
    if kinds:
        return _NOT_NUMBERS
    first = 7 + width
    values = [[_json(t) for t in row[first:]] for row in rows]
    if any(sort.doubts_page(v) for v in values):
        return None
    page = [_public(row[0], bytes(row[1])) for row in rows]
    if rows[0][7] is None:  # no row in doubt
        return Selection(items=page, total=total)
    ids, versions, *columns = rows[0][7:first]
    apart = [
        [i, v, *(_json(t) for t in found)]
        for i, v, *found in zip(ids, versions, *columns, strict=True)
    ]
    return _merged(conn, sort, query, page, values, apart, total)


def _json(text: str | None) -> Any:
    """A jsonb value read as text; None for SQL NULL (a missing key), as for JSON null."""
    return None if text is None else _VALUE.decode(text)


def _merged(
    conn: Connection,
    sort: SortSql,
    query: Query,
    page: list[dict[str, Any]],
    values: list[list[Any]],
    unsure: list[list[Any]],
    total: int,
) -> Selection | None:
    """The first page, when some rows' place only the core knows; None: another plan.

    SQL's order is exact among the other rows, so the first ``limit`` of them (the page
    SQL gave) and the rows in doubt hold the true first page: the core sorts those.
    """
    if query.offset or any(sort.doubts_page(row[2:]) for row in unsure):
        return None  # the rows before the page are not at hand; a number past 2**53
    keys = tuple(SortKey(key=(f"\x00{i}",), descending=d) for i, d in enumerate(sort.descending))

    def item(entry_id: str, found: list[Any]) -> dict[str, Any]:
        return {"id": entry_id, **{f"\x00{i}": v for i, v in enumerate(found)}}

    pool = {p["id"]: item(p["id"], v) for p, v in zip(page, values, strict=True)}
    versions = {row[0]: row[1] for row in unsure}
    for row in unsure:
        pool[row[0]] = item(row[0], row[2:])
    ordered = evaluate.sort_items(sorted(pool.values(), key=lambda i: i["id"]), keys)
    chosen = [i["id"] for i in ordered[: query.limit]]
    known = {p["id"]: p for p in page}
    bodies = _bodies(conn, [i for i in chosen if i not in known], versions)
    return Selection(items=[known.get(i) or bodies[i] for i in chosen], total=total)


def _counted(conn: Connection, scope: _Scope, where: Compiled, query: Query) -> Selection | None:
    """An empty page: the total, from a statement of its own.

    None when the core must decide, or when matches appeared since the page was read
    (the page would no longer be empty: the caller runs another plan).
    """
    matches, params = _matches(scope, where, compile_sort(()), lossy=True)
    statement = sql.SQL(
        "SELECT count(*), count(*) FILTER (WHERE m.doubt), {} FROM ({}) AS m"
    ).format(_exists(scope, "NOT body_ok"), matches)
    row = conn.execute(statement, [*scope.params, *params]).fetchone()
    total, doubtful, suspect = (int(row[0]), int(row[1]), row[2]) if row else (0, 0, False)
    if suspect:
        raise _DamagedError
    if doubtful or (total > query.offset and query.limit != 0):
        return None
    return Selection(items=[], total=total)


def _sparse(conn: Connection, scope: _Scope, where: Compiled, query: Query) -> Selection:
    """Plan 2: the core decides over small items; the page's bodies are read by id."""
    keys = field_keys([c.key for c in query.where] + [k.key for k in query.sort])
    columns = [sql.SQL("(data -> %s)::text") for _ in keys]
    # One row at least (the check for damaged rows), then the candidates in id order.
    statement = sql.SQL(
        "SELECT {suspect}, m.* FROM (SELECT 1) AS one LEFT JOIN ("
        "SELECT id, xmin::text, CASE WHEN data_exact THEN NULL ELSE body END{columns}"
        " FROM entries WHERE {scope} AND (({where}) OR NOT data_exact)"
        ") AS m ON TRUE ORDER BY m.id"
    ).format(
        suspect=_exists(scope, "NOT body_ok"),
        columns=sql.SQL("").join(sql.SQL(", {}").format(c) for c in columns),
        scope=scope.sql,
        where=where.sql,
    )
    params = [*scope.params, *keys, *scope.params, *where.params]
    found_rows = conn.execute(statement, params, binary=True).fetchall()
    if found_rows[0][0]:
        raise _DamagedError
    rows = [row[1:] for row in found_rows if row[1] is not None]
    versions: dict[str, str] = {}
    items: list[dict[str, Any]] = []
    lossy = False
    unsure: list[str] = []
    for row in rows:
        entry_id, version, body = row[0], row[1], row[2]
        versions[entry_id] = version
        if body is not None:  # data does not hold the fields exactly: the body does
            lossy = True
            items.append(_public(entry_id, bytes(body)))
            continue
        fields = {
            key: _VALUE.decode(text)
            for key, text in zip(keys, row[3:], strict=True)
            if text is not None
        }
        if _has_big_number(fields.values()):
            unsure.append(entry_id)
        items.append(_item(entry_id, fields))
    if unsure:
        # jsonb may hold such a float as its decimal: the body holds the binary value.
        bodies = _bodies(conn, unsure, versions)
        items = [bodies.get(item["id"], item) for item in items]
    if not where.exact or lossy or unsure:
        test = clauses.compile_where(query.where)
        items = [item for item in items if test(item)]
    found = evaluate.sort_items(items, query.sort)
    offset, limit = query.offset, query.limit
    page = found[offset:] if limit is None else found[offset : offset + limit]
    bodies = _bodies(conn, [item["id"] for item in page], versions)
    return Selection(items=[bodies[item["id"]] for item in page], total=len(found))


def _bodies(conn: Connection, ids: list[str], versions: dict[str, str]) -> dict[str, Any]:
    """The public items of ``ids``, as the first statement saw them (else ``_RacedError``)."""
    if not ids:
        return {}
    rows = conn.execute(
        "SELECT id, xmin::text, body FROM entries WHERE id = ANY(%s::text[])", [ids], binary=True
    ).fetchall()
    if len(rows) != len(ids) or any(versions[row[0]] != row[1] for row in rows):
        raise _RacedError
    return {row[0]: _public(row[0], bytes(row[2])) for row in rows}


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
            items.append(_public(entry_id, bytes(body)))
        except _DamagedError:
            damaged.append(entry_id)
    found = evaluate.select(query, items)
    offset, limit = query.offset, query.limit
    page = found[offset:] if limit is None else found[offset : offset + limit]
    return Selection(items=page, total=len(found), unreadable=tuple(damaged))


def _exists(scope: _Scope, condition: Literal["NOT data_exact", "NOT body_ok"]) -> sql.Composable:
    """Whether a row of the range meets ``condition`` (a constant), as one select item.

    The conditions have partial indexes (``data_exact``, ``body_ok``): one probe each.
    """
    return sql.SQL("(SELECT EXISTS (SELECT FROM entries WHERE {} AND {}))").format(
        sql.SQL(condition), scope.sql
    )


def _parent_exists(conn: Connection, parent: str) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT FROM entries WHERE id = %s)"
        " OR EXISTS (SELECT FROM entries WHERE id >= %s AND id < %s)",
        [parent, parent + "/", parent + "0"],
    ).fetchone()
    return bool(row and row[0])
