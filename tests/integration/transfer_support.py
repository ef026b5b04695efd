"""Shared by the transfer tests: a project with every kind of content, snapshots, archives."""

from __future__ import annotations

import hashlib
import io
import json
import resource
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from flextype_core import archive
from flextype_core.model import CallCount
from flextype_entrypoints.cli import main
from flextype_entrypoints.project import open_project
from flextype_entrypoints.transfer.settings_file import exported_settings
from tests.images import encode, gradient
from tests.programs import FLEXTYPE, run_program

EVERY_TYPE: dict[str, Any] = {
    "int": 42,
    "negative": -7,
    "big": 2**70,
    "float": 3.25,
    "whole_float": 1.0,
    "tiny": 1e-300,
    "huge": -1.5e300,
    "yes": True,
    "no": False,
    "nothing": None,
    "text": "héllo wörld ✓ 日本語 🎬 עברית",
    "empty": "",
    "date_like": "2020-01-01",
    "yes_word": "yes",
    "numeric_text": "007",
    "multiline": "line one\nline two\n",
    "list": [1, "two", 3.0, None, True, [], {}],
    "nested": {"a": {"b": {"c": [1, {"d": "e", "f": [2.5, False]}]}}},
    "empty_map": {},
    "empty_list": [],
}

LEGACY_MD = """---
title: A post from Flextype
tags: [old, markdown]
views: 12
released: 2021-09-15
budget: 165000000000000000000000
ratio: 1e3
answer: no
---
# Hello

Written by *hand*.
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def init(capsys: pytest.CaptureFixture[str], path: Path, driver: str, *, demo: bool) -> str:
    """Create a project; return its first token's access token."""
    flags = ["--demo"] if demo else ["--no-demo"]
    code, out, err = run(capsys, "init", str(path), "--storage", driver, "--json", *flags)
    assert code == 0, err
    access: str = json.loads(out)["access_token"]
    return access


def fill(path: Path) -> None:
    """Add every kind of content to the (demo) project at ``path``."""
    with open_project(path) as project:
        entries = project.entries
        entries.create("types/every", EVERY_TYPE)
        entries.create("types/every/child", {"title": "Below ✓", "n": 0})
        entries.create("unicode", {"title": "Ünïcödé ✓", "emoji": "🎬🍿"})
        tokens = project.tokens
        limited = tokens.create({"title": "Limited", "limit_calls": 5, "apis": ["entries"]})
        off = tokens.create({"title": "Off", "state": "disabled", "expires_at": 4_000_000_000})
        project.container.token_store().add_calls(
            {
                limited.token.token: CallCount(calls=3, last_used_at=1_700_000_123),
                off.token.token: CallCount(calls=1, last_used_at=1_700_000_456),
            }
        )
        media = project.media
        with media.stage() as upload:
            upload.write(encode(gradient((40, 20)), "PNG"))
            media.upload("posters/2021", "dune.png", upload)
        media.add_meta("posters/2021/dune.png", "alt", "Dune's poster ✓")
        media.add_meta("posters/2021/dune.png", "credits", {"by": ["A", "B"], "year": 2021})
        with media.stage() as upload:
            upload.write(b"plain notes\n" * 1000)
            media.upload("", "notes.txt", upload)
        media.create_folder("empty/inner")
    if project.settings.storage.driver == "yaml":
        legacy = path / "entries" / "legacy" / "post"
        legacy.mkdir(parents=True)
        (legacy / "entry.md").write_text(LEGACY_MD, encoding="utf-8")
    settings = path / "flextype.yaml"
    settings.write_text(
        settings.read_text(encoding="utf-8")
        + "cors:\n  allow_origins: [https://example.org]\nmedia:\n  max_file_size: 123456\n",
        encoding="utf-8",
    )


def _typed(value: Any) -> str:
    # Encoded JSON tells 1, 1.0 and true apart, as == does not; keys sorted.
    return msgspec.json.encode(value, order="sorted").decode()


def snapshot(path: Path) -> dict[str, Any]:
    """Everything an archive carries, in a form that compares types exactly."""
    with open_project(path) as project:
        container = project.container
        entries = {e.id: _typed(e.fields) for e in container.entry_store().descendants("", None)}
        tokens = [_typed(msgspec.to_builtins(t)) for t in container.token_store().list()]
        store = container.media_store()
        files: dict[str, tuple[str, bytes]] = {}
        folders: list[str] = []
        pending = [""]
        while pending:
            folder = pending.pop()
            for file in store.files(folder):
                files[file.id] = (_typed(file.meta), store.read(file.id))
            children = store.folders(folder)
            folders.extend(children)
            pending.extend(children)
    settings = exported_settings(path)
    settings.pop("storage", None)
    return {
        "entries": entries,
        "tokens": tokens,
        "files": files,
        "folders": sorted(folders),
        "settings": settings,
    }


def sign_key(path: Path) -> str:
    with open_project(path) as project:
        return project.settings.images.sign_key


def members(path: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    """The members of an archive, in order, with their bytes."""
    found = []
    with tarfile.open(path, "r:gz") as tar:
        for info in tar:
            stream = tar.extractfile(info)
            found.append((info, stream.read() if stream is not None else b""))
    return found


Change = Callable[[list[tuple[tarfile.TarInfo, bytes]]], list[tuple[tarfile.TarInfo, bytes]]]


def rewrite(source: Path, target: Path, change: Change, *, fix_manifest: bool) -> None:
    """Write ``target`` with the members of ``source`` as ``change`` returns them.

    ``fix_manifest`` recomputes the manifest's digests (and its counts from the header),
    as someone who changes an archive knowingly would.
    """
    changed = change(members(source))
    if fix_manifest:
        header = next(data for info, data in changed if info.name == archive.HEADER)
        digests: dict[str, archive.Digest] = {}
        for info, data in changed:
            if info.name != archive.MANIFEST:
                digests[info.name] = _digest(data)
        fixed = archive.Manifest(
            **msgspec.structs.asdict(msgspec.json.decode(header, type=archive.Header)),
            members=digests,
        )
        changed = [
            (info, msgspec.json.encode(fixed) if info.name == archive.MANIFEST else data)
            for info, data in changed
        ]
    with tarfile.open(target, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in changed:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


def _digest(data: bytes) -> archive.Digest:
    return archive.Digest(size=len(data), sha256=hashlib.sha256(data).hexdigest())


def replaced(name: str, edit: Callable[[bytes], bytes]) -> Change:
    def change(found: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
        assert any(info.name == name for info, _ in found), name
        return [(info, edit(data) if info.name == name else data) for info, data in found]

    return change


def inserted(after: str, info: tarfile.TarInfo, data: bytes) -> Change:
    def change(found: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
        at = next(i for i, (each, _) in enumerate(found) if each.name == after) + 1
        return [*found[:at], (info, data), *found[at:]]

    return change


def tree(path: Path) -> dict[str, bytes | None]:
    """Every file under ``path`` with its bytes (None for folders), lock files aside."""
    return {
        str(p.relative_to(path)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(path.rglob("*"))
        if not p.name.endswith(".lock") and p.name != ".index"
    }


def limited(limit: int, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``flextype`` where no file may grow past ``limit`` bytes: a full disk, as far
    as it can tell (writes fail with EFBIG, "File too large")."""

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return run_program([FLEXTYPE, *argv], preexec_fn=limit_files)
