"""``entry_queries.select`` for a query with a search: ``search @@ q``, then the core if needed.

The same three plans as without a search, each answering what ``Collections.select``
answers over the entries of the range (``evaluate.select_from`` with the matches'
scores, then the keyset or offset page):

1. **Pushed** (one statement), for relevance order, a where SQL decides exactly and
   every field searched: the matches (``search @@ q``, the GIN index), their
   ``ts_rank_cd``, the total, the page after the keyset (``(rank, id)``) and its bodies.
   Flags in the same statement send the query on when a row of the range is in doubt.
2. **Sparse** (two statements): the matches' ids, ranks and the top-level fields the
   where, the sort and ``search.fields`` read; the core tests, orders and pages them;
   the page's bodies are read by id, checked to be the versions seen first. Rows whose
   word positions PostgreSQL could not all keep (``search_exact``) come with their
   bodies when the search holds a phrase, and the reference matcher decides for them.
3. **Whole range**: every body, the reference matcher (``search_match.matches``) for
   each, ranks from the stored tsvectors (or from one built here, for rows changed by
   hand: ``search_ok`` false). For groups in the where, damaged rows and races.

With ``search.fields``, SQL searches the positive part only (an excluded word in
another field must not exclude) and the core checks the fields, as ``select_from`` does.
The relevance is ``ts_rank_cd`` as float8, the same in every plan, so cursors taken on
one plan's page place items alike on another's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from psycopg import sql

from flextype_adapters.postgres.plan_rows import (
    JSON_VALUE,
    Connection,
    DamagedError,
    RacedError,
    Scope,
    exists_in,
    item_of,
    public_item,
    read_bodies,
)
from flextype_adapters.postgres.query_sql import Compiled, compile_where, field_keys
from flextype_adapters.postgres.search_sql import has_phrase, tsquery_text, tsvector_literal
from flextype_adapters.postgres.sparse_plan import has_big_number
from flextype_core.model import Selection
from flextype_core.query.clauses import leaves
from flextype_core.query.evaluate import select_from
from flextype_core.query.keyset import by_relevance, paged
from flextype_core.query.model import Path, Query
from flextype_core.query.prefilter import IndexedItems
from flextype_core.query.search_match import matches
from flextype_core.query.search_syntax import SearchExpr
from flextype_core.query.search_text import document

__all__ = ["select"]

_RACES = 3
"""Sparse plans run before the whole-range one, when other writers keep changing the page."""
_Q = sql.SQL("WITH s AS (SELECT %s::tsquery AS q) ")
_RANK = sql.SQL("ts_rank_cd(search, s.q)::float8")


class _UnsearchedError(Exception):
    """The range holds a row whose search columns were not built from its body."""


def _positive(query: Query) -> SearchExpr:
    """What SQL searches: the whole search, or its positive part when fields are named."""
    assert query.search is not None
    expr = query.search.expr
    return expr if query.search.fields is None else SearchExpr(required=expr.required)


def select(conn: Connection, scope: Scope, query: Query, columns: Mapping[Path, str]) -> Selection:
    """The collection part of a query with a search (``EntryStore.select``'s contract)."""
    assert query.search is not None
    expr = _positive(query)
    where = compile_where(query.where, columns)
    found: Selection | None = None
    try:
        if where.exact and by_relevance(query) and query.search.fields is None:
            with contextlib.suppress(RacedError):
                found = _pushed(conn, scope, where, expr, query)
        attempts = 0
        while found is None and attempts < _RACES:
            attempts += 1
            with contextlib.suppress(RacedError):
                found = _sparse(conn, scope, where, expr, query)
    except (DamagedError, _UnsearchedError):
        found = None
    return found if found is not None else _whole_range(conn, scope, expr, query)


def _paged(
    selected: list[dict[str, Any]], query: Query, scores: Mapping[str, float]
) -> tuple[list[dict[str, Any]], bool]:
    """``keyset.paged``, telling ``more`` for an offset page too (as plan 1 does)."""
    chosen, more = paged(selected, query, scores)
    return chosen, query.offset + len(chosen) < len(selected) if more is None else more


def _after(query: Query) -> tuple[sql.Composable, list[object]]:
    """The keyset condition over a row's ``rank`` and ``id`` (relevance order)."""
    keyset = query.keyset
    if keyset is None:
        return sql.SQL("TRUE"), []
    if keyset.score is None:
        return sql.SQL("id > %s"), [keyset.id]
    return sql.SQL("(rank < %s OR (rank = %s AND id > %s))"), [
        keyset.score,
        keyset.score,
        keyset.id,
    ]


def _flags(scope: Scope, query: Query, expr: SearchExpr) -> tuple[sql.Composable, list[object]]:
    """Four select items: whether the range holds damaged, unsearched, lossy or inexact rows.

    Lossy rows matter only to a where, inexact ones only to phrases.
    """
    checks: list[sql.Composable] = [exists_in(scope, "NOT body_ok"), _exists(scope, "search_ok")]
    params: list[object] = [*scope.params, *scope.params]
    if query.where:
        checks.append(exists_in(scope, "NOT data_exact"))
        params += scope.params
    else:
        checks.append(sql.SQL("FALSE"))
    if has_phrase(expr):
        checks.append(_exists(scope, "search_exact"))
        params += scope.params
    else:
        checks.append(sql.SQL("FALSE"))
    return sql.SQL(", ").join(checks), params


def _exists(scope: Scope, column: str) -> sql.Composable:
    """Whether a row of the range has ``column`` false (each has a partial index)."""
    return sql.SQL("(SELECT EXISTS (SELECT FROM entries WHERE NOT {} AND {}))").format(
        sql.Identifier(column), scope.sql
    )


def _pushed(
    conn: Connection, scope: Scope, where: Compiled, expr: SearchExpr, query: Query
) -> Selection | None:
    """Plan 1; None when a row of the range may be answered wrong by SQL."""
    after, after_params = _after(query)
    flags, flag_params = _flags(scope, query, expr)
    statement = _Q + sql.SQL(
        ", m AS MATERIALIZED (SELECT id, {rank} AS rank FROM entries, s"
        " WHERE {scope} AND search @@ s.q AND ({where}))"
        ", t AS (SELECT count(*) AS total, count(*) FILTER (WHERE {after}) AS rest FROM m)"
        " SELECT t.total, t.rest, {flags}, p.id, e.body, p.rank FROM t LEFT JOIN LATERAL ("
        "SELECT id, rank FROM m WHERE {after} ORDER BY rank DESC, id OFFSET %s LIMIT %s"
        ") AS p ON TRUE LEFT JOIN entries AS e ON e.id = p.id ORDER BY p.rank DESC, p.id"
    ).format(rank=_RANK, scope=scope.sql, where=where.sql, after=after, flags=flags)
    limit = None if query.limit is None else min(query.limit, 2**62)
    params = [
        tsquery_text(expr),
        *scope.params,
        *where.params,
        *after_params,
        *flag_params,
        *after_params,
        min(query.offset, 2**62),
        limit,
    ]
    rows = conn.execute(statement, params, binary=True).fetchall()
    total, rest, suspect, unsearched, lossy, inexact = rows[0][:6]
    if suspect:
        raise DamagedError
    if unsearched:
        raise _UnsearchedError
    if lossy or inexact:
        return None
    found = [row for row in rows if row[6] is not None]
    items = [public_item(row[6], bytes(row[7])) for row in found]
    return Selection(
        items=items,
        total=int(total),
        scores=tuple(float(row[8]) for row in found),
        more=int(rest) > min(query.offset, 2**62) + len(items),
    )


def _sparse(
    conn: Connection, scope: Scope, where: Compiled, expr: SearchExpr, query: Query
) -> Selection:
    """Plan 2: the core decides over small items; the page's bodies are read by id."""
    assert query.search is not None
    keys = field_keys(
        [
            *(clause.key for clause in leaves(query.where)),
            *(k.key for k in query.sort),
            *(query.search.fields or ()),
        ]
    )
    phrases = has_phrase(expr)
    doubt = sql.SQL("NOT data_exact OR NOT search_exact" if phrases else "NOT data_exact")
    matched = sql.SQL("search @@ s.q OR NOT search_exact" if phrases else "search @@ s.q")
    statement = _Q + sql.SQL(
        "SELECT {suspect}, {unsearched}, m.* FROM (SELECT 1) AS one LEFT JOIN ("
        "SELECT id, xmin::text, {rank}, search @@ s.q, CASE WHEN {doubt} THEN body END{columns}"
        " FROM entries, s WHERE {scope} AND ({matched}) AND (({where}) OR NOT data_exact)"
        ") AS m ON TRUE ORDER BY m.id"
    ).format(
        suspect=exists_in(scope, "NOT body_ok"),
        unsearched=_exists(scope, "search_ok"),
        rank=_RANK,
        doubt=doubt,
        columns=sql.SQL("").join(sql.SQL(", (data -> %s)::text") for _ in keys),
        scope=scope.sql,
        matched=matched,
        where=where.sql,
    )
    params = [
        tsquery_text(expr),
        *scope.params,
        *scope.params,
        *keys,
        *scope.params,
        *where.params,
    ]
    rows = conn.execute(statement, params, binary=True).fetchall()
    if rows[0][0]:
        raise DamagedError
    if rows[0][1]:
        raise _UnsearchedError
    versions: dict[str, str] = {}
    scores: dict[str, float] = {}
    items: list[dict[str, Any]] = []
    unsure: list[str] = []
    for entry_id, version, rank, hit, body, *values in (r[2:] for r in rows if r[2] is not None):
        versions[entry_id] = version
        if body is not None:  # data not exact, or positions lost: the body decides
            item = public_item(entry_id, bytes(body))
            hit = hit if not phrases else matches(expr, document(item))
        else:
            pairs = zip(keys, values, strict=True)
            fields = {k: JSON_VALUE.decode(t) for k, t in pairs if t is not None}
            item = item_of(entry_id, fields)
            if has_big_number(fields.values()):
                unsure.append(entry_id)
        if hit:
            scores[entry_id] = float(rank)
            items.append(item)
    if unsure:  # jsonb may hold such a float as its decimal: the body holds the binary value
        bodies = read_bodies(conn, [i for i in unsure if i in scores], versions)
        items = [bodies.get(item["id"], item) for item in items]
    selected = select_from(query, IndexedItems(items), scores)
    chosen, more = _paged(selected, query, scores)
    bodies = read_bodies(conn, [item["id"] for item in chosen], versions)
    return Selection(
        items=[bodies[item["id"]] for item in chosen],
        total=len(selected),
        scores=tuple(scores[item["id"]] for item in chosen),
        more=more,
    )


def _whole_range(conn: Connection, scope: Scope, expr: SearchExpr, query: Query) -> Selection:
    """Plan 3: every body of the range, the reference matcher, ranks from PostgreSQL."""
    statement = _Q + sql.SQL(
        "SELECT id, body, CASE WHEN search_ok THEN {} END FROM entries, s WHERE {} ORDER BY id"
    ).format(_RANK, scope.sql)
    text = tsquery_text(expr)
    items: list[dict[str, Any]] = []
    damaged: list[str] = []
    scores: dict[str, float] = {}
    unranked: list[dict[str, Any]] = []
    for entry_id, body, rank in conn.execute(statement, [text, *scope.params], binary=True):
        try:
            item = public_item(entry_id, bytes(body))
        except DamagedError:
            damaged.append(entry_id)
            continue
        items.append(item)
        if matches(expr, document(item)):
            if rank is None:
                unranked.append(item)
            else:
                scores[entry_id] = float(rank)
    if unranked:  # changed by hand: ranked on the words of the body as it is now
        literals = [tsvector_literal(document(item))[0] for item in unranked]
        ranks = conn.execute(
            "SELECT ts_rank_cd(v::tsvector, %s::tsquery)::float8"
            " FROM unnest(%s::text[]) WITH ORDINALITY AS u (v, n) ORDER BY n",
            [text, literals],
        ).fetchall()
        for item, (rank,) in zip(unranked, ranks, strict=True):
            scores[item["id"]] = float(rank)
    selected = select_from(query, IndexedItems(items), scores)
    chosen, more = _paged(selected, query, scores)
    return Selection(
        items=chosen,
        total=len(selected),
        unreadable=tuple(damaged),
        scores=tuple(scores[item["id"]] for item in chosen),
        more=more,
    )
