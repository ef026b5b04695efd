"""The searchable text of an entry, as every driver indexes it: fields, words, positions.

One normalisation for every driver, so that the set of matches is the same on each
(the embedded index and PostgreSQL are fed these words, never their own parsers'):
compatibility decomposition, accents and other combining marks dropped, a few letters
that do not decompose folded as ``unaccent`` folds them (``ø`` to ``o``), then case
folding. Words are runs of letters and digits; everything else separates them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

__all__ = [
    "MAX_DISTINCT_BYTES",
    "MAX_WORD",
    "MAX_WORDS",
    "UNSEARCHED",
    "Document",
    "document",
    "field_texts",
    "normalize",
    "tokens",
]

UNSEARCHED = frozenset({"id", "slug", "uuid", "created_at", "modified_at"})
"""Managed fields that a search over every field leaves out (ids, uuids, dates)."""
MAX_WORDS = 16_000
"""Words of one entry that are indexed; later ones are not searchable (PostgreSQL keeps
positions up to 16,383, and every driver must find the same)."""
MAX_WORD = 200
"""Longest word indexed, in characters; longer runs are not searchable."""
MAX_DISTINCT_BYTES = 256 * 1024
"""UTF-8 bytes of an entry's distinct words that are indexed; words after the budget is
spent are not searchable (a PostgreSQL tsvector holds at most 1 MB: an entry of many
distinct long words, such as CJK text, would not fit)."""

_FOLDS = str.maketrans(
    {
        "ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ð": "d", "Ð": "d",
        "ħ": "h", "Ħ": "h", "ŧ": "t", "Ŧ": "t", "ı": "i", "æ": "ae", "Æ": "ae",
        "œ": "oe", "Œ": "oe", "þ": "th", "Þ": "th",
    }
)  # fmt: skip
_WORD = re.compile(r"[^\W_]+")

Path = tuple[str, ...]

Document = list[tuple[str, list[str]]]
"""An entry's searchable fields: (dot path, its words in order), in field order."""


def normalize(text: str) -> str:
    """Text without accents or case, as indexed and searched."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLDS))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return bare.casefold()


def tokens(text: str) -> list[str]:
    """The words of ``text``, normalised, in order (words over ``MAX_WORD`` dropped)."""
    return [w for w in _WORD.findall(normalize(text)) if len(w) <= MAX_WORD]


def _walk(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for name, inner in value.items():
            yield from _walk(inner, f"{path}.{name}" if path else str(name))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _walk(inner, f"{path}.{index}" if path else str(index))


def _at(item: Any, path: Path) -> Any:
    node = item
    for segment in path:
        if isinstance(node, dict) and segment in node:
            node = node[segment]
        elif isinstance(node, list) and segment.isdecimal() and int(segment) < len(node):
            node = node[int(segment)]
        else:
            return None
    return node


def field_texts(
    item: dict[str, Any], fields: tuple[Path, ...] | None = None
) -> list[tuple[str, str]]:
    """The string fields searched: (dot path, text), nested maps and lists included.

    ``fields`` None: every field but ``UNSEARCHED``; else each given path and what it
    holds (a path named twice counts once).
    """
    if fields is None:
        return [
            pair
            for name, value in item.items()
            if name not in UNSEARCHED
            for pair in _walk(value, str(name))
        ]
    seen: dict[str, str] = {}
    for path in fields:
        for dotted, text in _walk(_at(item, path), ".".join(path)):
            seen.setdefault(dotted, text)
    return list(seen.items())


def document(item: dict[str, Any], fields: tuple[Path, ...] | None = None) -> Document:
    """The words of each searched field, at most ``MAX_WORDS`` in all.

    Fields without words are left out.
    """
    found: Document = []
    budget = MAX_WORDS
    distinct: set[str] = set()
    spent = 0
    for dotted, text in field_texts(item, fields):
        kept: list[str] = []
        for word in tokens(text)[:budget]:
            if word not in distinct:
                spent += len(word.encode()) + 8
                if spent > MAX_DISTINCT_BYTES:
                    budget = 0
                    break
                distinct.add(word)
            kept.append(word)
        if kept:
            found.append((dotted, kept))
            budget -= len(kept)
        if budget <= 0:
            break
    return found
