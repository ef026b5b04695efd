r"""A linear-time, case-insensitive regular expression search for ``regexp``/``nregexp``.

Python's ``re`` backtracks, so a pattern such as ``(a+)+$`` or even ``.*.*x`` can take
hours on a long field, and a thread running it cannot be stopped. This module parses a
pattern (Python syntax, a subset) into a Thompson NFA and searches by simulating every
NFA state at once, caching each set of states as a DFA state on first use. A search
costs at most O(len(subject) x states), whatever the pattern, and usually one dict
lookup per character. Bounds: a pattern of at most ``MAX_PATTERN`` characters, at most
``MAX_STATES`` NFA states after counted repeats are expanded, repeat counts of at most
``MAX_REPEAT``.

Supported: literals, ``.``, classes (``[a-z]``, ``[^...]``, ``\d \w \s \D \W \S``),
groups (``(...)``, ``(?:...)``, ``(?P<name>...)``), ``|``, ``* + ? {m} {m,} {,n}
{m,n}`` (lazy forms too: they match the same texts), ``^ $ \A \Z \b \B``, and the
escapes ``\n \t \r \f \v \a \0 \xhh \uhhhh \Uhhhhhhhh \N{name}``. Refused with
:class:`RegexError`: backreferences, lookaround, conditionals, atomic groups, possessive
repeats and inline flags, which either need backtracking or change what matches.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flextype_core.query.regex_syntax import (
    MAX_REPEAT,
    RegexError,
    _Alt,
    _Assert,
    _Char,
    _is_word,
    _Node,
    _Parser,
    _Repeat,
    _Seq,
)

__all__ = [
    "MAX_PATTERN",
    "MAX_REPEAT",
    "MAX_STATES",
    "MAX_SUBJECT",
    "Program",
    "RegexError",
    "compile_pattern",
]
MAX_PATTERN = 256
"""Longest pattern accepted, in characters."""
MAX_SUBJECT = 10_000
"""Longest field searched, in characters; a longer field matches neither operator."""
MAX_STATES = 2_000
"""Most NFA states one pattern may need."""
_CACHE_LIMIT = 50_000


_CHAR, _SPLIT, _ASSERT, _MATCH = 0, 1, 2, 3

_Context = tuple[bool, bool, bool, bool, bool]
"""(at start, at end, before a final newline, previous is a word char, next is one)."""


class Program:
    """A compiled pattern: an NFA plus the DFA states met so far."""

    def __init__(self, node: _Node) -> None:
        self._kinds: list[int] = []
        self._tests: list[Callable[[str], bool] | None] = []
        self._asserts: list[str] = []
        self._outs: list[list[int]] = []
        self._match = self._add(_MATCH)
        self._start = self._emit(node, self._match)
        self._cache: dict[tuple[frozenset[int], str, _Context], frozenset[int]] = {}
        self._closures: dict[tuple[frozenset[int], _Context], frozenset[int]] = {}

    def _add(
        self,
        kind: int,
        outs: list[int] | None = None,
        test: Callable[[str], bool] | None = None,
        kind_of_assert: str = "",
    ) -> int:
        if len(self._kinds) >= MAX_STATES:
            raise RegexError(f"pattern too complex (more than {MAX_STATES} states)")
        self._kinds.append(kind)
        self._tests.append(test)
        self._asserts.append(kind_of_assert)
        self._outs.append(outs or [])
        return len(self._kinds) - 1

    def _emit(self, node: _Node, after: int) -> int:
        """Add the states of ``node`` that continue to ``after``; return its entry state."""
        match node:
            case _Char(test=test):
                return self._add(_CHAR, [after], test=test)
            case _Assert(kind=kind):
                return self._add(_ASSERT, [after], kind_of_assert=kind)
            case _Seq(items=items):
                for item in reversed(items):
                    after = self._emit(item, after)
                return after
            case _Alt(options=options):
                return self._add(_SPLIT, [self._emit(o, after) for o in options])
            case _Repeat(node=inner, low=low, high=high):
                return self._emit_repeat(inner, low, high, after)
        raise AssertionError(node)  # pragma: no cover

    def _emit_repeat(self, node: _Node, low: int, high: int | None, after: int) -> int:
        if high is None:
            loop = self._add(_SPLIT)
            self._outs[loop] = [self._emit(node, loop), after]
            entry = loop
        else:
            entry = after
            for _ in range(high - low):
                entry = self._add(_SPLIT, [self._emit(node, entry), after])
        for _ in range(low):
            entry = self._emit(node, entry)
        return entry

    def _holds(self, kind: str, ctx: _Context) -> bool:
        at_start, at_end, before_final_newline, prev_word, next_word = ctx
        checks = {
            "start": at_start,
            "start_string": at_start,
            "end": at_end or before_final_newline,
            "end_string": at_end,
            "word": prev_word != next_word,
            "nonword": prev_word == next_word,
        }
        return checks[kind]

    def _closure(self, states: frozenset[int], ctx: _Context) -> frozenset[int]:
        key = (states, ctx)
        found = self._closures.get(key)
        if found is not None:
            return found
        seen: set[int] = set()
        stack = list(states)
        while stack:
            state = stack.pop()
            if state in seen:
                continue
            seen.add(state)
            kind = self._kinds[state]
            if kind == _SPLIT or (kind == _ASSERT and self._holds(self._asserts[state], ctx)):
                stack.extend(self._outs[state])
        result = frozenset(s for s in seen if self._kinds[s] in (_CHAR, _MATCH))
        self._closures[key] = result
        return result

    def _step(self, states: frozenset[int], c: str, ctx: _Context) -> frozenset[int]:
        moved = {self._start}
        for state in states:
            test = self._tests[state]
            if test is not None and test(c):
                moved.update(self._outs[state])
        return self._closure(frozenset(moved), ctx)

    def search(self, subject: str) -> bool:
        """Tell whether the pattern matches anywhere in ``subject``."""
        if len(self._cache) > _CACHE_LIMIT or len(self._closures) > _CACHE_LIMIT:
            self._cache.clear()
            self._closures.clear()
        ctx = _context(subject, 0)
        states = self._closure(frozenset({self._start}), ctx)
        for i, c in enumerate(subject):
            if self._match in states:
                return True
            ctx = _context(subject, i + 1)
            key = (states, c, ctx)
            following = self._cache.get(key)
            if following is None:
                following = self._cache[key] = self._step(states, c, ctx)
            states = following
        return self._match in states


def _context(subject: str, pos: int) -> _Context:
    n = len(subject)
    return (
        pos == 0,
        pos == n,
        pos == n - 1 and subject[-1] == "\n",
        pos > 0 and _is_word(subject[pos - 1]),
        pos < n and _is_word(subject[pos]),
    )


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Program:
    """Compile ``pattern`` once (cached by its text).

    Raises:
        RegexError: the pattern is longer than ``MAX_PATTERN``, malformed, uses an
            unsupported construct or needs more than ``MAX_STATES`` states.
    """
    if len(pattern) > MAX_PATTERN:
        raise RegexError(f"pattern longer than {MAX_PATTERN} characters")
    return Program(_Parser(pattern).parse())
