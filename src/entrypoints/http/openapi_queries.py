"""The OpenAPI schemas of collection queries: options, where groups, search, cursors, bodies.

``options`` travels as bracket keys in a query string or as an object in a JSON body
(``POST /api/entries/query``); the same schemas describe both (api.md sections 4, 10).
"""

from __future__ import annotations

from typing import Any

from flextype_core.query.model import MAX_NESTING, OPERATORS
from flextype_core.query.parse import ALIASES, MAX_CURSOR
from flextype_entrypoints.http.queries import MAX_NAME_LENGTH, MAX_QUERIES

__all__ = [
    "ENTRY_EXTRAS",
    "OPTIONS_DESCRIPTION",
    "QUERIES_EXAMPLE",
    "SEARCH_PAGE_EXAMPLE",
    "query_schemas",
]

REF = "#/components/schemas/{name}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(name=name)}


_W = "options[filter][where][0]"


def _query(*pairs: str) -> str:
    return "`" + "&".join(pairs) + "`"


OPTIONS_DESCRIPTION = "\n".join(
    [
        "Collection options as bracket keys (a JSON body takes the same as an object):",
        "",
        "- a clause: " + _query(f"{_W}[key]=year", f"{_W}[operator]=gte", f"{_W}[value]=2019"),
        "- a group, made before 2000 or rated 8 and up: "
        + _query(
            f"{_W}[or][0][key]=year",
            f"{_W}[or][0][operator]=lt",
            f"{_W}[or][0][value]=2000",
            f"{_W}[or][1][key]=rating",
            f"{_W}[or][1][operator]=gte",
            f"{_W}[or][1][value]=8",
        ),
        "- not: "
        + _query(
            f"{_W}[not][key]=genre", f"{_W}[not][operator]=contains", f"{_W}[not][value]=drama"
        ),
        "- full-text search, best first, marked: "
        + _query(
            'options[search][q]=dune OR "spirited away" -crime',
            "options[search][highlight]=true",
            "options[search][score]=true",
        ),
        "- the page after a cut answer: "
        + _query("options[filter][limit]=10", "options[filter][after]=<meta.next>"),
    ]
)
"""The ``options`` query parameter's description (``openapi.py``)."""


def _operator() -> dict[str, Any]:
    """The ``where`` operators, canonical names and aliases, one line each."""
    aliases: dict[str, list[str]] = {}
    for alias, name in ALIASES.items():
        aliases.setdefault(name, []).append(alias)
    lines = []
    for name, clause in OPERATORS.items():
        spelled = ", ".join(f"`{a}`" for a in aliases.get(name, []))
        text = (clause.__doc__ or "").strip().splitlines()[0]
        lines.append(f"- `{name}`{f' ({spelled})' if spelled else ''}: {text}")
    return {
        "type": "string",
        "enum": [*OPERATORS, *ALIASES],
        "description": "Case-insensitive (`EQ` is `eq`); aliases in brackets.\n\n"
        + "\n".join(lines),
    }


_CLAUSE: dict[str, Any] = {
    "type": "object",
    "required": ["key", "operator", "value"],
    "properties": {
        "key": {"type": "string", "description": "A dot path: `author.name`, `tags.0`."},
        "operator": _ref("Operator"),
        "value": {
            "description": "A value; `in`/`nin` and `between`/`nbetween` take a list "
            "(or `a,b`). Compared by the stored field's type."
        },
    },
}
_CONDITION: dict[str, Any] = {
    "description": f"A clause or a group (`or`, `and`, `not`); groups nest up to {MAX_NESTING} "
    "levels (deeper: 400). `not` of a clause on a missing field matches.",
    "anyOf": [_ref("WhereClause"), _ref("WhereOr"), _ref("WhereAnd"), _ref("WhereNot")],
    "example": {
        "or": [
            {"key": "year", "operator": "lt", "value": 2000},
            {"key": "rating", "operator": "gte", "value": 8},
        ]
    },
}


def _group(name: str, description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "required": [name],
        "additionalProperties": False,
        "properties": {
            name: {"type": "array", "minItems": 1, "items": _ref("WhereCondition")},
        },
    }


