"""``options`` data (from bracket query strings or JSON) parsed into a checked :class:`Query`.

Bracket query strings give strings at every leaf and lists either as lists or as maps
keyed ``"0"``, ``"1"``, ...; JSON gives typed values. Every malformed part is a
:class:`~flextype_core.errors.BadRequest` whose message starts with the exact parameter
path, e.g. ``options[filter][where][2][operator]: unknown operator 'eqq'``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, cast, get_args

from flextype_core.errors import BadRequest, shown
from flextype_core.query.depth import parse_depth_range
from flextype_core.query.model import (
    MAX_NESTING,
    OPERATORS,
    AllOf,
    AnyOf,
    Between,
    Clause,
    Condition,
    In,
    NBetween,
    Newer,
    Nin,
    Not,
    NRegexp,
    Older,
    Path,
    Query,
    Regexp,
    ReturnMode,
    Scalar,
    Search,
    SortKey,
)
from flextype_core.query.regex import RegexError, compile_pattern
from flextype_core.query.search_syntax import parse_search
from flextype_core.query.values import json_text, to_timestamp

__all__ = ["ALIASES", "MAX_CLAUSES", "MAX_PATH", "parse_options"]

ALIASES = {
    "=": "eq",
    "!=": "neq",
    "<>": "neq",
    "<": "lt",
    ">": "gt",
    "<=": "lte",
    ">=": "gte",
    "like": "contains",
    "nlike": "ncontains",
}
"""Operator spellings accepted besides the canonical names (matched case-insensitively)."""
MAX_PATH = 256
"""Longest dot path accepted, in characters."""
MAX_CURSOR = 4096
"""Longest cursor accepted, in characters."""
MAX_CLAUSES = 100
"""Most ``where`` clauses (counted across groups) or ``sort_by`` keys one query may have."""


def _operator_list() -> str:
    """``eq (=), neq (!=, <>), ...``: every operator, with its aliases in brackets."""
    shown_names = []
    for name in OPERATORS:
        aliases = [alias for alias, canonical in ALIASES.items() if canonical == name]
        shown_names.append(f"{name} ({', '.join(aliases)})" if aliases else name)
    return ", ".join(shown_names)


_OPERATOR_LIST = _operator_list()
_OPTIONS = ("collection", "find", "filter", "method", "search")
_SEARCH = ("q", "fields", "score", "highlight")
_FIND = ("depth",)
_FILTER = (
    "where",
    "sort_by",
    "offset",
    "limit",
    "return",
    "group_by",
    "only",
    "except",
    "after",
)
_CLAUSE = ("key", "operator", "value")
_GROUPS = ("or", "and", "not")
_SORT_KEY = ("key", "direction")
_RETURN_MODES: tuple[str, ...] = get_args(ReturnMode)
_LIST_OPERATORS = (In, Nin)
_PAIR_OPERATORS = (Between, NBetween)
_DATE_OPERATORS = (Newer, Older)
_PATTERN_OPERATORS = (Regexp, NRegexp)


def _object(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise BadRequest(f"{name} must be an object, got {_kind(value)}.")
    return value


def _kind(value: object) -> str:
    if isinstance(value, str):
        return f"the string {shown(value)}"
    return "null" if value is None else type(value).__name__


def _known(data: Mapping[str, Any], allowed: tuple[str, ...], name: str) -> None:
    unknown = [key for key in data if key not in allowed]
    if unknown:
        raise BadRequest(
            f"{name}[{shown(str(unknown[0]))[1:-1]}] is not a known option"
            f" (known: {', '.join(allowed)})."
        )


def _indexed(value: object, name: str) -> list[tuple[str, Any]]:
    """A list, or a map keyed by decimal indexes, as ``(index, item)`` in index order."""
    if isinstance(value, list):
        return [(str(i), item) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        bad = [key for key in value if not (isinstance(key, str) and key.isdecimal())]
        if bad:
            raise BadRequest(f"{name} must be a list; {shown(str(bad[0]))} is not an index.")
        return sorted(value.items(), key=lambda pair: int(pair[0]))
    raise BadRequest(f"{name} must be a list, got {_kind(value)}.")


def _path(value: object, name: str) -> Path:
    if not isinstance(value, str) or value == "":
        raise BadRequest(f"{name} must be a non-empty dot path, got {_kind(value)}.")
    if len(value) > MAX_PATH:
        raise BadRequest(f"{name} is longer than {MAX_PATH} characters.")
    segments = tuple(value.split("."))
    if "" in segments:
        raise BadRequest(f"{name}: {shown(value)} has an empty segment.")
    return segments


def _paths(value: object, name: str) -> tuple[Path, ...]:
    if isinstance(value, str):
        return tuple(_path(part, name) for part in value.split(","))
    return tuple(_path(item, f"{name}[{i}]") for i, item in _indexed(value, name))


def _count(value: object, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    raise BadRequest(f"{name} must be a non-negative integer, got {_kind(value)}.")


def _scalar(value: object, name: str) -> Scalar:
    if isinstance(value, str | int | float):
        return value
    raise BadRequest(f"{name} must be a string, number or boolean, got {_kind(value)}.")


def _scalars(value: object, name: str) -> tuple[Scalar, ...]:
    """A list of values: a list, an indexed map, or a comma-separated string."""
    if isinstance(value, str):
        return tuple(value.split(","))
    if isinstance(value, int | float):
        return (value,)
    values = tuple(_scalar(item, f"{name}[{i}]") for i, item in _indexed(value, name))
    if not values:
        raise BadRequest(f"{name} must list at least one value.")
    return values


def _operator(value: object, name: str) -> type[Clause]:
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be an operator name, got {_kind(value)}.")
    canonical = ALIASES.get(value.lower(), value.lower())
    found = OPERATORS.get(canonical)
    if found is None:
        near = difflib.get_close_matches(value.lower(), [*OPERATORS, *ALIASES], n=1)
        hint = f" (did you mean {shown(near[0])}?)" if near else ""
        raise BadRequest(
            f"{name}: unknown operator {shown(value)}{hint}; the operators are {_OPERATOR_LIST}."
        )
    return found


def _clause_value(kind: type[Clause], value: object, name: str) -> object:
    if issubclass(kind, _LIST_OPERATORS):
        return _scalars(value, name)
    if issubclass(kind, _PAIR_OPERATORS):
        bounds = _scalars(value, name)
        if len(bounds) != 2:
            raise BadRequest(f"{name} must give exactly 2 bounds, got {len(bounds)}.")
        return bounds
    scalar = _scalar(value, name)
    if issubclass(kind, _DATE_OPERATORS):
        moment = to_timestamp(scalar)
        if moment is None:
            raise BadRequest(f"{name} must be a Unix time or an ISO 8601 date.")
        return moment
    if issubclass(kind, _PATTERN_OPERATORS):
        pattern = scalar if isinstance(scalar, str) else json_text(scalar)
        try:
            compile_pattern(pattern)
        except RegexError as exc:
            raise BadRequest(f"{name}: invalid regular expression: {exc}.") from exc
        return pattern
    return scalar


def _clause(data: object, name: str) -> Clause:
    fields = _object(data, name)
    _known(fields, _CLAUSE, name)
    for part in _CLAUSE:
        if part not in fields:
            raise BadRequest(f"{name}[{part}] is missing: a clause needs key, operator and value.")
    key = _path(fields["key"], f"{name}[key]")
    kind = _operator(fields["operator"], f"{name}[operator]")
    value = _clause_value(kind, fields["value"], f"{name}[value]")
    return kind(key=key, value=cast("Any", value))


def _sort_key(data: object, name: str) -> SortKey:
    fields = _object(data, name)
    _known(fields, _SORT_KEY, name)
    if "key" not in fields:
        raise BadRequest(f"{name}[key] is missing.")
    direction = fields.get("direction", "asc")
    if not isinstance(direction, str) or direction.lower() not in ("asc", "desc"):
        raise BadRequest(f"{name}[direction] must be asc or desc, got {_kind(direction)}.")
    return SortKey(key=_path(fields["key"], f"{name}[key]"), descending=direction.lower() == "desc")


def _sort(value: object, name: str) -> tuple[SortKey, ...]:
    if isinstance(value, Mapping) and ("key" in value or "direction" in value):
        return (_sort_key(value, name),)
    keys = _indexed(value, name)
    if len(keys) > MAX_CLAUSES:
        raise BadRequest(f"{name} has more than {MAX_CLAUSES} keys.")
    return tuple(_sort_key(item, f"{name}[{i}]") for i, item in keys)


class _Budget:
    """The clauses one ``where`` may still hold (``MAX_CLAUSES`` across every group)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.left = MAX_CLAUSES

    def take(self, count: int) -> None:
        """Spend ``count`` clauses (a group's members: each holds one clause at least)."""
        if count > self.left:
            raise BadRequest(
                f"{self.name} has more than {MAX_CLAUSES} clauses (counted across groups)."
            )
        self.left -= count


