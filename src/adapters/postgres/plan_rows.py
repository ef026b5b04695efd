"""What the plans of ``entry_queries.select`` share: the range, candidates, rows read back."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
import psycopg
from psycopg import sql

from flextype_adapters.postgres.query_sql import Compiled, SortSql
from flextype_adapters.postgres.rows import decode_fields, depth_of, subtree
from flextype_core.errors import StorageError
from flextype_core.query.model import Query

__all__ = [
    "JSON_VALUE",
    "Connection",
    "DamagedError",
    "RacedError",
    "Scope",
    "candidates",
    "exists_in",
    "item_of",
    "json_value",
    "page_bounds",
    "public_item",
    "read_bodies",
]

Connection = psycopg.Connection[Any]
Fields = dict[str, Any]

JSON_VALUE = msgspec.json.Decoder()
_MAX_COUNT = 2**62
"""Offsets and limits past this (bigint) are all the same: past every row."""


class DamagedError(Exception):
    """A body that cannot be decoded: only the whole-range plan reports it."""


class RacedError(Exception):
    """A row changed between the statements of the sparse plan."""


def public_item(entry_id: str, body: bytes) -> dict[str, Any]:
    """The public item of a row's body."""
    try:
        fields = decode_fields(entry_id, body)
    except StorageError as exc:
        raise DamagedError from exc
    return item_of(entry_id, fields)


def item_of(entry_id: str, fields: Fields) -> dict[str, Any]:
    return {**fields, "id": entry_id, "slug": entry_id}


class Scope:
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


def page_bounds(query: Query) -> list[object]:
    limit = None if query.limit is None else min(query.limit, _MAX_COUNT)
    return [min(query.offset, _MAX_COUNT), limit]


def candidates(
    scope: Scope,
    where: Compiled,
    sort: SortSql,
    *,
    lossy: bool,
    ranks: bool = True,
    fenced: bool = True,
) -> tuple[sql.Composable, list[object]]:
    """The candidate rows: id, version, each sort key's jsonb (s0...) and rank (r0...), doubt.

    ``lossy``: include the rows whose ``data`` is not exact (always in doubt).
    ``ranks``: add each key's type rank (and the row version) for the generic order.
    ``fenced``: ``OFFSET 0`` keeps the subquery apart, so each key is read out of
    ``data`` once; unfenced, an outer ORDER BY and LIMIT may take an index's order.
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
    statement = sql.SQL("SELECT {} FROM entries WHERE {} AND ({}){}").format(
        sql.SQL(", ").join(columns), scope.sql, condition, sql.SQL(" OFFSET 0" if fenced else "")
    )
    return statement, [*params, *scope.params, *where.params]


def json_value(text: str | None) -> Any:
    """A jsonb value read as text; None for SQL NULL (a missing key), as for JSON null."""
    return None if text is None else JSON_VALUE.decode(text)


def read_bodies(conn: Connection, ids: list[str], versions: dict[str, str]) -> dict[str, Any]:
    """The public items of ``ids``, as the first statement saw them (else ``RacedError``)."""
    if not ids:
        return {}
    rows = conn.execute(
        "SELECT id, xmin::text, body FROM entries WHERE id = ANY(%s::text[])", [ids], binary=True
    ).fetchall()
    if len(rows) != len(ids) or any(versions[row[0]] != row[1] for row in rows):
        raise RacedError
    return {row[0]: public_item(row[0], bytes(row[2])) for row in rows}


def exists_in(scope: Scope, condition: Literal["NOT data_exact", "NOT body_ok"]) -> sql.Composable:
    """Whether a row of the range meets ``condition`` (a constant), as one select item.

    The conditions have partial indexes (``data_exact``, ``body_ok``): one probe each.
    """
    return sql.SQL("(SELECT EXISTS (SELECT FROM entries WHERE {} AND {}))").format(
        sql.SQL(condition), scope.sql
    )
