"""SQL pieces the query compilers share: fragments with their parameters, key paths.

A fragment is SQL text (constants of these modules only) and the parameters of its
placeholders, in order; every value, key and path segment travels as a parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from psycopg import sql

from flextype_core.query.model import Path

__all__ = [
    "EXACT_NUMBER",
    "FALSE",
    "IDENTITY",
    "TRUE",
    "Fragment",
    "Value",
    "all_of",
    "any_of",
    "cat",
    "is_kind",
    "negate",
    "param",
    "present",
    "text_of",
    "value_at",
]

EXACT_NUMBER = 2**53
"""Largest magnitude a number may have for jsonb to compare it as Python does.

jsonb holds a float as its shortest decimal (``1.2345678901234567e20``), Python as its
binary value (``123456789012345667584``): the two order differently against an integer
only past 2**53, where floats stop holding every integer.
"""

IDENTITY = ("id", "slug")
"""Top-level keys the public item takes from the entry's id, not from its fields."""


class Fragment(NamedTuple):
    """A piece of SQL and the parameters of its placeholders, in order."""

    sql: sql.Composable
    params: tuple[object, ...] = ()


TRUE = Fragment(sql.SQL("TRUE"))
FALSE = Fragment(sql.SQL("FALSE"))


def cat(*parts: str | Fragment) -> Fragment:
    """Join SQL text (constants of this module only) and fragments into one fragment."""
    pieces: list[sql.Composable] = []
    params: list[object] = []
    for part in parts:
        if isinstance(part, str):
            pieces.append(sql.SQL(part))  # constants of this module only
        else:
            pieces.append(part.sql)
            params.extend(part.params)
    return Fragment(sql.Composed(pieces), tuple(params))


def param(value: object, cast: str) -> Fragment:
    """One parameter, cast to the named SQL type."""
    return Fragment(sql.Composed([sql.Placeholder(), sql.SQL("::" + cast)]), (value,))


def _join(parts: Sequence[Fragment], glue: str, empty: Fragment) -> Fragment:
    if not parts:
        return empty
    if len(parts) == 1:
        return parts[0]
    joined: list[str | Fragment] = ["("]
    for i, part in enumerate(parts):
        if i:
            joined.append(glue)
        joined.append(part)
    joined.append(")")
    return cat(*joined)


def negate(part: Fragment) -> Fragment:
    return cat("NOT (", part, ")")


def any_of(parts: Sequence[Fragment]) -> Fragment:
    return _join(parts, " OR ", FALSE)


def all_of(parts: Sequence[Fragment]) -> Fragment:
    return _join(parts, " AND ", TRUE)


class Value(NamedTuple):
    """The jsonb at a key path (SQL NULL when absent)."""

    expr: Fragment
    containment: bool
    """The path crosses maps only, so ``data @> {...}`` tests it (and the GIN index serves)."""


def value_at(path: Path, columns: Mapping[Path, str] | None = None) -> Value | None:
    """Where ``path`` leads in a row, as Python's lookup reads it; None: nowhere, ever.

    ``columns``: declared field indexes (``field_columns``), path -> a stored column
    holding exactly the expression below: read the column instead, so its index serves.

    A segment of ASCII digits is a list index or a map key (``#>``, as Python); any
    other segment is a map key only (``->``). ``#>`` alone would also read " 1", "+1" or
    "-1" (from the end) as an index, where Python finds nothing; ``->`` with one key is
    also much cheaper than ``#>``, which parses its array on every row.
    """
    if path[0] in IDENTITY:
        # The item's id and slug are the entry's id: a string, with nothing below it.
        return (
            Value(Fragment(sql.SQL("to_jsonb(id)")), containment=False) if len(path) == 1 else None
        )
    if any("\x00" in segment for segment in path):
        return None  # jsonb holds no NUL: no exact row has such a key
    column = columns.get(path) if columns else None
    if column is not None:
        return Value(Fragment(sql.Identifier(column)), containment=False)
    expr = Fragment(sql.SQL("data"))
    indexed = False
    for segment in path:
        if segment.isascii() and segment.isdecimal():
            expr = cat("(", expr, " #> ", param([segment], "text[]"), ")")
            indexed = True
        else:
            expr = cat("(", expr, " -> ", param(segment, "text"), ")")
    return Value(expr, containment=not indexed)


def is_kind(value: Fragment, *kinds: str) -> Fragment:
    """The jsonb is of one of ``kinds`` (constants: 'string', 'number', ...)."""
    if len(kinds) == 1:
        return cat("jsonb_typeof(", value, ") = '" + kinds[0] + "'")
    listed = ", ".join(f"'{kind}'" for kind in kinds)
    return cat("jsonb_typeof(", value, ") IN (" + listed + ")")


def present(value: Fragment) -> Fragment:
    return cat("jsonb_typeof(", value, ") <> 'null'")


def text_of(value: Fragment) -> Fragment:
    """The text of a jsonb string."""
    return cat("(", value, " #>> '{}')")