def _condition(data: object, name: str, level: int, budget: _Budget) -> Condition:
    """A clause or a group; ``level``: the groups around it (0 at the top of ``where``)."""
    fields = _object(data, name)
    groups = [key for key in _GROUPS if key in fields]
    if not groups:
        _known(fields, _CLAUSE + _GROUPS, name)
        return _clause(fields, name)
    if len(fields) > 1:
        other = next(str(key) for key in fields if key != groups[0])
        raise BadRequest(
            f"{name} mixes [{groups[0]}] with [{shown(other)[1:-1]}]: an item of where is"
            " one clause (key, operator, value) or one group (or, and, not)."
        )
    kind = groups[0]
    inner = f"{name}[{kind}]"
    if level >= MAX_NESTING:
        raise BadRequest(f"{inner}: groups nest at most {MAX_NESTING} levels deep.")
    if kind == "not":
        return Not(item=_negated(fields[kind], inner, level + 1, budget))
    members = _indexed(fields[kind], inner)
    if not members:
        raise BadRequest(f"{inner} is empty: a group needs one member at least.")
    budget.take(len(members) - 1)  # the first member is the clause this item was counted as
    items = tuple(_condition(item, f"{inner}[{i}]", level + 1, budget) for i, item in members)
    return AnyOf(items=items) if kind == "or" else AllOf(items=items)


