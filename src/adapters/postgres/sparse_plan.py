"""Plans 2 and 3 of ``entry_queries.select``: the core decides, SQL narrows and reads.

Sparse: SQL returns each candidate's id and only the top-level fields the where and
sort read; the core tests and sorts these small items and a second statement reads the
page's bodies by id, each checked to be the version the first statement saw. Whole
range: every body decoded and the core's pipeline run, the unreadable named.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import sql

from flextype_adapters.postgres.plan_rows import (
    JSON_VALUE,
    Connection,
    DamagedError,
    Scope,
    exists_in,
    item_of,
    public_item,
    read_bodies,
)
from flextype_adapters.postgres.query_sql import EXACT_NUMBER, Compiled, field_keys
from flextype_core.model import Selection
from flextype_core.query import clauses, evaluate
from flextype_core.query.keyset import paged
from flextype_core.query.model import Query

__all__ = ["has_big_number", "sparse", "whole_range"]


def sparse(conn: Connection, scope: Scope, where: Compiled, query: Query) -> Selection:
    """Plan 2: the core decides over small items; the page's bodies are read by id."""
    keys = field_keys([c.key for c in clauses.leaves(query.where)] + [k.key for k in query.sort])
    columns = [sql.SQL("(data -> %s)::text") for _ in keys]
    # One row at least (the check for damaged rows), then the candidates in id order.
    statement = sql.SQL(
        "SELECT {suspect}, m.* FROM (SELECT 1) AS one LEFT JOIN ("
        "SELECT id, xmin::text, CASE WHEN data_exact THEN NULL ELSE body END{columns}"
        " FROM entries WHERE {scope} AND (({where}) OR NOT data_exact)"
        ") AS m ON TRUE ORDER BY m.id"
    ).format(
        suspect=exists_in(scope, "NOT body_ok"),
        columns=sql.SQL("").join(sql.SQL(", {}").format(c) for c in columns),
        scope=scope.sql,
        where=where.sql,
    )
    params = [*scope.params, *keys, *scope.params, *where.params]
    found_rows = conn.execute(statement, params, binary=True).fetchall()
    if found_rows[0][0]:
        raise DamagedError
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
            items.append(public_item(entry_id, bytes(body)))
            continue
        fields = {
            key: JSON_VALUE.decode(text)
            for key, text in zip(keys, row[3:], strict=True)
            if text is not None
        }
        if has_big_number(fields.values()):
            unsure.append(entry_id)
        items.append(item_of(entry_id, fields))
    if unsure:
        # jsonb may hold such a float as its decimal: the body holds the binary value.
        bodies = read_bodies(conn, unsure, versions)
        items = [bodies.get(item["id"], item) for item in items]
    if not where.exact or lossy or unsure:
        test = clauses.compile_where(query.where)
        items = [item for item in items if test(item)]
    found = evaluate.sort_items(items, query.sort)
    page, more = paged(found, query)
    bodies = read_bodies(conn, [item["id"] for item in page], versions)
    return Selection(items=[bodies[item["id"]] for item in page], total=len(found), more=more)


def has_big_number(values: Iterable[Any]) -> bool:
    """Tell whether an integer past 2**53 lies anywhere in ``values`` (maps, lists too)."""
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > EXACT_NUMBER:
            return True
        if isinstance(value, list) and has_big_number(value):
            return True
        if isinstance(value, dict) and has_big_number(value.values()):
            return True
    return False


def whole_range(conn: Connection, scope: Scope, query: Query) -> Selection:
    """Plan 3: every body of the range, and the core's pipeline over them."""
    statement = sql.SQL("SELECT id, body FROM entries WHERE {} ORDER BY id").format(scope.sql)
    items, damaged = [], []
    for entry_id, body in conn.execute(statement, scope.params, binary=True):
        try:
            items.append(public_item(entry_id, bytes(body)))
        except DamagedError:
            damaged.append(entry_id)
    found = evaluate.select(query, items)
    page, more = paged(found, query)
    return Selection(items=page, total=len(found), unreadable=tuple(damaged), more=more)
