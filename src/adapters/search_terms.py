"""What the embedded index stores and asks FTS5: the core's words as plain ASCII terms.

FTS5's ``unicode61`` tokenizer has its own idea of letters (Unicode 6.1 tables, its own
diacritic folding): fed raw text, it would split or fold some words unlike
``flextype_core.query.search_text`` and find other entries than the other drivers. So it
is fed the core's words only, each spelt as one ASCII term it keeps as it is: ASCII
letters and digits stand for themselves, any other character is ``_`` and six hex
digits (``_`` is a token character of the table and never part of a core word). The
spelling is one fixed-length code per character, so a term starts with another's
spelling exactly when the word starts with the other word: prefix queries stay exact.

Fields are joined with ``FIELD_BREAK``, a term no word can spell, so that a phrase
never spans the end of one field and the start of the next.
"""

from __future__ import annotations

from flextype_core.query.search_syntax import Part, Phrase, SearchExpr, Word
from flextype_core.query.search_text import Document

__all__ = ["FIELD_BREAK", "body", "match_text", "term"]

FIELD_BREAK = "__"
"""Between two fields' words: every other term with ``_`` has six hex digits after it."""


def term(word: str) -> str:
    """The ASCII term of one normalised word (``search_text.tokens``)."""
    if word.isascii():
        return word  # normalised: lowercase letters and digits only
    return "".join(ch if ch.isascii() else f"_{ord(ch):06x}" for ch in word)


def body(doc: Document) -> str:
    """The text FTS5 indexes for an entry: its fields' terms, ``FIELD_BREAK`` between fields."""
    return f" {FIELD_BREAK} ".join(" ".join(term(w) for w in words) for _, words in doc)


def _part(part: Part) -> str:
    # Only terms inside double quotes: no word of a user is ever FTS5 syntax.
    if isinstance(part, Word):
        quoted = f'"{term(part.text)}"'
        return f"{quoted}*" if part.prefix else quoted
    assert isinstance(part, Phrase)
    return '"' + " ".join(term(w) for w in part.words) + '"'


def _any(parts: tuple[Part, ...]) -> str:
    return "(" + " OR ".join(_part(p) for p in parts) + ")"


def match_text(expr: SearchExpr) -> str:
    """The FTS5 ``MATCH`` string of a search: every required group, none of the excluded."""
    required = " AND ".join(_any(group) for group in expr.required)
    if not expr.excluded:
        return required
    return f"({required}) NOT {_any(expr.excluded)}"
