"""PHP-style bracket keys (``options[filter][where][0][key]=year``) into nested data.

The one parser for query strings and form bodies. It follows PHP's ``parse_str`` and
``json_encode`` so a client written for Flextype gets the same structure: ``a[b]=1``
nests, ``a[]=x`` appends, a repeated key keeps the last value, and a map whose keys are
exactly ``0..n-1`` in order becomes a list.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote_plus

from flextype_core.errors import BadRequest

__all__ = ["MAX_DEPTH", "MAX_FIELDS", "encode_brackets", "parse_brackets"]

MAX_FIELDS = 1000
"""Most fields one query string or form body may carry (PHP's ``max_input_vars``)."""
MAX_DEPTH = 32
"""Deepest bracket nesting accepted (PHP allows 64; no option needs more than 6)."""

_KEY = re.compile(r"([^\[\]]*)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")

Node = dict[str, Any]


def _path(name: str) -> list[str] | None:
    """Split ``a[b][]`` into ``["a", "b", ""]``; None for a name PHP would drop."""
    match = _KEY.match(name)
    if match is None or match.group(1) == "":
        # Unbalanced brackets: PHP keeps such a name literally.
        return [name] if match is None and name and not name.startswith("[") else None
    return [match.group(1), *_PART.findall(match.group(2))]


def _assign(root: Node, path: list[str], value: str) -> None:
    node = root
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if part == "":
            # ``[]`` appends: the next integer key, as in PHP.
            part = str(1 + max((int(k) for k in node if k.isascii() and k.isdigit()), default=-1))
        if last:
            node[part] = value
        else:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and list(items) == [str(i) for i in range(len(items))]:
        return list(items.values())
    return items


def _pairs(text: str) -> list[tuple[str, str]]:
    """Split ``a=1&b=x+y`` as ``parse_qsl(keep_blank_values=True)`` does, but faster.

    Most pairs need no unquoting; ``unquote_plus`` runs only on those that do.
    """
    pieces = [piece for piece in text.split("&") if piece]
    if len(pieces) > MAX_FIELDS:
        raise BadRequest(f"Too many parameters: at most {MAX_FIELDS} are accepted.")
    pairs = []
    for piece in pieces:
        name, _, value = piece.partition("=")
        if "%" in piece or "+" in piece:
            name = unquote_plus(name, errors="strict")
            value = unquote_plus(value, errors="strict")
        pairs.append((name, value))
    return pairs


def parse_brackets(raw: str | bytes) -> dict[str, Any]:
    """Parse a query string or form body with bracket keys into nested dicts and lists.

    Args:
        raw: ``a[b]=1&c[]=x`` as text or bytes (UTF-8, percent-encoded, ``+`` for space).

    Returns:
        Nested data whose leaves are strings.

    Raises:
        BadRequest: more than ``MAX_FIELDS`` fields, nesting deeper than ``MAX_DEPTH``,
            or bytes that are not UTF-8.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        pairs = _pairs(text)
    except UnicodeDecodeError as exc:
        raise BadRequest("The query string or form body is not valid UTF-8.") from exc
    root: Node = {}
    for name, value in pairs:
        path = _path(name)
        if path is None:
            continue
        if len(path) > MAX_DEPTH:
            raise BadRequest(f"Parameter nesting is deeper than {MAX_DEPTH} levels.")
        _assign(root, path, value)
    # The top level stays a mapping of names, as PHP's superglobals are.
    return {name: _listify(value) for name, value in root.items()}


def encode_brackets(data: dict[str, Any]) -> str:
    """Encode nested dicts and lists of strings as a bracket query string (lists as ``[i]``)."""
    pairs: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}[{k}]" if prefix else str(k), v)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(f"{prefix}[{i}]", v)
        else:
            pairs.append(f"{quote(prefix, safe='[]')}={quote(str(value), safe='')}")

    walk("", data)
    return "&".join(pairs)
