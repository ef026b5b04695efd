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
import re
import unicodedata
from collections.abc import Callable

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
MAX_REPEAT = 1_000
"""Largest count in ``{m,n}``."""
_CACHE_LIMIT = 50_000

_BRACES = re.compile(r"\{(\d*)(,(\d*))?\}")
_HEX = {"x": 2, "u": 4, "U": 8}
_CONTROL = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}


class RegexError(ValueError):
    """The pattern is malformed, unsupported or too large; the message says which."""


def _is_word(c: str) -> bool:
    return c.isalnum() or c == "_"


_CATEGORIES: dict[str, tuple[Callable[[str], bool], bool]] = {
    "d": (str.isdecimal, False),
    "D": (str.isdecimal, True),
    "w": (_is_word, False),
    "W": (_is_word, True),
    "s": (str.isspace, False),
    "S": (str.isspace, True),
}


class _CharSet:
    """A test for one character, ignoring case as ``re.IGNORECASE`` does."""

    __slots__ = ("cats", "chars", "negated", "ranges")

    def __init__(
        self,
        chars: frozenset[str] = frozenset(),
        ranges: tuple[tuple[int, int], ...] = (),
        cats: tuple[tuple[Callable[[str], bool], bool], ...] = (),
        negated: bool = False,
    ) -> None:
        self.chars = chars
        self.ranges = ranges
        self.cats = cats
        self.negated = negated

    def _raw(self, c: str) -> bool:
        if c in self.chars:
            return True
        code = ord(c)
        if any(lo <= code <= hi for lo, hi in self.ranges):
            return True
        return any(test(c) != negated for test, negated in self.cats)

    def __call__(self, c: str) -> bool:
        variants = {c, c.lower(), c.upper()}
        hit = any(self._raw(v) for v in variants if len(v) == 1)
        return hit != self.negated


class _Char:
    __slots__ = ("test",)

    def __init__(self, test: Callable[[str], bool]) -> None:
        self.test = test


class _Assert:
    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind


class _Seq:
    __slots__ = ("items",)

    def __init__(self, items: list[_Node]) -> None:
        self.items = items


class _Alt:
    __slots__ = ("options",)

    def __init__(self, options: list[_Node]) -> None:
        self.options = options


class _Repeat:
    __slots__ = ("high", "low", "node")

    def __init__(self, node: _Node, low: int, high: int | None) -> None:
        self.node = node
        self.low = low
        self.high = high


_Node = _Char | _Assert | _Seq | _Alt | _Repeat


def _literal(c: str) -> _Char:
    return _Char(_CharSet(chars=frozenset({c, c.lower(), c.upper()})))


def _not_newline(c: str) -> bool:
    return c != "\n"


