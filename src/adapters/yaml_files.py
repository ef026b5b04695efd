"""EntryStore and TokenStore over YAML files: a folder per entry, a file per token."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import yaml

from adapters.atomic import fsync_dir, write_atomic
from adapters.file_cache import ParsedFileCache
from flextype_core import ids
from flextype_core.errors import (
    Conflict,
    EntryNotFound,
    InvalidId,
    StorageError,
    TokenNotFound,
    shown,
)
from flextype_core.model import Entry, Token

try:
    from yaml import CSafeDumper as _BaseDumper
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # PyYAML built without libyaml: same documents, only slower
    from yaml import SafeDumper as _BaseDumper  # type: ignore[assignment]
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

__all__ = ["YamlFilesEntryStore", "YamlFilesTokenStore"]

Fields = dict[str, Any]

ENTRY_FILE = "entry.yaml"
"""What every write produces: the entry's fields as one YAML mapping."""
LEGACY_ENTRY_FILE = "entry.md"
"""Flextype's front matter format, read when a folder has no ``entry.yaml``."""

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_FIELDS_DECODER = msgspec.json.Decoder(dict[str, Any])
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


class _MalformedFileError(ValueError):
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
def _storage_errors(subject: str, action: str) -> Iterator[None]:
    """Turn file, YAML, encoding and validation failures into one ``StorageError``.

    Domain errors raised inside pass through unchanged; the message names ``subject``
    (an entry or token id), never a path.
    """
    try:
        yield
    except _FAILURES as exc:
        raise _storage_error(subject, action, exc) from exc


_FAILURES = (
    OSError,
    yaml.YAMLError,
    UnicodeDecodeError,
    msgspec.ValidationError,
    _MalformedFileError,
)


def _storage_error(subject: str, action: str, exc: Exception) -> StorageError:
    return StorageError(f"{subject} cannot be {action}: {_reason(exc)}.")


def _entry(entry_id: str) -> str:
    return f"Entry {shown(entry_id)}"


def _token(token_id: str) -> str:
    return f"Token {shown(token_id)}"


def _load_mapping(text: str) -> Fields:
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    finally:
        loader.dispose()
    if data is None:  # an empty file: an entry with no fields yet
        return {}
    if not isinstance(data, dict):
        raise _MalformedFileError(
            f"the file holds a {type(data).__name__}, not a mapping of fields"
        )
    return data


