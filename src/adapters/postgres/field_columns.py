"""Declared field indexes: a stored copy of a field's jsonb beside ``data``, indexed.

``storage.postgres.indexes`` names dot paths (``category``, ``meta.year``). Each gets a
generated column ``data`` keeps exact (``GENERATED ALWAYS AS (data -> 'category')
STORED``: PostgreSQL computes it on every write, whoever writes) and a btree index on
``(parent, column, id)``. The query compiler then reads the column instead of
``data -> 'category'``: an ``eq`` on it finds its rows in the index and counts them
from the index alone (an expression index cannot: the planner wants ``data`` for an
index-only scan), and a sort on it takes the index's order, so the first page of 10k
matches reads 10 rows. The column holds exactly what the expression gives, so every
answer is unchanged. Names are deterministic (a hash of the path); the path itself is
a literal of the generated expression, never spliced into the SQL text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import psycopg
from psycopg import sql

from flextype_adapters.postgres.sql_parts import IDENTITY
from flextype_core.query.model import Path

__all__ = ["MAX_INDEXES", "column_of", "ensure_columns", "existing_columns", "path_of"]

MAX_INDEXES = 32
"""Declared paths at most: each costs every write a column and an index entry."""

_PREFIX = "field_"


def path_of(text: str) -> Path:
    """The path of a declared dot path; ValueError when no query could read it so."""
    segments = tuple(text.split("."))
    if not text or "" in segments:
        raise ValueError(f"{text!r} is not a dot path (an empty segment)")
    if any("\x00" in segment for segment in segments):
        raise ValueError("a path holds a NUL character")
    if segments[0] in IDENTITY:
        raise ValueError(f"{text!r}: the id and slug are the primary key already")
    return segments


def column_of(path: Path) -> str:
    """The column's name (its index's is ``entries_`` and it): a hash of the path."""
    return _PREFIX + hashlib.sha256("\x00".join(path).encode()).hexdigest()[:16]


def _expression(path: Path) -> sql.Composable:
    """``value_at``'s expression, its segments literals (a generated column has no parameters).

    ``->`` for a key, ``#>`` for a segment of ASCII digits.
    """
    expr: sql.Composable = sql.SQL("data")
    for segment in path:
        if segment.isascii() and segment.isdecimal():
            expr = sql.SQL("({} #> {}::text[])").format(expr, sql.Literal([segment]))
        else:
            expr = sql.SQL("({} -> {}::text)").format(expr, sql.Literal(segment))
    return expr


def existing_columns(conn: psycopg.Connection[Any], paths: Iterable[Path]) -> dict[Path, str]:
    """The declared paths whose column and index exist in the schema (search_path)."""
    wanted = {column_of(path): path for path in paths}
    if not wanted:
        return {}
    rows = conn.execute(
        "SELECT a.attname FROM pg_attribute AS a"
        " JOIN pg_index AS x ON x.indrelid = a.attrelid"
        " JOIN pg_class AS i ON i.oid = x.indexrelid AND i.relname = 'entries_' || a.attname"
        " WHERE a.attrelid = 'entries'::regclass AND a.attname = ANY(%s) AND NOT a.attisdropped",
        [list(wanted)],
    ).fetchall()
    return {wanted[row[0]]: row[0] for row in rows}


def ensure_columns(conn: psycopg.Connection[Any], paths: Mapping[Path, str]) -> int:
    """Create the missing columns and indexes of ``paths``; return how many were missing.

    The caller holds the migration lock. Adding a stored column rewrites the table
    once (its rows are locked meanwhile); later starts find everything in place.
    """
    missing = {p: c for p, c in paths.items() if p not in existing_columns(conn, [p])}
    for path, column in missing.items():
        with conn.transaction():
            conn.execute(
                sql.SQL(
                    "ALTER TABLE entries ADD COLUMN IF NOT EXISTS {} jsonb"
                    " GENERATED ALWAYS AS ({}) STORED"
                ).format(sql.Identifier(column), _expression(path))
            )
            conn.execute(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON entries (parent, {}, id)").format(
                    sql.Identifier("entries_" + column), sql.Identifier(column)
                )
            )
    if missing:
        conn.execute("ANALYZE entries")  # the planner learns the new columns' values
    return len(missing)