class _Parser:
    """Recursive descent over the pattern text, building the node tree."""

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.pos = 0

    def parse(self) -> _Node:
        node = self._alternation()
        if self.pos < len(self.text):
            raise RegexError(f"unbalanced parenthesis at position {self.pos}")
        return node

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _take(self) -> str:
        c = self._peek()
        if not c:
            raise RegexError("unexpected end of pattern")
        self.pos += 1
        return c

    def _alternation(self) -> _Node:
        options = [self._sequence()]
        while self._peek() == "|":
            self.pos += 1
            options.append(self._sequence())
        return options[0] if len(options) == 1 else _Alt(options)

    def _sequence(self) -> _Node:
        items: list[_Node] = []
        while self._peek() not in ("", "|", ")"):
            items.append(self._quantified())
        return items[0] if len(items) == 1 else _Seq(items)

    def _quantified(self) -> _Node:
        node = self._atom()
        bounds = self._quantifier()
        if bounds is None:
            return node
        if self._peek() == "?":
            self.pos += 1  # lazy: matches the same texts
        elif self._peek() == "+":
            raise RegexError("possessive repeats are not supported")
        if self._peek() in ("*", "+", "?") or self._braces() is not None:
            raise RegexError(f"multiple repeat at position {self.pos}")
        return _Repeat(node, *bounds)

    def _braces(self) -> re.Match[str] | None:
        found = _BRACES.match(self.text, self.pos)
        if found is None or not (found.group(1) or found.group(2)):
            return None
        return found

    def _quantifier(self) -> tuple[int, int | None] | None:
        simple = {"*": (0, None), "+": (1, None), "?": (0, 1)}
        c = self._peek()
        if c in simple:
            self.pos += 1
            return simple[c]
        found = self._braces()
        if found is None:
            return None
        self.pos = found.end()
        low = int(found.group(1) or 0)
        high = None if found.group(2) and not found.group(3) else int(found.group(3) or low)
        if max(low, high or 0) > MAX_REPEAT:
            raise RegexError(f"repeat counts above {MAX_REPEAT} are not supported")
        if high is not None and low > high:
            raise RegexError("min repeat greater than max repeat")
        return low, high

    def _atom(self) -> _Node:
        c = self._take()
        if c == "(":
            return self._group()
        if c == "[":
            return self._class()
        if c == "\\":
            return self._escape()
        if c in "*+?":
            raise RegexError(f"nothing to repeat at position {self.pos - 1}")
        if c == ")":
            raise RegexError(f"unbalanced parenthesis at position {self.pos - 1}")
        atoms: dict[str, _Node] = {
            ".": _Char(_not_newline),
            "^": _Assert("start"),
            "$": _Assert("end"),
        }
        return atoms.get(c) or _literal(c)

    def _group(self) -> _Node:
        if self._peek() == "?":
            self.pos += 1
            if self._peek() == ":":
                self.pos += 1
            elif self.text.startswith("P<", self.pos):
                end = self.text.find(">", self.pos)
                if end < 0 or not self.text[self.pos + 2 : end].isidentifier():
                    raise RegexError(f"bad group name at position {self.pos}")
                self.pos = end + 1
            else:
                raise RegexError(f"'(?{self._peek()}' groups are not supported")
        node = self._alternation()
        if self._peek() != ")":
            raise RegexError("missing ), unterminated subpattern")
        self.pos += 1
        return node

    def _escape(self) -> _Node:
        c = self._take()
        if c in _CATEGORIES:
            return _Char(_CharSet(cats=(_CATEGORIES[c],)))
        kinds = {"b": "word", "B": "nonword", "A": "start_string", "Z": "end_string"}
        if c in kinds:
            return _Assert(kinds[c])
        return _literal(self._escaped_char(c))

    def _escaped_char(self, c: str) -> str:
        if c in _CONTROL:
            return _CONTROL[c]
        if c in _HEX:
            return self._hex(_HEX[c])
        if c == "N":
            return self._named()
        if c.isdigit():
            return self._octal(c)
        if c.isascii() and c.isalpha():
            raise RegexError(f"bad escape \\{c}")
        return c

    def _hex(self, width: int) -> str:
        digits = self.text[self.pos : self.pos + width]
        if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise RegexError(f"incomplete escape at position {self.pos}")
        self.pos += width
        code = int(digits, 16)
        if code > 0x10FFFF:
            raise RegexError("escape out of the Unicode range")
        return chr(code)

    def _named(self) -> str:
        end = self.text.find("}", self.pos)
        if self._peek() != "{" or end < 0:
            raise RegexError("missing { after \\N")
        try:
            char = unicodedata.lookup(self.text[self.pos + 1 : end])
        except KeyError as exc:
            raise RegexError("undefined character name in \\N{...}") from exc
        self.pos = end + 1
        return char

    def _octal(self, first: str) -> str:
        if first not in "01234567" or (first != "0" and not self._peek().isdigit()):
            raise RegexError("backreferences are not supported")
        digits = first
        while len(digits) < 3 and self._peek() in tuple("01234567"):
            digits += self._take()
        return chr(int(digits, 8))

    def _class(self) -> _Node:
        negated = self._peek() == "^"
        if negated:
            self.pos += 1
        chars: set[str] = set()
        ranges: list[tuple[int, int]] = []
        cats: list[tuple[Callable[[str], bool], bool]] = []
        first = True
        while first or self._peek() != "]":
            if not self._peek():
                raise RegexError("unterminated character set")
            first = False
            item = self._class_item()
            if isinstance(item, tuple):
                cats.append(item)
            elif self._peek() == "-" and self.text[self.pos + 1 : self.pos + 2] not in ("]", ""):
                self.pos += 1
                high = self._class_item()
                if isinstance(high, tuple) or ord(high) < ord(item):
                    raise RegexError("bad character range")
                ranges.append((ord(item), ord(high)))
            else:
                chars.add(item)
        self.pos += 1
        return _Char(_CharSet(frozenset(chars), tuple(ranges), tuple(cats), negated))

    def _class_item(self) -> str | tuple[Callable[[str], bool], bool]:
        c = self._take()
        if c != "\\":
            return c
        c = self._take()
        if c in _CATEGORIES:
            return _CATEGORIES[c]
        if c == "b":
            return "\b"
        return self._escaped_char(c)


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
