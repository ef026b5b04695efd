"""Entry, token and media ids: the one place they are validated, normalised and related.

An entry id is a slash-separated path of slugs (``movies/2019/the-platform``). A media
folder id follows the same rules; a media file id is a folder id plus a file name that
may hold dots (``movies/posters/dune.jpg``). Whatever is not a valid id is rejected here
with ``InvalidId`` before it can become a path anywhere.
"""

from __future__ import annotations

import re

from flextype_core.errors import InvalidId, shown

__all__ = [
    "MAX_FILE_NAME_LENGTH",
    "MAX_ID_LENGTH",
    "ROOT",
    "child_depth",
    "is_within",
    "parent_of",
    "parse_entry_id",
    "parse_file_id",
    "parse_folder_id",
    "parse_parent_id",
    "parse_token_id",
    "rebase",
    "safe_file_name",
]

MAX_ID_LENGTH = 255
MAX_FILE_NAME_LENGTH = 244
"""The longest media file name: its metadata file ``.<name>.meta.yaml`` beside it adds
11 characters, and a file system allows 255 in a name."""
ROOT = ""
"""The root of the entry tree: the parent of every top-level entry."""

_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_TOKEN_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_FILE_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_UNSAFE_RUN = re.compile(r"[^a-z0-9._-]+")


def _reject(raw: str, why: str, kind: str = "entry id") -> InvalidId:
    return InvalidId(f"Invalid {kind} {shown(raw)}: {why}.")


def parse_entry_id(raw: object) -> str:
    """Validate an entry id and return it.

    Args:
        raw: the id as received (any type; only a string can be valid).

    Returns:
        The id, unchanged: valid ids have exactly one spelling.

    Raises:
        InvalidId: not a string, empty, longer than 255 characters, a leading, trailing
            or doubled slash, a ``.``/``..`` segment, a NUL, a backslash, or any character
            outside ``[A-Za-z0-9_-]`` in a segment.
    """
    if not isinstance(raw, str):
        raise InvalidId(f"Invalid entry id: expected a string, got {type(raw).__name__}.")
    if raw == "":
        raise _reject(raw, "it is empty")
    if len(raw) > MAX_ID_LENGTH:
        raise _reject(raw, f"it is longer than {MAX_ID_LENGTH} characters")
    if "\x00" in raw:
        raise _reject(raw, "it contains a NUL character")
    if "\\" in raw:
        raise _reject(raw, "it contains a backslash")
    if raw.startswith("/") or raw.endswith("/"):
        raise _reject(raw, "it starts or ends with a slash")
    for segment in raw.split("/"):
        if segment == "":
            raise _reject(raw, "it has an empty segment")
        if segment in {".", ".."}:
            raise _reject(raw, f"segment {shown(segment)} is not allowed")
        if not _SEGMENT.fullmatch(segment):
            raise _reject(raw, f"segment {shown(segment)} may only hold A-Z, a-z, 0-9, _ and -")
    return raw


def parse_parent_id(raw: object) -> str:
    """Validate the id of a collection's parent: an entry id, or the root.

    ``""`` and ``"/"`` both name the root and normalise to ``ROOT``.

    Raises:
        InvalidId: as for ``parse_entry_id``.
    """
    if raw == "" or raw == "/":  # not ``in {...}``: an unhashable list would raise TypeError
        return ROOT
    return parse_entry_id(raw)


def parse_token_id(raw: object) -> str:
    """Validate a token id: 16 to 64 characters of ``[A-Za-z0-9_-]``.

    Raises:
        InvalidId: anything else.
    """
    if not isinstance(raw, str):
        raise InvalidId(f"Invalid token id: expected a string, got {type(raw).__name__}.")
    if not _TOKEN_ID.fullmatch(raw):
        raise _reject(raw, "expected 16 to 64 characters of A-Z, a-z, 0-9, _ and -", "token id")
    return raw


def parent_of(entry_id: str) -> str:
    """Return the parent id (``ROOT`` for a top-level entry)."""
    head, _, _ = entry_id.rpartition("/")
    return head


def is_within(entry_id: str, ancestor: str) -> bool:
    """Tell whether ``entry_id`` is ``ancestor`` itself or one of its descendants."""
    if ancestor == ROOT:
        return True
    return entry_id == ancestor or entry_id.startswith(ancestor + "/")


def child_depth(entry_id: str, ancestor: str) -> int:
    """Return how many levels ``entry_id`` lies below ``ancestor`` (0 for itself).

    The caller guarantees ``is_within(entry_id, ancestor)``.
    """
    if entry_id == ancestor:
        return 0
    rest = entry_id if ancestor == ROOT else entry_id[len(ancestor) + 1 :]
    return rest.count("/") + 1


