"""Plan 1 of ``entry_queries.select``: the whole query in one statement, when SQL knows.

The range, the depth, the compiled ``where``, the order, offset and limit, the total and
the page's bodies in one statement, which also counts the rows it may have got wrong
(the where's doubt, rows whose ``data`` is not exact); when none, its answer is final. A
sort on numbers first takes jsonb's own order; else the generic order ranks types, and
rows whose place only the core knows (a sort key past ASCII) come back apart, for the
core to merge into a first page.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from flextype_adapters.postgres.keyset_sql import (
    generic_terms,
    keyset_condition,
    numeric_condition,
    pushable,
)
from flextype_adapters.postgres.plan_rows import (
    Connection,
    DamagedError,
    Scope,
    candidates,
    exists_in,
    json_value,
    page_bounds,
    public_item,
    read_bodies,
)
from flextype_adapters.postgres.query_sql import Compiled, SortSql, compile_sort
from flextype_core.model import Selection
from flextype_core.query import evaluate
from flextype_core.query.keyset import ordered_after
from flextype_core.query.model import Keyset, Query, SortKey

__all__ = ["MIXED_SORTS", "counted", "pushed"]


MIXED_SORTS: dict[tuple[tuple[tuple[str, ...], bool], ...], None] = {}
"""Sorts that lately met a key holding something else than a number: the numeric shape
would only find that out again (a hint for speed, never for the answer)."""
MIXED_SORTS_KEPT = 256


def pushed(
    conn: Connection, scope: Scope, where: Compiled, sort: SortSql, query: Query
) -> Selection | None:
    """Plan 1; None when SQL's answer may differ from the core's for these rows.

    A sort on numbers (the common case: years, dates, prices) first takes the numeric
    shape: jsonb's own order, which is the core's while every key is a number or
    missing (a count says so). Else the generic shape orders by type rank, then value
    (``SortSql.order_by``).
    """
    if query.keyset is not None and not pushable(query.keyset):
        return None  # the keyset's own place only the core knows
    signature = tuple((key.key, key.descending) for key in query.sort)
    numbers = query.keyset is None or all(
        v is None or (isinstance(v, int | float) and not isinstance(v, bool))
        for v in query.keyset.values
    )
    if query.sort and numbers and signature not in MIXED_SORTS:
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
    scope: Scope, where: Compiled, sort: SortSql, query: Query, *, numeric: bool
) -> tuple[sql.Composed, list[object], int]:
    """The statement of plan 1 in either shape; its parameters; its columns in doubt.

    Its rows: id, body, total, doubtful (where), lossy, suspect, not numbers, the rows
    in doubt (arrays of ids, versions, then each key), each key of the row. Rows in
    doubt come as arrays (one per column): they cost nothing while there are none.
    """
    if numeric and sort.indexed == (True,):
        return _indexed_statement(scope, where, sort, query)
    matches, params = candidates(scope, where, sort, lossy=False, ranks=not numeric)
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
        " {unsure_p}{values_p} FROM ({before}"
        "SELECT m.*, count(*) OVER () AS total,"
        " count(*) FILTER (WHERE m.doubt) OVER () AS doubtful, {kinds} AS kinds, {arrays},"
        " {lossy} AS lossy, {suspect} AS suspect"
        " FROM ({sure}) AS m{after} ORDER BY {order_m} OFFSET %s LIMIT %s"
        ") AS p JOIN entries AS e ON e.id = p.id ORDER BY {order_p}"
    ).format(
        unsure_p=sql.SQL(", ").join(
            sql.SQL("{}::text[]").format(sql.Identifier("p", f"u{i}")) for i in range(len(unsure))
        ),
        values_p=sql.SQL("").join(sql.SQL(", {}::text").format(c) for c in keys("p")[0]),
        kinds=kinds,
        arrays=sql.SQL(", ").join(arrays),
        lossy=exists_in(scope, "NOT data_exact"),
        suspect=exists_in(scope, "NOT body_ok"),
        sure=sure,
        order_m=order("m"),
        order_p=order("p"),
        **_after(query, sort, numeric=numeric),
    )
    return statement, [*scope.params, *scope.params, *params, *_bounds(query)], len(unsure)


def _after(query: Query, sort: SortSql, *, numeric: bool) -> dict[str, sql.Composable]:
    """The level that keeps the rows after the keyset, over the one counting every match.

    The totals and the rows in doubt are counted before it: they are the whole query's.
    """
    keyset = query.keyset
    if keyset is None:
        return {"before": sql.SQL(""), "after": sql.SQL("")}
    values = [sql.Identifier("m", f"s{i}") for i in range(len(sort.values))]
    ranks = [sql.Identifier("m", f"r{i}") for i in range(len(sort.values))]
    condition = (
        numeric_condition(values, sort.descending, keyset, sql.Identifier("m", "id"))
        if numeric
        else keyset_condition(
            sort.order_terms(values, ranks),
            generic_terms(keyset, sort.descending),
            sql.Identifier("m", "id"),
            keyset.id,
        )
    )
    assert condition is not None
    return {
        "before": sql.SQL("SELECT m.* FROM ("),
        "after": sql.SQL(") AS m WHERE {}").format(condition),
    }


def _bounds(query: Query) -> list[object]:
    """OFFSET and LIMIT; after a keyset one row more, which tells whether more follow."""
    if query.keyset is None:
        return page_bounds(query)
    return [0, None if query.limit is None else query.limit + 1]


def _indexed_statement(
    scope: Scope, where: Compiled, sort: SortSql, query: Query
) -> tuple[sql.Composed, list[object], int]:
    """The numeric shape when the one sort key has a declared index (``field_columns``).

    The same rows as ``_pushed_statement``'s, without a window over every match: the
    page takes the index's order (ORDER BY ... LIMIT reads ``limit`` rows, not all the
    matches), the total is a count of its own (from the index alone when the where's
    fields are indexed too), and whether every key is a number comes from the two ends
    of jsonb's order: other values sort before numbers (null, strings) or after them
    (bools, lists, maps), so both ends are numbers only when every key is one.
    """
    matches, params = candidates(scope, where, sort, lossy=False, ranks=False, fenced=False)
    counting, count_params = candidates(scope, where, compile_sort(()), lossy=False, fenced=False)
    key, way = sql.Identifier("m", "s0"), sql.SQL(" DESC" if sort.descending[0] else "")

    def end(last: bool) -> sql.Composable:
        return sql.SQL(
            "coalesce((SELECT jsonb_typeof({key}) <> 'number' FROM ({matches}) AS m"
            " WHERE {key} IS NOT NULL ORDER BY {key}{way} LIMIT 1), FALSE)"
        ).format(key=key, matches=matches, way=sql.SQL(" DESC" if last else ""))

    statement = sql.SQL(
        "SELECT p.id, e.body, t.total, t.doubtful, {lossy}, {suspect}, {first} OR {last},"
        " NULL::text[], NULL::text[], NULL::text[], p.s0::text FROM ("
        "SELECT m.* FROM ({matches}) AS m{after} ORDER BY {key}{way} NULLS LAST, m.id"
        " OFFSET %s LIMIT %s"
        ") AS p JOIN entries AS e ON e.id = p.id CROSS JOIN ("
        "SELECT count(*) AS total, count(*) FILTER (WHERE m.doubt) AS doubtful FROM ({counting})"
        " AS m) AS t ORDER BY p.s0{way} NULLS LAST, p.id"
    ).format(
        lossy=exists_in(scope, "NOT data_exact"),
        suspect=exists_in(scope, "NOT body_ok"),
        first=end(last=False),
        last=end(last=True),
        matches=matches,
        key=key,
        way=way,
        counting=counting,
        after=_indexed_after(query, sort),
    )
    # The rows in doubt (id, version, key) are none in the numeric shape: three NULLs.
    head = [*scope.params, *scope.params, *params, *params]
    return statement, [*head, *params, *_bounds(query), *count_params], 3


def _indexed_after(query: Query, sort: SortSql) -> sql.Composable:
    if query.keyset is None:
        return sql.SQL("")
    key, row_id = sql.Identifier("m", "s0"), sql.Identifier("m", "id")
    condition = numeric_condition([key], sort.descending, query.keyset, row_id)
    assert condition is not None
    return sql.SQL(" WHERE {}").format(condition)


def _run_pushed(
    conn: Connection, scope: Scope, where: Compiled, sort: SortSql, query: Query, *, numeric: bool
) -> Selection | _NotNumbers | None:
    """Run plan 1 in one shape: the answer, None (another plan), or _NOT_NUMBERS."""
    statement, params, width = _pushed_statement(scope, where, sort, query, numeric=numeric)
    rows = conn.execute(statement, params, binary=True).fetchall()
    if not rows:
        # After a keyset, an empty page may still miss rows in doubt: another plan decides.
        return None if query.keyset is not None else counted(conn, scope, where, query)
    head = rows[0]
    total, doubtful, lossy, suspect, kinds = int(head[2]), head[3], head[4], head[5], head[6]
    if suspect:
        raise DamagedError
    if doubtful or lossy:
        return None
    if kinds:
        return _NOT_NUMBERS
    first = 7 + width
    values = [[json_value(t) for t in row[first:]] for row in rows]
    if any(sort.doubts_page(v) for v in values):
        return None
    page = [public_item(row[0], bytes(row[1])) for row in rows]
    if rows[0][7] is None:  # no row in doubt
        if query.keyset is None:
            return Selection(items=page, total=total)
        return Selection(items=page[: query.limit], total=total, more=_cut(page, query))
    ids, versions, *columns = rows[0][7:first]
    apart = [
        [i, v, *(json_value(t) for t in found)]
        for i, v, *found in zip(ids, versions, *columns, strict=True)
    ]
    return _merged(conn, sort, query, page, values, apart, total)


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
    After a keyset likewise: the page SQL gave (``limit`` + 1 rows after it) and the rows
    in doubt that follow it hold the true page and tell whether more follow.
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
    more: bool | None = None
    if query.keyset is not None:
        keyset = Keyset(values=query.keyset.values, id=query.keyset.id)
        ordered = ordered_after(ordered, Query(sort=keys, keyset=keyset))
        more = _cut(ordered, query)
    chosen = [i["id"] for i in ordered[: query.limit]]
    known = {p["id"]: p for p in page}
    bodies = read_bodies(conn, [i for i in chosen if i not in known], versions)
    return Selection(items=[known.get(i) or bodies[i] for i in chosen], total=total, more=more)


def _cut(rows: list[Any], query: Query) -> bool:
    """Whether ``rows`` (all, or ``limit`` + 1, after the keyset) go past the page."""
    return query.limit is not None and len(rows) > query.limit


def counted(conn: Connection, scope: Scope, where: Compiled, query: Query) -> Selection | None:
    """An empty page: the total, from a statement of its own.

    None when the core must decide, or when matches appeared since the page was read
    (the page would no longer be empty: the caller runs another plan).
    """
    matches, params = candidates(scope, where, compile_sort(()), lossy=True)
    statement = sql.SQL(
        "SELECT count(*), count(*) FILTER (WHERE m.doubt), {} FROM ({}) AS m"
    ).format(exists_in(scope, "NOT body_ok"), matches)
    row = conn.execute(statement, [*scope.params, *params]).fetchone()
    total, doubtful, suspect = (int(row[0]), int(row[1]), row[2]) if row else (0, 0, False)
    if suspect:
        raise DamagedError
    if doubtful or (total > query.offset and query.limit != 0):
        return None
    return Selection(items=[], total=total)