def _negated(value: object, name: str, level: int, budget: _Budget) -> Condition:
    """What ``not`` holds: ONE clause or group (``[not][key]=...``, ``[not][or][0]...``)."""
    if isinstance(value, list) or (
        isinstance(value, Mapping) and value and all(str(k).isdecimal() for k in value)
    ):
        raise BadRequest(
            f"{name} holds one clause or group, not a list (use [not][or][0]... or"
            " [not][and][0]... for several)."
        )
    if isinstance(value, Mapping) and not value:
        raise BadRequest(f"{name} is empty: it needs one clause or group.")
    return _condition(value, name, level, budget)


def _where(value: object, name: str) -> tuple[Condition, ...]:
    items = _indexed(value, name)
    budget = _Budget(name)
    budget.take(len(items))
    return tuple(_condition(item, f"{name}[{i}]", 0, budget) for i, item in items)


def _return_mode(value: object, name: str) -> ReturnMode:
    if isinstance(value, str) and value.lower() in _RETURN_MODES:
        return cast("ReturnMode", value.lower())
    raise BadRequest(f"{name} must be one of {', '.join(_RETURN_MODES)}, got {_kind(value)}.")


def _filter(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The ``filter`` parts as ``Query`` fields; absent or null parts are left out."""
    _known(data, _FILTER, name)
    parsers: dict[str, tuple[str, Any]] = {
        "where": ("where", _where),
        "sort_by": ("sort", _sort),
        "offset": ("offset", _count),
        "limit": ("limit", _count),
        "return": ("return_", _return_mode),
        "group_by": ("group_by", _path),
        "only": ("only", _paths),
        "except": ("except_", _paths),
        "after": ("after", _cursor),
    }
    fields: dict[str, Any] = {}
    for option, (field, parse) in parsers.items():
        if data.get(option) is not None:
            fields[field] = parse(data[option], f"{name}[{option}]")
    return fields


def _cursor(value: object, name: str) -> str:
    if not isinstance(value, str) or value == "" or len(value) > MAX_CURSOR:
        raise BadRequest(f"{name} must be the cursor of a previous page (meta.next).")
    return value


_TRUE = ("1", "true", "on", "yes")
_FALSE = ("0", "false", "off", "no", "")


def _flag(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    raise BadRequest(f"{name} must be true or false, got {_kind(value)}.")


def _search(value: object) -> Search:
    name = "options[search]"
    data = _object(value, name)
    _known(data, _SEARCH, name)
    if data.get("q") is None:
        raise BadRequest(f"{name}[q] is missing: the text to search for.")
    fields = data.get("fields")
    return Search(
        q=data["q"],
        expr=parse_search(data["q"], f"{name}[q]"),
        fields=None if fields is None else _paths(fields, f"{name}[fields]"),
        score=_flag(data.get("score", False), f"{name}[score]"),
        highlight=_flag(data.get("highlight", False), f"{name}[highlight]"),
    )


def _method(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value == "":
        raise BadRequest(f"options[method] must be a method name, got {_kind(value)}.")
    return value


def parse_options(options: Mapping[str, Any]) -> Query:
    """Parse the ``options`` of a collection fetch.

    ``options[collection]`` is accepted and left to the caller. Absent or null parts
    take their defaults (depth 1, no clauses, input order, offset 0, no limit, ``all``).

    Raises:
        BadRequest: a malformed or unknown part; the message starts with its path.
    """
    _known(options, _OPTIONS, "options")
    min_depth: int = 1
    depth: int | None = 1
    find = options.get("find")
    if find is not None:
        find = _object(find, "options[find]")
        _known(find, _FIND, "options[find]")
        min_depth, depth = parse_depth_range(find.get("depth"))
    filters = options.get("filter")
    fields = (
        {} if filters is None else _filter(_object(filters, "options[filter]"), "options[filter]")
    )
    if "after" in fields and fields.get("offset"):
        raise BadRequest(
            "options[filter][after] continues from a cursor: it cannot be combined with"
            " options[filter][offset]."
        )
    search = options.get("search")
    return Query(
        depth=depth,
        min_depth=min_depth,
        method=_method(options.get("method")),
        search=None if search is None else _search(search),
        **fields,
    )