def _load_front_matter(text: str) -> Fields:
    """Read Flextype's ``entry.md``: YAML between ``---`` lines, the rest is ``content``."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    parts = _FENCE.split("\n" + text.lstrip(), maxsplit=2)
    # Unlike Flextype, a file that does not open with a fence is all body: two `---`
    # rules inside Markdown are not front matter.
    if len(parts) < 3 or parts[0].strip(_PHP_BLANKS):
        return {"content": text.strip(_PHP_BLANKS)}
    fields = _load_mapping(parts[1].strip(_PHP_BLANKS))
    # Flextype merged with PHP's `+`: a `content` key in the front matter wins.
    fields.setdefault("content", parts[2].strip(_PHP_BLANKS))
    return fields


def _parse_fields(load: Callable[[str], Fields], data: bytes) -> bytes:
    """Parse an entry file; keep it as JSON, which decodes far faster than YAML parses."""
    return msgspec.json.encode(load(data.decode("utf-8-sig")))


def _parse_token(token_id: str, data: bytes) -> Token:
    fields = _load_mapping(data.decode("utf-8-sig"))
    # The file name is the id: a `token` key inside the file cannot contradict it.
    fields["token"] = token_id
    return msgspec.convert(fields, type=Token)


_ENTRY_PARSERS = (
    (ENTRY_FILE, partial(_parse_fields, _load_mapping)),
    (LEGACY_ENTRY_FILE, partial(_parse_fields, _load_front_matter)),
)


def _dump(fields: Mapping[str, Any]) -> bytes:
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


def _is_entry_id(candidate: str) -> bool:
    try:
        ids.parse_entry_id(candidate)
    except InvalidId:
        return False
    return True


def _is_token_id(candidate: str) -> bool:
    try:
        ids.parse_token_id(candidate)
    except InvalidId:
        return False
    return True


class YamlFilesEntryStore:
    """EntryStore over ``<project>/entries``: entry ``a/b`` is ``a/b/entry.yaml``.

    Every call reads the disk, so edits by hand are seen at once. Writes by this process
    are serialised by one lock; each file is replaced atomically, and a delete first
    renames the folder away, so a reader sees an entry whole or not at all. Names
    starting with ``.`` (temporary files, trash) are never entries.
    """

    def __init__(self, root: Path) -> None:
        self._root = root
        self._lock = threading.RLock()
        self._parsed: ParsedFileCache[bytes] = ParsedFileCache()
        self._root_text = str(root)

    def get(self, entry_id: str) -> Entry:
        fields = self._read(entry_id)
        if fields is None:
            raise EntryNotFound(entry_id)
        return Entry(id=entry_id, fields=fields)

    def exists(self, entry_id: str) -> bool:
        if entry_id == ids.ROOT:
            return False
        folder = self._root / entry_id
        return (folder / ENTRY_FILE).is_file() or (folder / LEGACY_ENTRY_FILE).is_file()

    def has_descendants(self, entry_id: str) -> bool:
        with _storage_errors(f"The entries below {shown(entry_id)}", "listed"):
            return any(True for _ in self._walk(entry_id, None))

    def descendants(self, entry_id: str, depth: int | None) -> list[Entry]:
        with _storage_errors(f"The entries below {shown(entry_id)}", "listed"):
            # Sort the id strings themselves: "a-b" < "a/b" in code points, which a
            # walk that sorts each folder's names separately would get wrong.
            found = sorted(self._walk(entry_id, depth))
        entries = []
        for child_id in found:
            fields = self._read(child_id)
            if fields is not None:  # None: deleted since the walk saw it
                entries.append(Entry(id=child_id, fields=fields))
        return entries

    def create(self, entries: Mapping[str, Fields]) -> None:
        with self._lock:
            taken = [entry_id for entry_id in entries if self.exists(entry_id)]
            if taken:
                raise Conflict(f"Entry '{taken[0]}' already exists.")
            # Serialise everything before touching the disk, so bad data writes nothing.
            documents = {}
            for entry_id, fields in entries.items():
                with _storage_errors(_entry(entry_id), "written"):
                    documents[entry_id] = _dump(fields)
            written: list[str] = []
            try:
                for entry_id, data in documents.items():
                    with _storage_errors(_entry(entry_id), "written"):
                        write_atomic(self._root / entry_id / ENTRY_FILE, data)
                    written.append(entry_id)
            except BaseException:
                self._undo_create(written)
                raise

    def update(self, entry_id: str, change: Callable[[Fields], Fields]) -> Entry:
        with self._lock:
            current = self._read(entry_id)
            if current is None:
                raise EntryNotFound(entry_id)
            changed = change(current)
            folder = self._root / entry_id
            with _storage_errors(_entry(entry_id), "written"):
                data = _dump(changed)
                # Return what a later get() will read (tuples come back as lists, ...).
                stored = _load_mapping(data.decode("utf-8"))
                write_atomic(folder / ENTRY_FILE, data)
                # entry.yaml now shadows entry.md: drop the stale copy, not to confuse.
                with contextlib.suppress(FileNotFoundError):
                    (folder / LEGACY_ENTRY_FILE).unlink()
            return Entry(id=entry_id, fields=stored)

    def move(self, entry_id: str, new_id: str) -> None:
        with self._lock:
            if not self.exists(entry_id):
                raise EntryNotFound(entry_id)
            if self.exists(new_id) or self.has_descendants(new_id):
                raise Conflict(f"Entry '{new_id}' already exists.")
            source, target = self._root / entry_id, self._root / new_id
            with _storage_errors(_entry(entry_id), "moved"):
                # A folder holding no entries (left empty by hand) must not block the move.
                self._remove_empty_folders(target)
                if target.exists():  # non-entry files there: never overwrite them
                    raise Conflict(f"Entry '{new_id}' already exists.")
                target.parent.mkdir(parents=True, exist_ok=True)
                source.replace(target)
                fsync_dir(target.parent)
                fsync_dir(source.parent)
                self._prune(source.parent)

    def delete(self, entry_id: str) -> None:
        with self._lock:
            if not self.exists(entry_id) and not self.has_descendants(entry_id):
                raise EntryNotFound(entry_id)
            with _storage_errors(_entry(entry_id), "deleted"):
                if entry_id == ids.ROOT:  # as the reference store: every entry goes
                    for child in self._root.iterdir():
                        if child.is_dir() and not child.name.startswith("."):
                            self._remove_tree(child)
                    return
                folder = self._root / entry_id
                self._remove_tree(folder)
                self._prune(folder.parent)

    def _read(self, entry_id: str) -> Fields | None:
        """Return the entry's stored fields, or None if there is no entry."""
        if entry_id == ids.ROOT:
            return None
        # try/except, not _storage_errors: this is the hot path, and the message is
        # built only on failure.
        try:
            for name, parse in _ENTRY_PARSERS:
                encoded = self._parsed.get(f"{self._root_text}/{entry_id}/{name}", parse)
                if encoded is not None:
                    # Decoded per call: every caller gets its own copy of nested values.
                    fields: Fields = _FIELDS_DECODER.decode(encoded)
                    return fields
        except _FAILURES as exc:
            raise _storage_error(_entry(entry_id), "read", exc) from exc
        return None

    def _walk(self, entry_id: str, depth: int | None) -> Iterator[str]:
        """Yield the ids of entries strictly below ``entry_id``, unordered."""
        if depth is not None and depth < 1:
            return
        try:
            with os.scandir(self._root / entry_id) as listing:
                names = [e.name for e in listing if not e.name.startswith(".") and e.is_dir()]
        except (FileNotFoundError, NotADirectoryError):
            return
        for name in names:
            child_id = f"{entry_id}/{name}" if entry_id else name
            # A folder whose name is no valid id cannot be addressed: skip its subtree
            # (this also bounds a walk through a symlink loop).
            if not _is_entry_id(child_id):
                continue
            if self.exists(child_id):
                yield child_id
            yield from self._walk(child_id, None if depth is None else depth - 1)

    def _remove_tree(self, folder: Path) -> None:
        # Renamed to a hidden name first, readers see the whole subtree vanish at once,
        # and a crash half-way through rmtree leaves only ignored debris.
        trash = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:12]}.deleted")
        folder.replace(trash)
        fsync_dir(folder.parent)
        shutil.rmtree(trash)

    def _remove_empty_folders(self, folder: Path) -> None:
        if not folder.is_dir():
            return
        for current, _, _ in os.walk(folder, topdown=False):
            with contextlib.suppress(OSError):  # not empty: it stays
                Path(current).rmdir()

    def _prune(self, folder: Path) -> None:
        """Remove ``folder`` and its ancestors while they are empty, never the root."""
        while folder != self._root and self._root in folder.parents:
            try:
                folder.rmdir()
            except FileNotFoundError:
                pass
            except OSError:  # not empty: the folders above are not either
                return
            folder = folder.parent

    def _undo_create(self, written: list[str]) -> None:
        for entry_id in written:
            folder = self._root / entry_id
            # Best effort: the error that stopped the create is the one to report.
            with contextlib.suppress(OSError):
                (folder / ENTRY_FILE).unlink(missing_ok=True)
            self._prune(folder)


