"""Messages for settings that cannot be used: where each came from, and what would do.

A setting comes from the settings file or from a ``FLEXTYPE_*`` variable; a message
names the one to fix, the allowed values of a choice, and the nearest known key of a
misspelt one (``difflib``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any, Literal, get_args, get_origin

import msgspec

from flextype_core.registry import is_secret_key

__all__ = ["Sources", "explain_invalid", "find_unknown_key"]

_AT = re.compile(r"^(.*) - at `\$\.?([^`]*)`$")
_EXPECTED = re.compile(r"^Expected `([^`]+)`(.*)$")
_KINDS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "array": "a list",
    "object": "a mapping",
}


class Sources:
    """Where each setting came from: the settings file, or a variable for some paths.

    Args:
        file: the settings file as the user named the project, e.g. ``site/flextype.yaml``.
        variables: the ``FLEXTYPE_*`` variable that set each path.
        prefix: the variables' prefix, to suggest one by name.
    """

    def __init__(self, file: str, variables: Mapping[tuple[str, ...], str], prefix: str) -> None:
        self.file = file
        self.variables = dict(variables)
        self.prefix = prefix

    def of(self, path: tuple[str, ...]) -> str | None:
        """The variable that set ``path`` or a section above it; None: the file did."""
        for end in range(len(path), 0, -1):
            name = self.variables.get(path[:end])
            if name is not None:
                return name
        return None

    def variable(self, path: tuple[str, ...]) -> str:
        """The variable that would set ``path``."""
        return self.prefix + "__".join(path).upper()


def find_unknown_key(
    raw: Mapping[Any, Any], struct: type[msgspec.Struct], sources: Sources
) -> str | None:
    """Return a message for the first key no section knows, or a section that is a value.

    ``msgspec`` would name the key too, but neither where it came from nor what was meant.
    """
    return _walk(raw, struct, (), sources)


def _walk(
    node: Mapping[Any, Any], struct: type[msgspec.Struct], at: tuple[str, ...], sources: Sources
) -> str | None:
    fields = {f.encode_name: f.type for f in msgspec.structs.fields(struct)}
    for key, value in node.items():
        path = (*at, str(key))
        if key not in fields:
            return _unknown(path, sorted(fields), sources)
        section = fields[key]
        if isinstance(section, type) and issubclass(section, msgspec.Struct):
            if not isinstance(value, Mapping):
                where = sources.of(path) or sources.file
                return f"{where}: `{_dotted(path)}` is a section of settings, not {value!r}."
            found = _walk(value, section, path, sources)
            if found is not None:
                return found
    return None


def _unknown(path: tuple[str, ...], known: list[str], sources: Sources) -> str:
    variable = sources.of(path)
    text = f"{variable or sources.file}: unknown setting `{_dotted(path)}`"
    near = difflib.get_close_matches(path[-1], known, n=1, cutoff=0.7)
    if near:
        meant = (*path[:-1], near[0])
        shown = sources.variable(meant) if variable else f"`{_dotted(meant)}`"
        return f"{text}; did you mean {shown}?"
    section = f"`{_dotted(path[:-1])}`" if len(path) > 1 else "the top level"
    return f"{text}; the settings of {section} are: {', '.join(known)}."


def explain_invalid(
    message: str, raw: Mapping[Any, Any], struct: type[msgspec.Struct], sources: Sources
) -> str:
    """Rewrite msgspec's ``message`` about a wrong value: its source, what it must be."""
    located = _AT.match(message)
    if located is None:
        return f"{sources.file} or FLEXTYPE_*: {message}"
    problem, where = located.groups()
    path = tuple(re.sub(r"\[\d+\]", "", where).split("."))
    source = sources.of(path) or sources.file
    name = "`" + re.sub(r"\[(\d+)\]", r".\1", where) + "`"
    # A secret's value is never shown: the message goes to a terminal or a log.
    secret = any(is_secret_key(key) for key in path)
    got = "its value is a secret" if secret else f"got {_value_at(raw, where)!r}"
    choices = _choices(struct, path)
    if choices:
        return f"{source}: {name} must be one of: {', '.join(choices)} ({got})."
    expected = _EXPECTED.match(problem)
    if expected is not None and expected.group(1) in _KINDS:
        # A constraint follows ("Expected `int` >= 1"); a wrong type says ", got `str`".
        bound = "" if expected.group(2).startswith(",") else expected.group(2).strip()
        kind = f"{_KINDS[expected.group(1)]} {bound}" if bound else _KINDS[expected.group(1)]
        return f"{source}: {name} must be {kind} ({got})."
    return f"{source}: {name}: {problem}."


def _choices(struct: type[msgspec.Struct], path: tuple[str, ...]) -> list[str]:
    """The allowed values of the setting at ``path`` if it is a choice, else none."""
    kind: Any = struct
    for key in path:
        fields = {f.encode_name: f.type for f in msgspec.structs.fields(kind)}
        kind = fields.get(key)
        if kind is None:
            return []
        if not (isinstance(kind, type) and issubclass(kind, msgspec.Struct)):
            break
    return [str(v) for v in get_args(kind)] if get_origin(kind) is Literal else []


def _value_at(raw: Mapping[Any, Any], where: str) -> Any:
    node: Any = raw
    for part in re.findall(r"[^.\[\]]+", where):
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, TypeError, ValueError):
            return None
    return node


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path)
