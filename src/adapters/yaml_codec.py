"""Reading and writing the YAML of entry and token files, and their errors, in one place."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec
import yaml

from flextype_core.errors import StorageError

__all__ = [
    "PARSE_RULES",
    "STORAGE_FAILURES",
    "MalformedFileError",
    "dump",
    "load_front_matter",
    "load_mapping",
    "storage_error",
    "storage_errors",
]

Fields = dict[str, Any]

PARSE_RULES = 2
"""Bump when a file would now be read into other values (scalar rules, front matter...):
what was kept of files read under the old rules (the index snapshot) is then dropped.
2: entry.md dates are read as Flextype answered them (``flextype_dates``)."""

try:
    from yaml import CSafeDumper as _BaseDumper
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # PyYAML built without libyaml: same documents, only slower
    from yaml import SafeDumper as _BaseDumper  # type: ignore[assignment]
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
# A line that is only `---` (one blank either side allowed), as Flextype's own splitter.
_FENCE = re.compile(r"^\s?---\s?$", re.MULTILINE)
# PHP's trim(): Flextype trimmed the front matter and body with it, not Unicode spaces.
_PHP_BLANKS = " \t\n\r\0\x0b"


class _Loader(_BaseLoader):
    """Safe loader that reads plain scalars as YAML 1.2 does, as Flextype's parser did.

    ``2020-01-01`` stays a string: a ``datetime.date`` cannot be JSON, and a round trip
    through the API would change it. ``yes``/``no``/``on``/``off`` stay strings and only
    ``true``/``false`` are booleans, and ``1:20`` is no base-60 number: YAML 1.1 rules
    that would turn a hand-written ``title: no`` into ``false``.
    """


_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_YAML12_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_YAML12_INT = re.compile(
    r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"
)
_YAML12_FLOAT = re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?"
    r"|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)


def _yaml12(tag: str, regexp: re.Pattern[str]) -> tuple[str, re.Pattern[str]] | None:
    if tag == _TIMESTAMP_TAG:
        return None
    replaced = {_BOOL_TAG: _YAML12_BOOL, _INT_TAG: _YAML12_INT, _FLOAT_TAG: _YAML12_FLOAT}
    return tag, replaced.get(tag, regexp)


# A changed copy of the table; the base loader's own table stays untouched.
_Loader.yaml_implicit_resolvers = {
    first: [r for r in (_yaml12(tag, regexp) for tag, regexp in resolvers) if r is not None]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


class MalformedFileError(ValueError):
    """A file that parses but is not what the store keeps (a list instead of a mapping)."""


def _reason(exc: Exception) -> str:
    # Only line numbers and the parser's words: an OSError's filename or a YAML mark's
    # stream name could reveal where the project lives.
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"invalid YAML ({exc.problem}, line {mark.line + 1}, column {mark.column + 1})"
    if isinstance(exc, yaml.YAMLError):
        return "invalid YAML"
    if isinstance(exc, UnicodeDecodeError):
        return "the file is not UTF-8 text"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc)


@contextlib.contextmanager
def storage_errors(subject: str, action: str) -> Iterator[None]:
    """Turn file, YAML, encoding and validation failures into one ``StorageError``.

    Domain errors raised inside pass through unchanged; the message names ``subject``
    (an entry or token id), never a path.
    """
    try:
        yield
    except STORAGE_FAILURES as exc:
        raise storage_error(subject, action, exc) from exc


STORAGE_FAILURES = (
    OSError,
    yaml.YAMLError,
    UnicodeDecodeError,
    msgspec.ValidationError,
    MalformedFileError,
)


def storage_error(subject: str, action: str, exc: Exception) -> StorageError:
    return StorageError(f"{subject} cannot be {action}: {_reason(exc)}.")


def load_mapping(text: str) -> Fields:
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    finally:
        loader.dispose()
    if data is None:  # an empty file: an entry with no fields yet
        return {}
    if not isinstance(data, dict):
        raise MalformedFileError(f"the file holds a {type(data).__name__}, not a mapping of fields")
    return data


def load_front_matter(text: str) -> Fields:
    """Read Flextype's ``entry.md``: YAML between ``---`` lines, the rest is ``content``."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    parts = _FENCE.split("\n" + text.lstrip(), maxsplit=2)
    # Unlike Flextype, a file that does not open with a fence is all body: two `---`
    # rules inside Markdown are not front matter.
    if len(parts) < 3 or parts[0].strip(_PHP_BLANKS):
        return {"content": text.strip(_PHP_BLANKS)}
    fields = load_mapping(parts[1].strip(_PHP_BLANKS))
    # Flextype merged with PHP's `+`: a `content` key in the front matter wins.
    fields.setdefault("content", parts[2].strip(_PHP_BLANKS))
    return fields


def dump(fields: Mapping[str, Any]) -> bytes:
    # Insertion order and readable Unicode keep a hand-maintained file's diffs small. The
    # default resolvers quote date-like strings, so other YAML readers see strings too.
    return yaml.dump(
        dict(fields),
        Dumper=_BaseDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        encoding="utf-8",
    )