class YamlFilesTokenStore:
    """TokenStore over ``<project>/tokens``: token ``t`` is ``t.yaml``, without its id.

    ``add_calls`` flushes every count it can and then raises the first ``StorageError``
    it met, so one damaged token file does not lose the other tokens' counts.
    """

    def __init__(self, root: Path) -> None:
        self._root = root
        self._lock = threading.RLock()
        self._parsed: ParsedFileCache[Token] = ParsedFileCache()
        self._root_text = str(root)

    def get(self, token_id: str) -> Token:
        token = self._read(token_id)
        if token is None:
            raise TokenNotFound(token_id)
        return token

    def list(self) -> list[Token]:
        with _storage_errors("The tokens", "listed"):
            try:
                names = [path.name for path in self._root.iterdir()]
            except FileNotFoundError:
                return []
        found = sorted(
            name.removesuffix(".yaml")
            for name in names
            if name.endswith(".yaml")
            and not name.startswith(".")
            and _is_token_id(name.removesuffix(".yaml"))
        )
        tokens = []
        for token_id in found:
            token = self._read(token_id)
            if token is not None:  # None: deleted since the listing
                tokens.append(token)
        return tokens

    def create(self, token: Token) -> None:
        with self._lock:
            if self._path(token.token).exists():
                raise Conflict(f"Token '{token.token}' already exists.")
            self._write(token.token, token)

    def update(self, token_id: str, change: Callable[[Token], Token]) -> Token:
        with self._lock:
            changed = change(self.get(token_id))
            self._write(token_id, changed)
            return changed

    def move(self, token_id: str, new_id: str, modified_at: int) -> Token:
        with self._lock:
            token = self.get(token_id)
            if self._path(new_id).exists():
                raise Conflict(f"Token '{new_id}' already exists.")
            moved = msgspec.structs.replace(token, token=new_id, modified_at=modified_at)
            # New file first: a crash in between leaves both ids working, never neither.
            self._write(new_id, moved)
            with _storage_errors(_token(token_id), "deleted"):
                self._path(token_id).unlink()
                fsync_dir(self._root)
            return moved

    def delete(self, token_id: str) -> None:
        with self._lock, _storage_errors(_token(token_id), "deleted"):
            try:
                self._path(token_id).unlink()
            except FileNotFoundError:
                raise TokenNotFound(token_id) from None
            fsync_dir(self._root)

    def add_calls(self, calls: Mapping[str, int], last_used_at: int) -> None:
        failure: StorageError | None = None
        with self._lock:
            for token_id, count in calls.items():
                try:
                    token = self._read(token_id)
                    if token is None:  # deleted meanwhile: nothing to count
                        continue
                    counted = msgspec.structs.replace(
                        token, calls=token.calls + count, last_used_at=last_used_at
                    )
                    self._write(token_id, counted)
                except StorageError as exc:
                    failure = failure or exc
        if failure is not None:
            raise failure

    def _path(self, token_id: str) -> Path:
        return self._root / f"{token_id}.yaml"

    def _read(self, token_id: str) -> Token | None:
        try:
            # Tokens are frozen Structs, so one parsed value can be shared by every caller.
            path = f"{self._root_text}/{token_id}.yaml"
            return self._parsed.get(path, partial(_parse_token, token_id))
        except _FAILURES as exc:
            raise _storage_error(_token(token_id), "read", exc) from exc

    def _write(self, token_id: str, token: Token) -> None:
        fields: Fields = msgspec.to_builtins(token)
        del fields["token"]
        with _storage_errors(_token(token_id), "written"):
            write_atomic(self._path(token_id), _dump(fields))
