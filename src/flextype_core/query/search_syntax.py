"""``options[search][q]`` in web-search syntax, parsed into what an entry must contain.

Words are ANDed; ``"a phrase"`` keeps its words together and in order; ``-word`` and
``-"a phrase"`` exclude; ``a OR b`` (``OR`` in capitals) accepts either. Each word is
normalised as indexed text is (``search_text.normalize``): a word that normalises to
several (``sci-fi``, ``l'été``) is a phrase of them, one that normalises to none
(punctuation) is dropped. A single word of at least ``PREFIX_MIN`` characters also
matches longer words it starts (``dun`` finds ``Dune``); shorter words and the words of
a phrase match whole words only.
"""

from __future__ import annotations

import re

from flextype_core.errors import BadRequest
from flextype_core.model import Model
from flextype_core.query.search_text import tokens

__all__ = [
    "MAX_PARTS",
    "MAX_TEXT",
    "PREFIX_MIN",
    "Part",
    "Phrase",
    "SearchExpr",
    "Word",
    "parse_search",
]

PREFIX_MIN = 3
"""Shortest word that also matches as a prefix."""
MAX_TEXT = 1000
"""Longest search text accepted, in characters."""
MAX_PARTS = 32
"""Most words and phrases one search may have."""

_RAW = re.compile(r'(-?)(?:"([^"]*)"?|(\S+))')


class Word(Model, frozen=True, kw_only=True, tag_field="kind", tag="word"):
    """One normalised word; ``prefix``: longer words starting with it match too."""

    text: str
    prefix: bool


class Phrase(Model, frozen=True, kw_only=True, tag_field="kind", tag="phrase"):
    """Normalised words that must follow each other in one field, each a whole word."""

    words: tuple[str, ...]


Part = Word | Phrase


class SearchExpr(Model, frozen=True, kw_only=True):
    """What a search asks: every group of ``required``, and none of ``excluded``.

    A group holds when any of its parts does (``a OR b``).
    """

    required: tuple[tuple[Part, ...], ...]
    excluded: tuple[Part, ...] = ()


def _part(text: str, quoted: bool) -> Part | None:
    words = tokens(text)
    if not words:
        return None
    if len(words) == 1 and not quoted:
        return Word(text=words[0], prefix=len(words[0]) >= PREFIX_MIN)
    if len(words) == 1:
        return Word(text=words[0], prefix=False)
    return Phrase(words=tuple(words))


def parse_search(text: object, name: str = "options[search][q]") -> SearchExpr:
    """Parse a search text.

    Raises:
        BadRequest: not a string, empty or blank, longer than ``MAX_TEXT``, more than
            ``MAX_PARTS`` parts, or nothing left to find (only exclusions or punctuation).
    """
    if not isinstance(text, str):
        raise BadRequest(f"{name} must be a string.")
    if not text.strip():
        raise BadRequest(f"{name} must not be empty.")
    if len(text) > MAX_TEXT:
        raise BadRequest(f"{name} is longer than {MAX_TEXT} characters.")
    required: list[list[Part]] = []
    excluded: list[Part] = []
    joining = False  # the previous raw token was OR, after a positive part
    count = 0
    for match in _RAW.finditer(text):
        minus, quoted, bare = match.group(1), match.group(2), match.group(3)
        if bare == "OR" and not minus and required and not joining:
            joining = True
            continue
        part = _part(quoted if quoted is not None else bare, quoted is not None)
        if part is None:
            continue
        count += 1
        if count > MAX_PARTS:
            raise BadRequest(f"{name} has more than {MAX_PARTS} words and phrases.")
        if minus:
            excluded.append(part)
        elif joining:
            required[-1].append(part)
        else:
            required.append([part])
        joining = False
    if not required:
        raise BadRequest(f"{name} has no word to find (only exclusions or punctuation).")
    return SearchExpr(required=tuple(tuple(group) for group in required), excluded=tuple(excluded))
