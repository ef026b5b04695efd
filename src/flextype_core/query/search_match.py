"""The reference meaning of a search: does an entry's text match a ``SearchExpr``?

Indexes answer faster, and must answer the same: the embedded index and PostgreSQL are
fed ``search_text.document`` words and are checked against this in the parity suites. A
word matches a field word equal to it (or starting with it, for a prefix word); a phrase
matches its words at consecutive positions of one field.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flextype_core.query.search_syntax import Part, Phrase, SearchExpr, Word
from flextype_core.query.search_text import Document, document

__all__ = ["matches", "part_matches", "scan", "word_matches"]


def word_matches(word: Word, found: str) -> bool:
    """Whether one indexed word ``found`` is a match of ``word``."""
    return found.startswith(word.text) if word.prefix else found == word.text


def _phrase_in(words: tuple[str, ...], field: list[str]) -> bool:
    width = len(words)
    return any(tuple(field[i : i + width]) == words for i in range(len(field) - width + 1))


def part_matches(part: Part, doc: Document) -> bool:
    """Whether one word or phrase occurs in the document."""
    if isinstance(part, Word):
        return any(word_matches(part, found) for _, field in doc for found in field)
    assert isinstance(part, Phrase)
    return any(_phrase_in(part.words, field) for _, field in doc)


def matches(expr: SearchExpr, doc: Document) -> bool:
    """Whether a document holds every required group (one part of each) and no excluded part."""
    return all(any(part_matches(p, doc) for p in group) for group in expr.required) and not any(
        part_matches(p, doc) for p in expr.excluded
    )


def _hits(expr: SearchExpr, doc: Document) -> int:
    words = [part for group in expr.required for part in group if isinstance(part, Word)]
    phrases = sum(part_matches(p, doc) for g in expr.required for p in g if isinstance(p, Phrase))
    return phrases + sum(word_matches(w, found) for w in words for _, f in doc for found in f)


def scan(expr: SearchExpr, items: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Search ``items`` (public entries) one by one, without an index: id -> relevance.

    The relevance is a plain count (matching words, plus one per phrase found) over the
    length of the text: the fallback of stores without an index, and of tests.
    """
    found: dict[str, float] = {}
    for item in items:
        doc = document(item)
        if matches(expr, doc):
            size = sum(len(field) for _, field in doc)
            found[item["id"]] = _hits(expr, doc) / (1 + size) ** 0.5
    return found
