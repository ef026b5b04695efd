"""A cursor's keyset as SQL: "this row comes after the keyset" in the pushed plan's order.

The pushed plan orders rows by terms (``SortSql.order_terms``, or jsonb's own order in
the numeric shape), then the id. A keyset becomes the same terms computed in Python
from its values, so the condition is a plain lexicographic comparison. It is pushed
down only where SQL's order is the core's for the keyset itself: no string past ASCII
(case folding is the core's) and no number past 2**53 (a float's binary value); else
``keyset_condition`` gives None and a plan that orders in the core answers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import msgspec
from psycopg import sql

from flextype_adapters.postgres.sql_parts import EXACT_NUMBER
from flextype_core.query.model import Keyset

__all__ = ["generic_terms", "keyset_condition", "numeric_condition", "pushable"]

_JSON = msgspec.json.Encoder()
_RANKS = {
    False: {"number": 0, "string": 1, "boolean": 2, "other": 3, "null": 4},
    True: {"other": 0, "boolean": 1, "string": 2, "number": 3, "null": 4},
}
"""``sort_sql._RANK`` in Python: a type's rank in each direction."""


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "other"


def pushable(keyset: Keyset) -> bool:
    """Whether SQL orders rows against ``keyset`` as the core does (and can spell it)."""
    if "\x00" in keyset.id:
        return False
    for value in keyset.values:
        kind = _kind(value)
        if kind == "string" and (not value.isascii() or "\x00" in value):
            return False
        if kind == "number" and not (math.isfinite(value) and abs(value) <= EXACT_NUMBER):
            return False  # JSON has no NaN; past 2**53 jsonb may hold another value
    return True


def generic_terms(keyset: Keyset, descending: Sequence[bool]) -> list[sql.Composable]:
    """The keyset's ``order_terms`` (rank, number or bool, lower-case string, string)."""
    terms: list[sql.Composable] = []
    for value, desc in zip(keyset.values, descending, strict=True):
        kind = _kind(value)
        rank = _RANKS[desc][kind]
        scalar = kind in ("number", "boolean")
        text = value if kind == "string" else None
        terms += [
            sql.Literal(rank),
            sql.SQL("{}::jsonb").format(sql.Literal(_JSON.encode(value).decode()))
            if scalar
            else sql.SQL("NULL::jsonb"),
            sql.SQL('{}::text COLLATE "C"').format(sql.Literal(text.lower()))
            if text is not None
            else sql.SQL("NULL::text"),
            sql.SQL('{}::text COLLATE "C"').format(sql.Literal(text))
            if text is not None
            else sql.SQL("NULL::text"),
        ]
    return terms


def keyset_condition(
    rows: Sequence[tuple[sql.Composable, bool]],
    keyset: Sequence[sql.Composable],
    row_id: sql.Composable,
    last_id: str,
) -> sql.Composable:
    """A row's terms (and id) strictly after the keyset's, lexicographically.

    Within equal earlier terms a row's term and the keyset's are both NULL or both
    not (the rank decides which terms a type fills), so a NULL comparison, which the
    ORs and ANDs treat as false, only ever stands for "equal, look further".
    """
    parts: list[sql.Composable] = []
    equal: list[sql.Composable] = []
    for (term, descending), theirs in zip(rows, keyset, strict=True):
        way = sql.SQL("<" if descending else ">")
        parts.append(
            sql.SQL("({})").format(
                sql.SQL(" AND ").join([*equal, sql.SQL("{} {} {}").format(term, way, theirs)])
            )
        )
        equal.append(sql.SQL("{} IS NOT DISTINCT FROM {}").format(term, theirs))
    last = sql.SQL('{} > {}::text COLLATE "C"').format(row_id, sql.Literal(last_id))
    parts.append(sql.SQL("({})").format(sql.SQL(" AND ").join([*equal, last])))
    return sql.SQL("({})").format(sql.SQL(" OR ").join(parts))


def numeric_condition(
    values: Sequence[sql.Composable],
    descending: Sequence[bool],
    keyset: Keyset,
    row_id: sql.Composable,
) -> sql.Composable | None:
    """After the keyset in jsonb's own order, missing last; None: a key is no number."""
    parts: list[sql.Composable] = []
    equal: list[sql.Composable] = []
    for value, desc, theirs in zip(values, descending, keyset.values, strict=True):
        kind = _kind(theirs)
        if kind == "null":
            equal.append(sql.SQL("{} IS NULL").format(value))
            continue
        if kind != "number":
            return None
        literal = sql.SQL("{}::jsonb").format(sql.Literal(_JSON.encode(theirs).decode()))
        way = sql.SQL("<" if desc else ">")
        after = sql.SQL("({} {} {} OR {} IS NULL)").format(value, way, literal, value)
        parts.append(sql.SQL("({})").format(sql.SQL(" AND ").join([*equal, after])))
        equal.append(sql.SQL("{} = {}").format(value, literal))
    last = sql.SQL('{} > {}::text COLLATE "C"').format(row_id, sql.Literal(keyset.id))
    parts.append(sql.SQL("({})").format(sql.SQL(" AND ").join([*equal, last])))
    return sql.SQL("({})").format(sql.SQL(" OR ").join(parts))
