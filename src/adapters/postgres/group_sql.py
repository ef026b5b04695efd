"""How compiled ``where`` conditions combine in ``or``, ``and`` and ``not`` groups.

A compiled condition (``Cond``) is a superset of its matches (``cond``) and the rows
that may be false positives among those (``doubt``). ``and`` and ``or`` of supersets
are supersets; ``not`` of a superset would be a subset, so ``not`` negates the rows
that SURELY match instead (``cond`` and not in doubt), and leaves the rows in doubt
in doubt. SQL's NULL (a missing key) counts as false in ``cond`` and as true in
``doubt`` wherever a negation could turn it around.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from flextype_adapters.postgres.sql_parts import FALSE, TRUE, Fragment, all_of, any_of, cat

__all__ = ["MAX_PARAMS", "Cond", "all_group", "any_group", "bounded", "exact", "negated"]

MAX_PARAMS = 4000
"""Most parameters a compiled group (or the whole ``where``) may carry, its doubt's too.

``not`` and ``or`` over inexact members repeat them (the sure form beside the superset):
nested deep, the SQL could double at each level. Past this the group compiles to TRUE,
every row in doubt, and the core decides (a statement holds at most 65,535 parameters,
and the plans use the where several times)."""


class Cond(NamedTuple):
    """A condition over one entries row: a superset of the matches, and its doubt."""

    cond: Fragment
    doubt: Fragment | None
    """Holds for every row passing ``cond`` that may not match (FALSE when exact);
    None: every such row may be a false positive."""

    @property
    def exact(self) -> bool:
        return self.doubt is FALSE


def exact(cond: Fragment) -> Cond:
    return Cond(cond, FALSE)


def _true(part: Fragment) -> Fragment:
    return cat("coalesce(", part, ", FALSE)")


def _doubtful(member: Cond) -> Fragment:
    """The rows of ``member`` in doubt, NULL read as in doubt."""
    if member.doubt is None:
        return _true(member.cond)
    return all_of([_true(member.cond), cat("coalesce(", member.doubt, ", TRUE)")])


def _sure(member: Cond) -> Fragment:
    """Rows that surely match ``member``: a subset of its matches (never NULL)."""
    if member.exact:
        return _true(member.cond)
    if member.doubt is None:
        return FALSE
    return all_of([_true(member.cond), cat("NOT coalesce(", member.doubt, ", TRUE)")])


def all_group(members: Sequence[Cond]) -> Cond:
    """``and``: every member's superset; a false positive is in some member's doubt."""
    cond = all_of([m.cond for m in members])
    if any(m.doubt is None for m in members):
        return Cond(cond, None)
    return Cond(cond, any_of([m.doubt for m in members if m.doubt is not None and not m.exact]))


def any_group(members: Sequence[Cond]) -> Cond:
    """``or``: any member's superset; in doubt unless some member surely holds."""
    cond = any_of([m.cond for m in members])
    if all(m.exact for m in members):
        return exact(cond)
    sure = [_sure(m) for m in members if m.doubt is not None]
    if not sure:
        return Cond(cond, None)
    return Cond(cond, cat("NOT ", any_of(sure)))


def negated(member: Cond) -> Cond:
    """``not``: every row but those that surely match; those that may match in doubt."""
    if member.exact:
        return exact(cat("NOT ", _true(member.cond)))
    if member.doubt is None:
        return Cond(TRUE, _true(member.cond))
    return Cond(cat("NOT ", _sure(member)), _doubtful(member))


def bounded(found: Cond) -> Cond:
    """``found``, or TRUE with every row in doubt when it carries over ``MAX_PARAMS``."""
    size = len(found.cond.params) + (0 if found.doubt is None else len(found.doubt.params))
    return found if size <= MAX_PARAMS else Cond(TRUE, None)
