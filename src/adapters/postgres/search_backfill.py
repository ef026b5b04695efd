"""Rebuild the search columns of rows whose body they were not built from (``search_ok``).

Rows written before migration 0006, and rows changed or inserted by hand in SQL. Runs
when the migration applies and at each ``migrate`` and server start (under the
migration lock); queries are right meanwhile (the core decides for such rows).
"""

from __future__ import annotations

from typing import Any

import psycopg

from flextype_adapters.postgres.rows import decode_fields
from flextype_adapters.postgres.search_sql import search_columns
from flextype_core.errors import StorageError

__all__ = ["BATCH", "SEARCH_MIGRATION", "rebuild_search"]

SEARCH_MIGRATION = 6
"""The migration that adds the search columns."""
BATCH = 500
"""Rows read and written per statement."""

_UPDATE = (
    "UPDATE entries AS e SET search = u.search::tsvector, search_of = u.search_of,"
    " search_exact = u.search_exact"
    " FROM unnest(%b::text[], %b::text[], %b::bytea[], %b::bool[])"
    " AS u (id, search, search_of, search_exact)"
    " WHERE e.id = u.id AND sha256(e.body) = u.search_of"  # not if changed since read
)


def rebuild_search(conn: psycopg.Connection[Any]) -> int:
    """Rebuild every row whose ``search_ok`` is false; return how many were rebuilt.

    Each batch is a transaction of its own when ``conn`` is not in one. A body that
    cannot be read gets no words (it is unreadable, never a match).
    """
    done = 0
    last = ""
    while True:
        rows = conn.execute(
            "SELECT id, body FROM entries WHERE NOT search_ok AND id > %s ORDER BY id LIMIT %s",
            [last, BATCH],
            binary=True,
        ).fetchall()
        if not rows:
            return done
        columns: list[list[Any]] = [[], [], [], []]
        for entry_id, stored in rows:
            body = bytes(stored)
            try:
                fields: dict[str, Any] | None = decode_fields(entry_id, body)
            except StorageError:
                fields = None
            found = search_columns(entry_id, fields, body)
            for column, value in zip(
                columns, (entry_id, found.vector, found.digest, found.exact), strict=True
            ):
                column.append(value)
        with conn.transaction():
            conn.execute(_UPDATE, columns)
        done += len(rows)
        last = rows[-1][0]
