"""Full-text search as PostgreSQL text: an entry's tsvector literal, a search's tsquery.

Both are built here from the core's words (``search_text.document``, ``SearchExpr``),
never by PostgreSQL's parser: ``%s::tsvector`` and ``%s::tsquery`` read them as they are
(no configuration, no stemming, no stop words), so ``search @@ q`` holds exactly when
``search_match.matches`` does, but for phrases in the rare rows flagged inexact. User
text only ever reaches the database as the words of a quoted lexeme, in a parameter.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

from flextype_core.query.search_syntax import Part, Phrase, SearchExpr, Word
from flextype_core.query.search_text import Document, document

__all__ = [
    "FIELD_GAP",
    "MAX_POSITION",
    "MAX_POSITIONS",
    "SearchColumns",
    "body_digest",
    "has_phrase",
    "lexeme",
    "search_columns",
    "tsquery_text",
    "tsvector_literal",
]

MAX_POSITION = 16_383
"""Highest word position a tsvector keeps (later ones are clamped to it)."""
MAX_POSITIONS = 256
"""Most positions a tsvector keeps for one lexeme (the others are dropped)."""
FIELD_GAP = 2
"""Positions from a field's last word to the next field's first: never adjacent, so
a phrase (``<->``, distance 1) never spans two fields."""


class SearchColumns(NamedTuple):
    """What a row stores for search: the tsvector literal and what it was built from."""

    vector: str
    """The tsvector literal (``'word':1,4 'other':2``)."""
    digest: bytes
    """sha256 of the body it was built from: ``search_ok`` compares it with the body's."""
    exact: bool
    """False when a position was clamped or dropped: phrases must be checked by the core."""


def lexeme(word: str) -> str:
    """A word as a quoted lexeme, its quotes and backslashes doubled.

    The core's words hold neither, but the literal must stay one whatever it is given.
    """
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(doc: Document) -> tuple[str, bool]:
    """The tsvector of a document, and whether PostgreSQL keeps every position of it.

    Words of one field take consecutive positions from 1; the next field starts
    ``FIELD_GAP`` after. Lexemes come out in first-seen order (PostgreSQL sorts them).
    """
    positions: dict[str, list[int]] = {}
    at = 1
    for _, words in doc:
        for word in words:
            positions.setdefault(word, []).append(at)
            at += 1
        at += FIELD_GAP - 1
    exact = at - FIELD_GAP <= MAX_POSITION and all(
        len(found) <= MAX_POSITIONS for found in positions.values()
    )
    literal = " ".join(
        f"{lexeme(word)}:{','.join(str(min(p, MAX_POSITION)) for p in found[:MAX_POSITIONS])}"
        for word, found in positions.items()
    )
    return literal, exact


def body_digest(body: bytes) -> bytes:
    """The digest ``search_ok`` compares (PostgreSQL's ``sha256(body)``)."""
    return hashlib.sha256(body).digest()


def search_columns(entry_id: str, fields: dict[str, Any] | None, body: bytes) -> SearchColumns:
    """The search columns of a row; ``fields`` None (a body that cannot be read): no words."""
    if fields is None:
        return SearchColumns("", body_digest(body), exact=True)
    # The public item's words: id and slug are never searched, so the fields' are the same.
    literal, exact = tsvector_literal(document({**fields, "id": entry_id, "slug": entry_id}))
    return SearchColumns(literal, body_digest(body), exact)


def _part(part: Part) -> str:
    if isinstance(part, Word):
        return lexeme(part.text) + (":*" if part.prefix else "")
    return "(" + " <-> ".join(lexeme(word) for word in part.words) + ")"


def tsquery_text(expr: SearchExpr) -> str:
    """The tsquery text of a search: AND of OR-groups, then ``!`` of each exclusion."""
    groups = ["(" + " | ".join(_part(p) for p in group) + ")" for group in expr.required]
    excluded = ["!" + _part(p) for p in expr.excluded]
    return " & ".join(groups + excluded)


def has_phrase(expr: SearchExpr) -> bool:
    """Whether the search holds a phrase (positions matter: inexact rows are in doubt)."""
    parts = [p for group in expr.required for p in group] + list(expr.excluded)
    return any(isinstance(p, Phrase) for p in parts)
