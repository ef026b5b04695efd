"""The project archive format of ``flextype export``/``import``: members, manifest, checks.

An archive is a gzip-compressed tar file whose members come in this order:

- ``flextype-archive.json``: the ``Header`` (format, its version, the counts);
- ``settings.json``: the project's settings file as a mapping, secrets removed;
- ``tokens.jsonl``: one ``Token`` per line, its bcrypt hash and call count included;
- ``webhooks.jsonl`` (since version 2): one ``WebhookRecord`` per line, the webhook and
  its signing secret (receivers keep verifying with it), never its delivery log or its
  progress through the change log (the target's log is another);
- ``entries/000001.jsonl``, ...: one ``EntryRecord`` per line, ids in code-point order,
  at most ``ENTRIES_PER_MEMBER`` per member;
- ``media/index.jsonl``: one ``MediaFolderRecord`` or ``MediaFileRecord`` per line;
- ``media/files/<file id>``: each file's bytes, in the index's order;
- ``manifest.json``: the ``Manifest``: the header again plus the size and SHA-256 of
  every member before it.

The manifest comes last, so an archive cut short has none, and every member's digest is
checked against it before an import changes anything. Values are JSON, which keeps
strings, integers (of any size), floats, booleans and null apart; what JSON cannot hold
exactly (NaN, infinities, non-string keys, bytes) is refused when exporting.
Version 1 archives (no webhooks member) are still read: they say nothing of webhooks.
This module does no I/O: the entrypoints read and write the tar stream.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeVar

import msgspec

from flextype_core import ids
from flextype_core.errors import InvalidArchive, InvalidId, shown
from flextype_core.model import API_NAMES, Token
from flextype_core.webhook_port import Webhook
from flextype_core.webhooks import stored_problem

__all__ = [
    "ENTRIES_PER_MEMBER",
    "FORMAT",
    "FORMAT_VERSION",
    "HEADER",
    "MANIFEST",
    "MEDIA_INDEX",
    "READS",
    "SETTINGS",
    "TOKENS",
    "WEBHOOKS",
    "Counts",
    "Digest",
    "EntryRecord",
    "Header",
    "Manifest",
    "MediaFileRecord",
    "MediaFolderRecord",
    "MediaRecord",
    "WebhookRecord",
    "check_entry",
    "check_header",
    "check_manifest",
    "check_media",
    "check_token",
    "check_webhook",
    "decode",
    "decode_lines",
    "encode_lines",
    "entries_member",
    "inexact",
    "media_file_member",
    "member_kind",
]

FORMAT = "flextype-py-archive"
FORMAT_VERSION = 2
"""Bumped when a reader of the previous version would misread an archive. A reader
refuses a version it does not know (version 2 added ``webhooks.jsonl``)."""
READS: Final = range(1, FORMAT_VERSION + 1)
"""The versions this code reads."""

HEADER = "flextype-archive.json"
SETTINGS = "settings.json"
TOKENS = "tokens.jsonl"
WEBHOOKS = "webhooks.jsonl"
MEDIA_INDEX = "media/index.jsonl"
MANIFEST = "manifest.json"
_ENTRIES_DIR = "entries/"
_MEDIA_FILES_DIR = "media/files/"
_ENTRIES_MEMBER = re.compile(r"entries/[0-9]{6}\.jsonl")
ENTRIES_PER_MEMBER = 1000
"""Entries per ``entries/*.jsonl`` member: an export or import holds one member at a time."""

_BCRYPT = re.compile(r"\$2[abxy]\$[0-9]{2}\$[./A-Za-z0-9]{53}")
_T = TypeVar("_T")


class Counts(msgspec.Struct, frozen=True, kw_only=True):
    """What an archive holds."""

    entries: int = 0
    tokens: int = 0
    media_files: int = 0
    media_folders: int = 0
    media_bytes: int = 0
    """The sum of the media files' sizes."""
    webhooks: int = 0
    """Absent (0) in version 1."""


class Header(msgspec.Struct, frozen=True, kw_only=True):
    """The first member: what the archive is, read before anything else."""

    format: str
    format_version: int
    flextype_py: str
    """The version of flextype-py that wrote it."""
    created_at: int
    source_driver: str
    counts: Counts


class Digest(msgspec.Struct, frozen=True, kw_only=True):
    size: int
    sha256: str


class Manifest(Header, frozen=True, kw_only=True):
    """The last member: the header's fields and a digest of every member before it."""

    members: dict[str, Digest]


class EntryRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One entry: its id and its stored fields, exactly as the store keeps them."""

    id: str
    fields: dict[str, Any]


class MediaFolderRecord(msgspec.Struct, frozen=True, kw_only=True, tag="folder", tag_field="kind"):
    """A media folder (listed even when it holds files, so empty ones come back too)."""

    id: str


class MediaFileRecord(msgspec.Struct, frozen=True, kw_only=True, tag="file", tag_field="kind"):
    """A media file's metadata and size; its bytes are the member ``media/files/<id>``."""

    id: str
    size: int
    meta: dict[str, Any]


MediaRecord = MediaFolderRecord | MediaFileRecord


class WebhookRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One webhook: every field the API shows, and its signing secret (``whsec_...``)."""

    webhook: Webhook
    secret: str


_ENCODER = msgspec.json.Encoder()


def entries_member(number: int) -> str:
    """Return the name of the ``number``-th (from 1) entries member."""
    return f"{_ENTRIES_DIR}{number:06d}.jsonl"


def media_file_member(file_id: str) -> str:
    """Return the name of the member holding a media file's bytes."""
    return _MEDIA_FILES_DIR + file_id


def member_kind(name: str) -> str:
    """Return what a member holds, from its name.

    One of ``header``, ``settings``, ``tokens``, ``webhooks``, ``entries``,
    ``media-index``, ``media-file``, ``manifest``.

    Raises:
        InvalidArchive: the name is unsafe (absolute, ``..``, a backslash...) or unknown.
    """
    segments = name.split("/")
    if (
        name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(s in {"", ".", ".."} for s in segments)
    ):
        raise InvalidArchive(f"The archive holds a member with an unsafe name: {shown(name)}.")
    exact = {
        HEADER: "header",
        SETTINGS: "settings",
        TOKENS: "tokens",
        WEBHOOKS: "webhooks",
        MEDIA_INDEX: "media-index",
        MANIFEST: "manifest",
    }
    if name in exact:
        return exact[name]
    if _ENTRIES_MEMBER.fullmatch(name):
        return "entries"
    if name.startswith(_MEDIA_FILES_DIR):
        try:
            ids.parse_file_id(name[len(_MEDIA_FILES_DIR) :])
        except InvalidId as exc:
            raise InvalidArchive(f"The archive holds a media file with a bad id: {exc}") from exc
        return "media-file"
    raise InvalidArchive(f"The archive holds an unknown member {shown(name)}.")


def decode(member: str, data: bytes, kind: type[_T]) -> _T:
    """Decode a JSON member as ``kind``.

    Raises:
        InvalidArchive: it is not JSON of that shape; the message names the member.
    """
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.DecodeError as exc:
        raise InvalidArchive(f"Member {member} is not valid: {exc}.") from exc


def decode_lines(member: str, data: bytes, kind: type[_T]) -> list[_T]:
    """Decode a JSON-lines member (one value per line) as a list of ``kind``.

    Raises:
        InvalidArchive: a line is not JSON of that shape; the message names the line.
    """
    decoder = msgspec.json.Decoder(kind)
    found = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line:
            continue
        try:
            found.append(decoder.decode(line))
        except msgspec.DecodeError as exc:
            raise InvalidArchive(f"Member {member}, line {number}, is not valid: {exc}.") from exc
    return found


def encode_lines(values: Iterable[Any]) -> bytes:
    """Encode values as JSON lines, each ended by a newline."""
    return b"".join(_ENCODER.encode(v) + b"\n" for v in values)


def inexact(value: object) -> str | None:
    """Tell why JSON cannot keep ``value`` exactly (with where, e.g. ``.a[2]``); None if it can.

    JSON keeps ``str``, ``int`` of any size, finite ``float``, ``bool``, ``None``, lists
    and string-keyed mappings. A YAML file may also hold NaN, infinities, bytes, sets
    and non-string keys, which no archive (and no TinyDB file) can keep.
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return None
    if kind is float:
        return None if math.isfinite(value) else f": {value!r} has no JSON form"  # type: ignore[arg-type]
    if kind is dict:
        for key, item in value.items():  # type: ignore[attr-defined]
            if type(key) is not str:
                return f": the key {key!r} is not a string"
            why = inexact(item)
            if why is not None:
                return f".{key}{why}"
        return None
    if kind is list:
        for index, item in enumerate(value):  # type: ignore[arg-type]
            why = inexact(item)
            if why is not None:
                return f"[{index}]{why}"
        return None
    return f": a {kind.__name__} value has no JSON form"


def check_header(header: Header) -> None:
    """Refuse an archive of another format or of a format version this code does not read.

    Raises:
        InvalidArchive: with what to do about it.
    """
    if header.format != FORMAT:
        raise InvalidArchive(f"This is not a flextype-py archive (format {shown(header.format)}).")
    if header.format_version not in READS:
        raise InvalidArchive(
            f"The archive is in format version {header.format_version} (written by "
            f"flextype-py {shown(header.flextype_py)}); this flextype-py reads versions "
            f"{READS[0]} to {READS[-1]}: use a flextype-py at least as recent as the one "
            "that wrote it."
        )


def check_manifest(header: Header, manifest: Manifest, seen: Mapping[str, Digest]) -> None:
    """Check the manifest against the header and every member read before it.

    Args:
        header: the first member.
        manifest: the last member.
        seen: the size and SHA-256 of each member read (the manifest's own is ignored).

    Raises:
        InvalidArchive: a member is missing, extra, or not the one the manifest names.
    """
    if msgspec.structs.asdict(header) != {
        k: v for k, v in msgspec.structs.asdict(manifest).items() if k != "members"
    }:
        raise InvalidArchive("The archive's manifest does not match its header.")
    missing = sorted(set(manifest.members) - set(seen))
    if missing:
        raise InvalidArchive(f"The archive lacks the member {shown(missing[0])}.")
    for name, digest in seen.items():
        if name == MANIFEST:
            continue
        expected = manifest.members.get(name)
        if expected is None:
            raise InvalidArchive(f"The archive holds a member its manifest lacks: {shown(name)}.")
        if expected != digest:
            raise InvalidArchive(
                f"Member {shown(name)} does not match its digest in the manifest: the "
                "archive was damaged or changed after it was written."
            )


def check_entry(record: EntryRecord, member: str) -> None:
    """Check an entry record's id.

    Raises:
        InvalidArchive: naming the member and the id.
    """
    try:
        ids.parse_entry_id(record.id)
    except InvalidId as exc:
        raise InvalidArchive(f"Member {member} holds an entry with a bad id: {exc}") from exc


def check_token(token: Token) -> None:
    """Check a token record: its id, hash, apis and counts.

    Raises:
        InvalidArchive: naming the token.
    """
    try:
        ids.parse_token_id(token.token)
    except InvalidId as exc:
        raise InvalidArchive(f"Member {TOKENS} holds a token with a bad id: {exc}") from exc
    where = f"Token {shown(token.token)} in {TOKENS}"
    if not _BCRYPT.fullmatch(token.hashed_access_token):
        raise InvalidArchive(f"{where} has no bcrypt hash of its access token.")
    if not token.apis or any(a != "*" and a not in API_NAMES for a in token.apis):
        raise InvalidArchive(f"{where} names unknown APIs.")
    if token.limit_calls < 0 or token.calls < 0:
        raise InvalidArchive(f"{where} has a negative count.")


def check_media(record: MediaRecord) -> None:
    """Check a media index record's id and size.

    Raises:
        InvalidArchive: naming the record.
    """
    try:
        if isinstance(record, MediaFolderRecord):
            if ids.parse_folder_id(record.id) == ids.ROOT:
                raise InvalidArchive(f"Member {MEDIA_INDEX} lists the root folder.")
        else:
            ids.parse_file_id(record.id)
    except InvalidId as exc:
        raise InvalidArchive(f"Member {MEDIA_INDEX} holds a bad id: {exc}") from exc
    if isinstance(record, MediaFileRecord) and record.size < 0:
        raise InvalidArchive(f"Member {MEDIA_INDEX} gives file {shown(record.id)} a negative size.")


def check_webhook(record: WebhookRecord) -> None:
    """Check a webhook record as ``WebhooksService.create`` would (its guard aside).

    The private-network guard is left to every delivery, which applies it after
    resolving the host where the project now runs.

    Raises:
        InvalidArchive: naming the webhook, never quoting its secret or its URL.
    """
    problem = stored_problem(record.webhook, record.secret)
    if problem is not None:
        raise InvalidArchive(
            f"Webhook {shown(record.webhook.id)} in {WEBHOOKS} cannot be kept: {problem}"
        )
