"""The archive format's checks, without any file: names, values, header, manifest, tokens."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from flextype_core import archive
from flextype_core.errors import InvalidArchive
from flextype_core.model import Token
from flextype_core.webhook_port import Webhook

HASH = "$2b$10$" + "a" * 53


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("flextype-archive.json", "header"),
        ("settings.json", "settings"),
        ("tokens.jsonl", "tokens"),
        ("webhooks.jsonl", "webhooks"),
        ("entries/000001.jsonl", "entries"),
        ("media/index.jsonl", "media-index"),
        ("media/files/a/b/poster.final.png", "media-file"),
        ("manifest.json", "manifest"),
    ],
)
def test_member_names_name_their_kind(name: str, kind: str) -> None:
    assert archive.member_kind(name) == kind


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "/etc/passwd",
        "a/../b",
        "media/files/../x",
        "./settings.json",
        "a//b",
        "a\\b",
        "a\x00",
    ],
)
def test_unsafe_member_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidArchive, match="unsafe name"):
        archive.member_kind(name)


@pytest.mark.parametrize(
    "name",
    [
        "entries/1.jsonl",
        "entries/000001.json",
        "notes.txt",
        "media/files/.hidden",
        "media/files/a b.png",
    ],
)
def test_unknown_or_bad_member_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidArchive):
        archive.member_kind(name)


@pytest.mark.parametrize(
    "value",
    [{"a": 1, "b": 2**80, "c": -0.5, "d": [True, None, "x", {}], "e": {"f": []}}, [], "", 0],
)
def test_json_values_are_exact(value: Any) -> None:
    assert archive.inexact(value) is None


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({"a": float("nan")}, ".a: nan has no JSON form"),
        ({"a": [1, float("inf")]}, ".a[1]: inf has no JSON form"),
        ({"a": {1: "x"}}, ".a: the key 1 is not a string"),
        ({"a": b"raw"}, ".a: a bytes value has no JSON form"),
        ({"a": {"b": {1, 2}}}, ".a.b: a set value has no JSON form"),
        ({"a": (1, 2)}, ".a: a tuple value has no JSON form"),
    ],
)
def test_values_json_would_change_are_named_with_their_path(value: Any, why: str) -> None:
    assert archive.inexact(value) == why


def _header(**changes: Any) -> archive.Header:
    fields: dict[str, Any] = {
        "format": archive.FORMAT,
        "format_version": archive.FORMAT_VERSION,
        "flextype_py": "0.1.0",
        "created_at": 1,
        "source_driver": "yaml",
        "counts": archive.Counts(entries=2),
        **changes,
    }
    return archive.Header(**fields)


def test_a_header_of_another_format_or_version_is_refused() -> None:
    archive.check_header(_header())
    archive.check_header(_header(format_version=1))  # before webhooks went into archives
    with pytest.raises(InvalidArchive, match="not a flextype-py archive"):
        archive.check_header(_header(format="zip"))
    with pytest.raises(InvalidArchive, match=r"format version 3 .*flextype-py '9\.0'"):
        archive.check_header(_header(format_version=3, flextype_py="9.0"))
    with pytest.raises(InvalidArchive, match="format version 0"):
        archive.check_header(_header(format_version=0))


def test_a_version_1_header_reads_with_no_webhooks() -> None:
    data = (
        b'{"format":"flextype-py-archive","format_version":1,"flextype_py":"0.1.0",'
        b'"created_at":1,"source_driver":"yaml","counts":{"entries":2,"tokens":2,'
        b'"media_files":1,"media_folders":1,"media_bytes":12}}'
    )
    header = archive.decode(archive.HEADER, data, archive.Header)
    archive.check_header(header)
    assert header.counts.webhooks == 0


def test_the_manifest_must_name_every_member_with_its_digest() -> None:
    header = _header()
    one = archive.Digest(size=1, sha256="a" * 64)
    other = archive.Digest(size=1, sha256="b" * 64)
    fields = msgspec.structs.asdict(header)
    manifest = archive.Manifest(**fields, members={"tokens.jsonl": one})
    archive.check_manifest(header, manifest, {"tokens.jsonl": one, archive.MANIFEST: other})
    with pytest.raises(InvalidArchive, match="does not match its digest"):
        archive.check_manifest(header, manifest, {"tokens.jsonl": other})
    with pytest.raises(InvalidArchive, match="lacks the member"):
        archive.check_manifest(header, manifest, {})
    with pytest.raises(InvalidArchive, match="manifest lacks"):
        archive.check_manifest(header, manifest, {"tokens.jsonl": one, "settings.json": one})
    with pytest.raises(InvalidArchive, match="does not match its header"):
        archive.check_manifest(
            _header(counts=archive.Counts(entries=3)), manifest, {"tokens.jsonl": one}
        )


def _token(**changes: Any) -> Token:
    fields: dict[str, Any] = {
        "token": "t" * 32,
        "hashed_access_token": HASH,
        "uuid": "u",
        "created_at": 1,
        "modified_at": 1,
        **changes,
    }
    return Token(**fields)


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"token": "../short"}, "bad id"),
        ({"hashed_access_token": "plain"}, "no bcrypt hash"),
        ({"apis": ("entries", "shell")}, "unknown APIs"),
        ({"apis": ()}, "unknown APIs"),
        ({"calls": -1}, "negative count"),
    ],
)
def test_tokens_are_checked(changes: dict[str, Any], why: str) -> None:
    archive.check_token(_token())
    with pytest.raises(InvalidArchive, match=why):
        archive.check_token(_token(**changes))


def test_json_lines_name_the_bad_line() -> None:
    data = archive.encode_lines([archive.EntryRecord(id="a", fields={})]) + b'{"id": 1}\n'
    with pytest.raises(InvalidArchive, match=r"entries/000001\.jsonl, line 2"):
        archive.decode_lines("entries/000001.jsonl", data, archive.EntryRecord)


def test_media_records_are_checked() -> None:
    archive.check_media(archive.MediaFileRecord(id="a/b.png", size=3, meta={}))
    with pytest.raises(InvalidArchive, match="root folder"):
        archive.check_media(archive.MediaFolderRecord(id="/"))
    with pytest.raises(InvalidArchive, match="bad id"):
        archive.check_media(archive.MediaFileRecord(id="a/.b.png", size=3, meta={}))
    with pytest.raises(InvalidArchive, match="negative size"):
        archive.check_media(archive.MediaFileRecord(id="a/b.png", size=-1, meta={}))


SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _webhook(secret: str = SECRET, **changes: Any) -> archive.WebhookRecord:
    fields: dict[str, Any] = {
        "id": "a" * 32,
        "url": "https://hooks.example.com/in",
        "events": ["entry.created"],
        "id_prefix": "blog",
        "created_at": 1,
        "modified_at": 2,
        **changes,
    }
    return archive.WebhookRecord(webhook=Webhook(**fields), secret=secret)


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"id": "A" * 32}, "bad id"),
        ({"url": "https://user:pw@hooks.example.com/"}, "user name or password"),
        ({"url": "file:///etc/passwd"}, "http:// or https://"),
        ({"events": []}, "at least one event"),
        ({"events": ["*", "entry.created"]}, "send it alone"),
        ({"events": ["entry.created", "entry.created"]}, "an event twice"),
        ({"events": ["entry.exploded"]}, "unknown events"),
        ({"id_prefix": "../x"}, "'id_prefix' is not"),
        ({"id_prefix": ""}, "normal form"),
        ({"title": "t" * 1001}, "longer than 1000"),
        ({"secret": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "no valid signing secret"),
        ({"secret": "whsec_ not base64"}, "no valid signing secret"),
        ({"secret": "whsec_c2hvcnQ="}, "24 to 64 bytes"),
    ],
)
def test_webhooks_are_checked_without_quoting_secret_or_url(
    changes: dict[str, Any], why: str
) -> None:
    archive.check_webhook(_webhook())
    secret = changes.pop("secret", SECRET)
    with pytest.raises(InvalidArchive, match=why) as refused:
        archive.check_webhook(_webhook(secret, **changes))
    message = refused.value.message
    assert message.startswith(f"Webhook {changes.get('id', 'a' * 32)!r} in webhooks.jsonl")
    assert secret.removeprefix("whsec_") not in message and "pw@" not in message
