"""``_score`` and ``_highlight``: what a search adds to each item of a page, on request.

A field's highlight is its text, HTML-escaped, with each word that matched the search
(a word of a required group, or a word of a phrase found) inside ``<mark>``. A text
longer than ``WINDOW`` characters gives a window of about that size around its first
match, ``...`` marking each end cut. Words are found as the index finds them
(``search_text``): the text is normalised a character at a time, so each word maps
back to the characters it came from (an accent written as a combining mark included).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from flextype_core.query.model import Search
from flextype_core.query.search_match import word_matches
from flextype_core.query.search_syntax import Phrase, SearchExpr, Word
from flextype_core.query.search_text import MAX_WORD, field_texts, normalize

__all__ = ["ELLIPSIS", "WINDOW", "annotate", "highlights", "marked"]

WINDOW = 200
"""Longest highlight, in characters of the text (a longer field gives a window)."""
ELLIPSIS = "..."
_BEFORE = WINDOW // 4  # of the window, before the first match
_WORD = re.compile(r"[^\W_]+")
_SPACE = re.compile(r"\s")

Span = tuple[int, int]


def _words(text: str) -> list[tuple[str, Span]]:
    """The normalised words of ``text`` with the span of characters each came from."""
    pieces = [normalize(ch) for ch in text]
    origin: list[int] = []  # normalised position -> position in ``text``
    for index, piece in enumerate(pieces):
        origin.extend([index] * len(piece))
    found = []
    for match in _WORD.finditer("".join(pieces)):
        if len(match.group()) > MAX_WORD:
            continue
        start, end = origin[match.start()], origin[match.end() - 1] + 1
        while end < len(text) and not pieces[end]:
            end += 1  # combining marks after the word belong to it
        found.append((match.group(), (start, end)))
    return found


def _matched(expr: SearchExpr, words: Sequence[str]) -> list[int]:
    """Positions of the words to mark: matched words, and the words of phrases found."""
    parts = [part for group in expr.required for part in group]
    single = [p for p in parts if isinstance(p, Word)]
    hit = {i for i, w in enumerate(words) if any(word_matches(p, w) for p in single)}
    for phrase in (p for p in parts if isinstance(p, Phrase)):
        width = len(phrase.words)
        for i in range(len(words) - width + 1):
            if tuple(words[i : i + width]) == phrase.words:
                hit.update(range(i, i + width))
    return sorted(hit)


def marked(text: str, expr: SearchExpr) -> str | None:
    """``text`` escaped with its matches marked (a window of a long one); None: no match."""
    words = _words(text)
    hits = _matched(expr, [w for w, _ in words])
    if not hits:
        return None
    spans = [words[i][1] for i in hits]
    start, end = 0, len(text)
    if len(text) > WINDOW:
        start = _window_start(text, spans[0][0])
        end = _window_end(text, start + WINDOW, spans[0][1])
    out = [ELLIPSIS + " " if start > 0 else ""]
    at = start
    for left, right in spans:
        if left < at or right > end:
            continue
        out += [html.escape(text[at:left]), "<mark>", html.escape(text[left:right]), "</mark>"]
        at = right
    out.append(html.escape(text[at:end]))
    out.append(" " + ELLIPSIS if end < len(text) else "")
    return "".join(out)


def _window_start(text: str, first: int) -> int:
    """Where a window opens: about ``_BEFORE`` before ``first``, after a space if one is."""
    cut = max(0, first - _BEFORE)
    if cut == 0:
        return 0
    space = _SPACE.search(text, cut, first)
    return cut if space is None else space.end()


def _window_end(text: str, cut: int, least: int) -> int:
    """Where a window closes: at ``cut`` moved back to a space, never before ``least``."""
    if cut >= len(text):
        return len(text)
    spaces = [m.start() for m in _SPACE.finditer(text, least, cut)]
    return max(cut, least) if not spaces else spaces[-1]


def highlights(item: dict[str, Any], search: Search) -> dict[str, str]:
    """``_highlight`` of one item: {dot path: marked text} of the searched fields that matched."""
    found = {}
    for path, text in field_texts(item, search.fields):
        shown = marked(text, search.expr)
        if shown is not None:
            found[path] = shown
    return found


def annotate(
    items: list[dict[str, Any]], search: Search | None, scores: Sequence[float] | None
) -> list[dict[str, Any]]:
    """The page's items with ``_score``/``_highlight`` as ``search`` asks (new dicts)."""
    if search is None or not (search.score or search.highlight):
        return items
    result = []
    for index, item in enumerate(items):
        extra: dict[str, Any] = {}
        if search.score:
            extra["_score"] = scores[index] if scores is not None else None
        if search.highlight:
            extra["_highlight"] = highlights(item, search)
        result.append({**item, **extra})
    return result
