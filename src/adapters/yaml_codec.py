"""Reading and writing the YAML of entry and token files, and their errors, in one place."""

from __future__ import annotations

import contextlib
import gc
import re
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any, cast

import msgspec
import yaml
from yaml.serializer import Serializer

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


# -- big documents without stopping every thread -----------------------------------
#
# A document of a million values is a million nodes, built and dropped in seconds in a
# worker thread. Three things there would stop every other thread, the event loop too,
# for a tenth of a second or more at a time: the cyclic garbage collector, set off again
# and again by so many new objects (each full pass walks them all); the C serializer's
# first walk over the whole node graph, one C call; and the release of the node graph,
# one C-level cascade. So big documents pause the collector (YAML work makes no
# reference cycles), are serialised from Python, and their node graphs are released a
# slice at a time. Small ones, the usual, keep the all-C path: twice as fast for them.

BIG_DOCUMENT = 64 * 1024
"""Bytes (of YAML text, or of the fields as JSON) from which a document counts as big."""
_SIZE_ENCODER = msgspec.json.Encoder(enc_hook=str)
_RELEASE_SLICE = 10_000
_gc_guard = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while any thread is inside such a block."""
    global _gc_pausers, _gc_was_enabled
    with _gc_guard:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_guard:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def _release(root: yaml.Node) -> None:
    """Drop a node graph a slice of nodes at a time, so other threads run in between."""
    containers = [root]
    while containers:
        children = containers.pop().value
        if not isinstance(children, list):
            continue
        while children:
            kept = children[-_RELEASE_SLICE:]
            del children[-_RELEASE_SLICE:]
            for child in kept:
                # A mapping holds (key, value) pairs; containers wait for their own turn.
                for node in child if isinstance(child, tuple) else (child,):
                    if isinstance(node.value, list):
                        containers.append(node)
            del kept  # the scalar nodes of this slice go here


class _BigDumper(Serializer, _BaseDumper):
    """The safe dumper for big documents, holding the GIL only briefly at a time.

    Serialised by PyYAML's Python serializer (first in the MRO) into the C emitter, event
    by event: the same bytes as fast, where the C serializer first walks the whole node
    graph in one C call (a fifth of a second on a million nodes). The node graph is
    released a slice at a time (see ``_release``).
    """

    def __init__(self, stream: Any, *, encoding: str | None = None, **options: Any) -> None:
        _BaseDumper.__init__(self, stream, encoding=encoding, **options)
        Serializer.__init__(self, encoding=encoding)

    def represent(self, data: Any) -> None:
        node = self.represent_data(data)
        self.serialize(node)
        # What BaseRepresenter.represent resets after serialising.
        self.represented_objects = {}
        self.object_keeper = []
        self.alias_key = None
        _release(node)


# -- building the values of a node graph ---------------------------------------------
#
# PyYAML's constructor is generic (per node: a state machine, a cache for anchors,
# generators for recursive values) and took half of a small entry's parse. Documents
# made of plain mappings, sequences and the core scalars are built by a direct walk
# instead; anything else (another tag, a merge key, an anchor used twice, deep nesting)
# goes to PyYAML's constructor, from the start, so the values are always the same.

_STR_TAG = "tag:yaml.org,2002:str"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"
_SCALARS: dict[str, Callable[[Any, yaml.ScalarNode], Any]] = {
    _INT_TAG: _Loader.construct_yaml_int,
    _FLOAT_TAG: _Loader.construct_yaml_float,
    _BOOL_TAG: _Loader.construct_yaml_bool,
    "tag:yaml.org,2002:null": _Loader.construct_yaml_null,
}
_FAST_DEPTH = 64


class _NotPlainError(Exception):
    """The node graph needs PyYAML's own constructor."""


def _plain(loader: _Loader, node: yaml.Node, depth: int, seen: set[int]) -> Any:
    kind = type(node)
    if kind is yaml.ScalarNode:
        if node.tag == _STR_TAG:
            return node.value
        scalar = _SCALARS.get(node.tag)
        if scalar is None:
            raise _NotPlainError
        return scalar(loader, cast("yaml.ScalarNode", node))
    # An anchor's node comes back for each alias: PyYAML shares one value for them.
    if depth > _FAST_DEPTH or id(node) in seen:
        raise _NotPlainError
    seen.add(id(node))
    if kind is yaml.SequenceNode and node.tag == _SEQ_TAG:
        return [_plain(loader, item, depth + 1, seen) for item in node.value]
    if kind is yaml.MappingNode and node.tag == _MAP_TAG:
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _plain(loader, key_node, depth + 1, seen)  # a merge key `<<` is not plain
            if not isinstance(key, Hashable):
                raise _NotPlainError
            mapping[key] = _plain(loader, value_node, depth + 1, seen)
        return mapping
    raise _NotPlainError


def _construct(loader: _Loader, node: yaml.Node) -> Any:
    try:
        return _plain(loader, node, 0, set())
    except _NotPlainError:
        return loader.construct_document(node)


def load_mapping(text: str) -> Fields:
    with _gc_paused() if len(text) > BIG_DOCUMENT else contextlib.nullcontext():
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = None if node is None else _construct(loader, node)
        finally:
            loader.dispose()
        if node is not None:
            _release(node)
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
    try:
        big = len(_SIZE_ENCODER.encode(fields)) > BIG_DOCUMENT
    except (TypeError, msgspec.EncodeError):  # keys JSON cannot take: YAML will say
        big = False
    with _gc_paused() if big else contextlib.nullcontext():
        return yaml.dump(
            dict(fields),
            Dumper=_BigDumper if big else _BaseDumper,
            sort_keys=False,
            allow_unicode=True,
            default_flow_style=False,
            encoding="utf-8",
        )