_NOT: dict[str, Any] = {
    "type": "object",
    "description": "Matches what its condition does not.",
    "required": ["not"],
    "additionalProperties": False,
    "properties": {"not": _ref("WhereCondition")},
    "example": {"not": {"key": "genre", "operator": "contains", "value": "drama"}},
}
_SORT_KEY: dict[str, Any] = {
    "type": "object",
    "required": ["key"],
    "properties": {
        "key": {"type": "string"},
        "direction": {"type": "string", "enum": ["asc", "desc"], "default": "asc"},
    },
}
_FLAG: dict[str, Any] = {"anyOf": [{"type": "boolean"}, {"type": "string"}]}
_SEARCH: dict[str, Any] = {
    "type": "object",
    "description": "Full-text search. Without `sort_by` the items come best first (ties by "
    "id); `meta.total` counts every match. Composes with `where`, `sort_by`, "
    "`offset`/`limit` and `only`/`except`.",
    "required": ["q"],
    "properties": {
        "q": {
            "type": "string",
            "minLength": 1,
            "pattern": r"\S",
            "description": 'Web-search syntax: words are ANDed, `"a phrase"`, `-word` '
            "excludes, `a OR b`. Case and accents are ignored; a word of 3+ characters "
            "also finds the words it begins (`dun` finds `Dune`). Blank: 400.",
            "example": 'dune OR "spirited away" -crime',
        },
        "fields": {
            "description": "The fields searched (dot paths; a map takes its nested "
            "fields). Default: every string field, nested ones included.",
            "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}],
            "example": ["title", "content"],
        },
        "score": {**_FLAG, "description": "Add `_score` (relevance) to each item."},
        "highlight": {
            **_FLAG,
            "description": "Add `_highlight`: {field: HTML-escaped text with `<mark>` "
            "around the matched words}, for the fields that matched.",
        },
    },
    "example": {"q": "dune", "fields": ["title"], "score": True, "highlight": True},
}
_FILTER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "where": {
            "type": "array",
            "items": _ref("WhereCondition"),
            "description": "Conditions, all of which an item must satisfy.",
        },
        "sort_by": {"anyOf": [_ref("SortKey"), {"type": "array", "items": _ref("SortKey")}]},
        "offset": {"type": "integer", "minimum": 0},
        "limit": {"type": "integer", "minimum": 0},
        "after": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_CURSOR,
            "description": "The `meta.next` of the previous page: the items after its last "
            "one, by the sort keys and the id (a keyset, not an offset), leaving out the "
            "entries changed since the walk's first page, so no entry comes twice and "
            "none left unchanged is skipped. The same filter, sort and search are "
            "needed; an edited, forged or foreign cursor, or `after` with `offset`, is "
            "400; over 1,000 entries changed since the first page, 410 (start again).",
        },
        "return": {
            "type": "string",
            "enum": ["all", "first", "last", "next", "random", "shuffle"],
        },
        "group_by": {"type": "string", "description": "A dot path."},
        "only": {"type": "array", "items": {"type": "string"}},
        "except": {"type": "array", "items": {"type": "string"}},
    },
}
_OPTIONS: dict[str, Any] = {
    "type": "object",
    "description": "What a collection fetch selects; as bracket keys in a query string "
    "(`options[filter][where][0][key]=year`) or an object in a JSON body.",
    "properties": {
        "collection": {
            "description": "`1`, `true`, `on` or `yes`: a collection instead of one item.",
            "anyOf": [{"type": "boolean"}, {"type": "string"}, {"type": "integer"}],
        },
        "find": {
            "type": "object",
            "properties": {
                "depth": {
                    "anyOf": [{"type": "string"}, {"type": "integer", "minimum": 1}],
                    "description": "Levels down: `1` (default), `all`, `>N`, `>=N`, `<N`, `<=N`.",
                }
            },
        },
        "filter": _FILTER,
        "search": _ref("Search"),
        "method": {"type": "string", "description": "A collection method registered in Python."},
    },
    "examples": [
        {
            "collection": True,
            "filter": {
                "where": [
                    {
                        "or": [
                            {"key": "year", "operator": "lt", "value": 2000},
                            {"key": "rating", "operator": "gte", "value": 8},
                        ]
                    }
                ],
                "sort_by": {"key": "rating", "direction": "desc"},
                "limit": 10,
            },
        },
        {"collection": True, "search": {"q": "dune", "highlight": True}, "filter": {"limit": 5}},
    ],
}