def rebase(entry_id: str, old_root: str, new_root: str) -> str:
    """Move ``entry_id`` from under ``old_root`` to the same place under ``new_root``."""
    return new_root + entry_id[len(old_root) :]


def parse_folder_id(raw: object) -> str:
    """Validate a media folder id: an entry id, or the root.

    ``""`` and ``"/"`` both name the root folder and normalise to ``ROOT``.

    Raises:
        InvalidId: as for ``parse_entry_id``, naming a folder id.
    """
    if raw == "" or raw == "/":  # not ``in {...}``: an unhashable list would raise TypeError
        return ROOT
    return _parse_path(raw, "folder id", file_name=False)


def parse_file_id(raw: object) -> str:
    """Validate a media file id: ``<folder id>/<file name>``, or a file name at the root.

    The file name is ``[A-Za-z0-9_.-]+`` and does not start with a dot (hidden names
    hold the media store's own files); the folder part follows the entry id rules.

    Returns:
        The id, unchanged.

    Raises:
        InvalidId: not a string, empty, longer than 255 characters, a leading, trailing
            or doubled slash, a ``.``/``..`` segment, a NUL, a backslash, a folder
            segment outside ``[A-Za-z0-9_-]``, or a file name as above or longer than
            ``MAX_FILE_NAME_LENGTH``.
    """
    return _parse_path(raw, "file id", file_name=True)


def safe_file_name(name: str) -> str:
    """Return the name an uploaded file is stored under, as Flextype makes it.

    Lower case; every run of characters outside ``[a-z0-9._-]`` becomes ``-``; leading
    dots and dashes go (no hidden files). The extension is kept:
    ``Pixel Test.PNG`` becomes ``pixel-test.png``.

    Raises:
        InvalidId: nothing is left, or the result is longer than ``MAX_FILE_NAME_LENGTH``.
    """
    safe = _UNSAFE_RUN.sub("-", name.lower()).lstrip(".-")
    if safe == "":
        raise _reject(name, "no safe character is left in it", "file name")
    if len(safe) > MAX_FILE_NAME_LENGTH:
        raise _reject(name, _TOO_LONG_FILE_NAME, "file name")
    return safe


def _parse_path(raw: object, kind: str, *, file_name: bool) -> str:
    """Check a slash-separated id; the last segment is a file name if ``file_name``."""
    if not isinstance(raw, str):
        raise InvalidId(f"Invalid {kind}: expected a string, got {type(raw).__name__}.")
    if raw == "":
        raise _reject(raw, "it is empty", kind)
    if len(raw) > MAX_ID_LENGTH:
        raise _reject(raw, f"it is longer than {MAX_ID_LENGTH} characters", kind)
    if "\x00" in raw:
        raise _reject(raw, "it contains a NUL character", kind)
    if "\\" in raw:
        raise _reject(raw, "it contains a backslash", kind)
    if raw.startswith("/") or raw.endswith("/"):
        raise _reject(raw, "it starts or ends with a slash", kind)
    *folders, last = raw.split("/")
    for segment in folders if file_name else [*folders, last]:
        _check_segment(raw, segment, kind)
    if file_name:
        _check_file_name(raw, last, kind)
    return raw


def _check_segment(raw: str, segment: str, kind: str) -> None:
    if segment == "":
        raise _reject(raw, "it has an empty segment", kind)
    if segment in {".", ".."}:
        raise _reject(raw, f"segment {shown(segment)} is not allowed", kind)
    if not _SEGMENT.fullmatch(segment):
        raise _reject(raw, f"segment {shown(segment)} may only hold A-Z, a-z, 0-9, _ and -", kind)


_TOO_LONG_FILE_NAME = (
    f"a file name may have at most {MAX_FILE_NAME_LENGTH} characters "
    "(its metadata file's name needs 11 more of the 255 a file system allows)"
)


def _check_file_name(raw: str, name: str, kind: str) -> None:
    if name == "":
        raise _reject(raw, "it has an empty segment", kind)
    if len(name) > MAX_FILE_NAME_LENGTH:
        raise _reject(raw, _TOO_LONG_FILE_NAME, kind)
    if name.startswith("."):
        raise _reject(raw, f"file name {shown(name)} may not start with a dot", kind)
    if not _FILE_NAME.fullmatch(name):
        raise _reject(raw, f"file name {shown(name)} may only hold A-Z, a-z, 0-9, _, - and .", kind)
