"""Parse a ``regexp`` pattern (a subset of Python's syntax) into a tree for ``regex``."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

__all__ = ["MAX_REPEAT", "RegexError"]

MAX_REPEAT = 1_000
"""Largest count in ``{m,n}``."""

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