ENTRY_EXTRAS: dict[str, Any] = {
    "_score": {
        "type": "number",
        "description": "With `options[search][score]=true`: the item's relevance (higher "
        "is better; BM25 on the file drivers, `ts_rank_cd` on PostgreSQL).",
        "example": 2.71,
    },
    "_highlight": {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": "With `options[search][highlight]=true`: each matched field (dot "
        "path) as HTML-escaped text, the matched words in `<mark>`.",
        "example": {"title": "<mark>Dune</mark>"},
    },
}
"""The fields a search adds to each item (``Entry``'s schema)."""

SEARCH_PAGE_EXAMPLE: dict[str, Any] = {
    "data": [
        {
            "id": "movies/dune",
            "slug": "movies/dune",
            "title": "Dune",
            "_score": 2.71,
            "_highlight": {"title": "<mark>Dune</mark>"},
        }
    ],
    "meta": {
        "total": 3,
        "offset": 0,
        "limit": 1,
        "next": "eyJrIjpbXSwiaSI6Im1vdmllcy9kdW5lIn0.c2ln",
    },
}
"""A search page cut by ``limit``: ``meta.next`` continues it (``Link`` says the same)."""

QUERIES_EXAMPLE: dict[str, Any] = {
    "queries": {
        "recent": {
            "id": "movies",
            "options": {
                "collection": True,
                "filter": {
                    "where": [{"key": "year", "operator": "gte", "value": 2020}],
                    "sort_by": {"key": "rating", "direction": "desc"},
                    "limit": 2,
                },
            },
        },
        "posts": {"id": "blog", "options": {"collection": True, "filter": {"only": ["title"]}}},
        "home": {"id": "home"},
    }
}
"""A body of ``POST /api/entries/query`` (the demo content answers it)."""

_QUERIES_ANSWER: dict[str, Any] = {
    "type": "object",
    "description": "Each query's answer under its name: `data` as `GET /api/entries` "
    "answers it (an entry, a list, one item or null, groups), `meta` its collection meta "
    "(null for an entry or a named method).",
    "required": ["data", "meta"],
    "properties": {
        "data": {"type": "object", "additionalProperties": {}},
        "meta": {
            "type": "object",
            "additionalProperties": {"anyOf": [_ref("PageMeta"), {"type": "null"}]},
        },
    },
    "example": {
        "data": {
            "recent": [{"id": "movies/dune", "title": "Dune", "rating": 8.0}],
            "posts": [{"title": "Hello, world", "id": "blog/hello-world"}],
            "home": {"id": "home", "title": "Welcome to flextype-py"},
        },
        "meta": {
            "recent": {"total": 3, "offset": 0, "limit": 2, "next": "eyJr...c2ln"},
            "posts": {"total": 1, "offset": 0, "limit": None},
            "home": None,
        },
    },
}


def _bodies(models: dict[str, Any]) -> None:
    """Complete msgspec's schemas of the query bodies: names, bounds, options."""
    queries = models["EntryQueries"]["properties"]["queries"]
    queries.update(
        minProperties=1,
        maxProperties=MAX_QUERIES,
        propertyNames={"pattern": f"^[A-Za-z0-9_-]{{1,{MAX_NAME_LENGTH}}}$"},
        description=f"1 to {MAX_QUERIES} queries by name (1 to {MAX_NAME_LENGTH} letters, "
        "digits, `_` or `-`); each runs as `GET /api/entries?id=ID&options...` would.",
    )
    named = models["NamedQuery"]["properties"]
    named["id"]["description"] = (
        "The entry; with `options.collection` truthy, the parent (absent: the root)."
    )
    named["options"] = {**_ref("CollectionOptions"), "description": "As `GET` takes them."}


def query_schemas(models: dict[str, Any]) -> None:
    """Add the query schemas to ``models`` (msgspec's, by name) and complete the bodies."""
    _bodies(models)
    models.update(
        Operator=_operator(),
        WhereClause=_CLAUSE,
        WhereCondition=_CONDITION,
        WhereOr=_group("or", "Matches when any of its conditions does."),
        WhereAnd=_group("and", "Matches when all of its conditions do."),
        WhereNot=_NOT,
        SortKey=_SORT_KEY,
        Search=_SEARCH,
        CollectionOptions=_OPTIONS,
        QueriesAnswer=_QUERIES_ANSWER,
    )
