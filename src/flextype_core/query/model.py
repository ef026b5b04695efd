"""The typed form of a collection query: clauses (a tagged union), sort keys and options."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from flextype_core.model import Model
from flextype_core.query.search_syntax import SearchExpr

__all__ = [
    "OPERATORS",
    "AllOf",
    "AnyOf",
    "Between",
    "Clause",
    "Condition",
    "Contains",
    "EndsWith",
    "Eq",
    "Gt",
    "Gte",
    "In",
    "Keyset",
    "Lt",
    "Lte",
    "NBetween",
    "NContains",
    "NRegexp",
    "Neq",
    "Newer",
    "Nin",
    "Not",
    "Older",
    "Path",
    "Query",
    "Regexp",
    "ReturnMode",
    "Scalar",
    "Search",
    "SortKey",
    "StartsWith",
]

Scalar = str | int | float | bool
"""A clause value: a string from a query string, or a typed JSON scalar."""

Path = tuple[str, ...]
"""A dot path split into segments: ``author.name`` is ``("author", "name")``."""

ReturnMode = Literal["all", "first", "last", "next", "random", "shuffle"]


class _Clause(Model, frozen=True, kw_only=True, tag_field="op"):
    """Base of every clause: the field it tests. The tag (``op``) names the operator."""

    key: Path
    """The dot path of the tested field."""

    @property
    def op(self) -> str:
        """The canonical operator name (the struct's tag)."""
        return str(self.__struct_config__.tag)


class Eq(_Clause, frozen=True, kw_only=True, tag="eq"):
    """The field equals ``value`` (compared by the field's type)."""

    value: Scalar


class Neq(_Clause, frozen=True, kw_only=True, tag="neq"):
    """The field is comparable with ``value`` and differs from it."""

    value: Scalar


class Lt(_Clause, frozen=True, kw_only=True, tag="lt"):
    """The field orders before ``value``."""

    value: Scalar


class Gt(_Clause, frozen=True, kw_only=True, tag="gt"):
    """The field orders after ``value``."""

    value: Scalar


class Lte(_Clause, frozen=True, kw_only=True, tag="lte"):
    """The field orders before or equals ``value``."""

    value: Scalar


class Gte(_Clause, frozen=True, kw_only=True, tag="gte"):
    """The field orders after or equals ``value``."""

    value: Scalar


class In(_Clause, frozen=True, kw_only=True, tag="in"):
    """The field equals one of ``value``."""

    value: tuple[Scalar, ...]


class Nin(_Clause, frozen=True, kw_only=True, tag="nin"):
    """The field is ``neq`` every one of ``value``."""

    value: tuple[Scalar, ...]


class Contains(_Clause, frozen=True, kw_only=True, tag="contains"):
    """A string field has ``value`` as a substring; a list field has it as an element."""

    value: Scalar


class NContains(_Clause, frozen=True, kw_only=True, tag="ncontains"):
    """A string or list field for which ``contains`` does not hold."""

    value: Scalar


class StartsWith(_Clause, frozen=True, kw_only=True, tag="starts_with"):
    """A string field starts with ``value``."""

    value: Scalar


class EndsWith(_Clause, frozen=True, kw_only=True, tag="ends_with"):
    """A string field ends with ``value``."""

    value: Scalar


class Between(_Clause, frozen=True, kw_only=True, tag="between"):
    """The field lies between the two bounds, both included."""

    value: tuple[Scalar, Scalar]


class NBetween(_Clause, frozen=True, kw_only=True, tag="nbetween"):
    """The field is comparable with both bounds and lies outside them."""

    value: tuple[Scalar, Scalar]


class Regexp(_Clause, frozen=True, kw_only=True, tag="regexp"):
    """A string field contains a match of ``value``, ignoring case."""

    value: str


class NRegexp(_Clause, frozen=True, kw_only=True, tag="nregexp"):
    """A string field contains no match of ``value``, ignoring case."""

    value: str


class Newer(_Clause, frozen=True, kw_only=True, tag="newer"):
    """The field is a date after ``value`` (a Unix time in seconds)."""

    value: float


class Older(_Clause, frozen=True, kw_only=True, tag="older"):
    """The field is a date before ``value`` (a Unix time in seconds)."""

    value: float


Clause = (
    Eq
    | Neq
    | Lt
    | Gt
    | Lte
    | Gte
    | In
    | Nin
    | Contains
    | NContains
    | StartsWith
    | EndsWith
    | Between
    | NBetween
    | Regexp
    | NRegexp
    | Newer
    | Older
)
"""One ``where`` clause; ``match`` on the class to evaluate it."""

OPERATORS: dict[str, type[Clause]] = {
    str(cls.__struct_config__.tag): cls
    for cls in (
        Eq,
        Neq,
        Lt,
        Gt,
        Lte,
        Gte,
        In,
        Nin,
        Contains,
        NContains,
        StartsWith,
        EndsWith,
        Between,
        NBetween,
        Regexp,
        NRegexp,
        Newer,
        Older,
    )
}
"""Canonical operator name to clause class."""

MAX_NESTING = 8
"""Deepest nesting of ``or``/``and``/``not`` groups in ``where`` (a clause at the top is 0)."""


class AnyOf(Model, frozen=True, kw_only=True, tag_field="op", tag="or"):
    """A group that holds when at least one of its members holds (``where[i][or][j]``)."""

    items: tuple[Condition, ...]


class AllOf(Model, frozen=True, kw_only=True, tag_field="op", tag="and"):
    """A group that holds when every member holds (``where[i][and][j]``)."""

    items: tuple[Condition, ...]


class Not(Model, frozen=True, kw_only=True, tag_field="op", tag="not"):
    """Holds when its member does not: ``not`` of a clause on a missing field holds."""

    item: Condition


Condition = Clause | AnyOf | AllOf | Not
"""One item of ``where``: a clause or a group of conditions."""


class SortKey(Model, frozen=True, kw_only=True):
    """One key of ``sort_by``."""

    key: Path
    descending: bool = False


class Search(Model, frozen=True, kw_only=True):
    """``options[search]``: full-text search (see ``flextype_core.query.search_syntax``)."""

    q: str
    """The text as given (web-search syntax)."""
    expr: SearchExpr
    """``q`` parsed: what an entry must (and must not) contain."""
    fields: tuple[Path, ...] | None = None
    """The fields searched (a path takes its nested fields too); None: every string field
    but the managed ones (``flextype_core.query.search_text.UNSEARCHED``)."""
    score: bool = False
    """Add ``_score`` (the index's relevance) to each item."""
    highlight: bool = False
    """Add ``_highlight`` ({field path: HTML-escaped text with ``<mark>``}) to each item."""


class Keyset(Model, frozen=True, kw_only=True):
    """Where a cursor page starts: just after the item with these sort values and id.

    ``values`` has one entry per sort key (``Query.sort``): the item's value there, or
    ``None`` when the item has none (missing and null sort alike: last). With a search
    ordered by relevance (no sort keys), ``score`` is the item's score.
    """

    values: tuple[Any, ...] = ()
    score: float | None = None
    id: str


class Query(Model, frozen=True, kw_only=True):
    """Everything ``options`` asks of a collection, parsed and checked."""

    depth: int | None = 1
    """The last level below the parent (1: direct children); None for every level."""
    min_depth: int = 1
    """The first level collected (``find[depth]=>1`` skips the direct children)."""
    where: tuple[Condition, ...] = ()
    """Conditions (clauses and groups), all of which an item must satisfy."""
    sort: tuple[SortKey, ...] = ()
    """Sort keys, most significant first; empty keeps the input order (by id)."""
    offset: int = 0
    limit: int | None = None
    return_: ReturnMode = msgspec.field(default="all", name="return")
    group_by: Path | None = None
    only: tuple[Path, ...] | None = None
    """Fields to keep (``id`` is always kept); None keeps all."""
    except_: tuple[Path, ...] | None = msgspec.field(default=None, name="except")
    """Fields to drop (``id`` is never dropped); None drops none."""
    method: str | None = None
    """A named collection method registered from Python."""
    search: Search | None = None
    """Full-text search: only matching entries; ordered by relevance without ``sort``."""
    after: str | None = None
    """``options[filter][after]`` as given: a signed cursor, checked by the service."""
    keyset: Keyset | None = None
    """The checked cursor: the store answers the items after it (``offset`` is then 0)."""
