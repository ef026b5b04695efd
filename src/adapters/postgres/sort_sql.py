"""``sort_by`` compiled to SQL: the core's order where SQL can know it, and where not.

The core orders numbers, then strings (case-folded), then bools, then lists and maps,
missing and null last (``flextype_core.query.evaluate.sort_items``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from psycopg import sql

from flextype_adapters.postgres.sql_parts import EXACT_NUMBER, Fragment, value_at
from flextype_core.query.model import Path, SortKey

__all__ = ["SortSql", "compile_sort"]

_RANK = {
    # Numbers, strings, bools, then lists and maps (all equal); missing and null last,
    # whichever the direction.
    False: "CASE jsonb_typeof({}) WHEN 'number' THEN 0 WHEN 'string' THEN 1"
    " WHEN 'boolean' THEN 2 WHEN 'array' THEN 3 WHEN 'object' THEN 3 ELSE 4 END",
    True: "CASE jsonb_typeof({}) WHEN 'array' THEN 0 WHEN 'object' THEN 0"
    " WHEN 'boolean' THEN 1 WHEN 'string' THEN 2 WHEN 'number' THEN 3 ELSE 4 END",
}
_SCALAR_RANKS = {False: "(0, 2)", True: "(3, 1)"}
"""The ranks of numbers and bools, ordered by their jsonb value."""
_STRING_RANK = {False: "1", True: "2"}


class SortSql(NamedTuple):
    """How SQL orders rows for ``sort_by``, given each key's jsonb and rank in columns.

    ``values``: the jsonb at each key's path (for a select list), with its parameters;
    ``rank(i, value)``: the key's type rank in its direction (an int, also selected).
    ``order_by`` gives the ORDER BY items over both (then the id breaks ties, as the
    core's stable sort over id order does). SQL's order is the core's but where it
    cannot know the core's case folding (a string past ASCII: ``doubt``, per row) or a
    float's binary value (a number past 2**53: ``doubts_page``, over the page's values
    only, since such a number is misplaced only against another one).
    """

    values: list[tuple[sql.Composable, list[object]]]
    descending: tuple[bool, ...]
    indexed: tuple[bool, ...] = ()
    """Per key: read from a declared field index's column (its order is an index's)."""

    def rank(self, index: int, value: sql.Composable) -> sql.Composable:
        """The rank of key ``index``'s type: what orders first in its direction."""
        return sql.SQL(_RANK[self.descending[index]]).format(value)

    def order_by(
        self, values: Sequence[sql.Composable], ranks: Sequence[sql.Composable]
    ) -> sql.Composable:
        """The ORDER BY items over the key columns and their ranks (no parameters)."""
        return sql.SQL(", ").join(
            sql.SQL("{}{}").format(term, sql.SQL(" DESC" if descending else ""))
            for term, descending in self.order_terms(values, ranks)
        )

    def order_terms(
        self, values: Sequence[sql.Composable], ranks: Sequence[sql.Composable]
    ) -> list[tuple[sql.Composable, bool]]:
        """``order_by``'s items apart from their directions: (term, descending).

        Four terms a key (``keyset_sql.generic_terms`` gives a keyset's own): its rank,
        its number or bool, its string folded to lower case (ASCII), its string.
        """
        terms: list[tuple[sql.Composable, bool]] = []
        for value, rank, descending in zip(values, ranks, self.descending, strict=True):
            text = sql.SQL("CASE WHEN {} = " + _STRING_RANK[descending])
            string = sql.SQL("{} THEN ({} #>> '{{}}') COLLATE \"C\" END").format(
                text.format(rank), value
            )
            terms += [
                (rank, False),
                # Within a type: numbers by value, bools false first (jsonb's own order).
                (
                    sql.SQL("CASE WHEN {} IN " + _SCALAR_RANKS[descending] + " THEN {} END").format(
                        rank, value
                    ),
                    descending,
                ),
                (sql.SQL("lower({})").format(string), descending),
                (string, descending),
            ]
        return terms

    def native_order(self, values: Sequence[sql.Composable]) -> sql.Composable:
        """ORDER BY items in jsonb's own order, missing last (no parameters).

        The core's order while every key is a number or missing (``not_numbers`` false
        for every row).
        """
        items = [
            sql.SQL("{}{} NULLS LAST").format(value, sql.SQL(" DESC" if descending else ""))
            for value, descending in zip(values, self.descending, strict=True)
        ]
        return sql.SQL(", ").join(items)

    def not_numbers(self, values: Sequence[sql.Composable]) -> sql.Composable:
        """True for a row with a key present and not a number (JSON null included)."""
        parts = [sql.SQL("jsonb_typeof({}) <> 'number'").format(value) for value in values]
        return sql.SQL(" OR ").join(parts) if parts else sql.SQL("FALSE")

    def doubt(
        self, values: Sequence[sql.Composable], ranks: Sequence[sql.Composable]
    ) -> sql.Composable:
        """True for a row holding a string past ASCII in a key (no parameters)."""
        parts = [
            sql.SQL(
                "({} = " + _STRING_RANK[descending] + " AND octet_length({} #>> '{{}}')"
                " <> length({} #>> '{{}}'))"
            ).format(rank, value, value)
            for value, rank, descending in zip(values, ranks, self.descending, strict=True)
        ]
        return sql.SQL(" OR ").join(parts) if parts else sql.SQL("FALSE")

    @staticmethod
    def doubts_page(values: Iterable[Any]) -> bool:
        """Tell whether a page row's key values (decoded) hold a number past 2**53."""
        return any(
            isinstance(v, int | float) and not isinstance(v, bool) and abs(v) > EXACT_NUMBER
            for v in values
        )


def compile_sort(keys: Sequence[SortKey], columns: Mapping[Path, str] | None = None) -> SortSql:
    """Compile ``sort_by``: each key's value expression, its direction, its doubt.

    ``columns``: the declared field indexes in place (``value_at``).
    """
    values: list[tuple[sql.Composable, list[object]]] = []
    for key in keys:
        value = value_at(key.key, columns)
        # None: the path leads nowhere in an exact row, so the key is missing in each.
        found = Fragment(sql.SQL("NULL::jsonb")) if value is None else value.expr
        values.append((found.sql, list(found.params)))
    indexed = tuple(columns is not None and key.key in columns for key in keys)
    return SortSql(values, tuple(key.descending for key in keys), indexed)
