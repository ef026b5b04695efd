"""flextype export and import: round trips across drivers, and archives refused whole."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from flextype_core import archive
from flextype_entrypoints.project import open_project
from tests.integration.transfer_support import (
    EVERY_TYPE,
    Change,
    fill,
    init,
    inserted,
    limited,
    members,
    replaced,
    rewrite,
    run,
    sign_key,
    snapshot,
    tree,
)

DRIVERS = ["yaml", "tinydb"]


@pytest.fixture
def source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A YAML demo project with every kind of content, and its archive beside it."""
    path = tmp_path / "source"
    init(capsys, path, "yaml", demo=True)
    fill(path)
    code, out, err = run(capsys, "export", "--project", str(path), "--out", str(tmp_path / "a.tgz"))
    assert code == 0, err
    assert out.startswith("Exported 13 entries, 3 tokens and 3 media files to ")
    return path


def test_a_round_trip_yaml_tinydb_yaml_keeps_everything(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(source)
    assert json.loads(before["entries"]["types/every"])["big"] == 2**70
    legacy = json.loads(before["entries"]["legacy/post"])
    assert legacy["title"] == "A post from Flextype" and legacy["content"].startswith("# Hello")
    # Hand-written YAML scalars as the store reads them (YAML 1.2): kept as such.
    assert (legacy["released"], legacy["budget"], legacy["answer"]) == (
        "2021-09-15",
        165000000000000000000000,
        "no",
    )
    middle, final = tmp_path / "middle", tmp_path / "final"
    init(capsys, middle, "tinydb", demo=False)
    code, out, err = run(capsys, "import", "--project", str(middle), str(tmp_path / "a.tgz"))
    assert (code, err) == (0, "")
    assert out == f"Imported 13 entries, 3 tokens and 3 media files into {middle}.\n"
    assert snapshot(middle) == before
    code, _, err = run(capsys, "export", "--project", str(middle), "--out", str(tmp_path / "b.tgz"))
    assert code == 0, err
    init(capsys, final, "yaml", demo=False)
    code, _, err = run(capsys, "import", "--project", str(final), str(tmp_path / "b.tgz"))
    assert code == 0, err
    after = snapshot(final)
    assert after == before
    # Each project keeps its own driver and its own sign key; none left the machine.
    keys = {sign_key(p) for p in (source, middle, final)}
    assert len(keys) == 3 and "" not in keys
    for name in ("a.tgz", "b.tgz"):
        assert all(key.encode() not in data for key in keys for _, data in members(tmp_path / name))
    assert "driver: tinydb" in (middle / "flextype.yaml").read_text()
    assert not (middle / "entries").exists()


def test_imported_tokens_keep_working_with_their_access_tokens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    access = init(capsys, tmp_path / "s", "yaml", demo=False)
    with open_project(tmp_path / "s") as project:
        token = project.tokens.list()[0].token
    run(capsys, "export", "--project", str(tmp_path / "s"), "--out", str(tmp_path / "a.tgz"))
    init(capsys, tmp_path / "t", "tinydb", demo=False)
    assert run(capsys, "import", "--project", str(tmp_path / "t"), str(tmp_path / "a.tgz"))[0] == 0
    with open_project(tmp_path / "t") as project:
        assert [t.token for t in project.tokens.list()] == [token]
        assert project.tokens.verify(token, access, "entries", write=True).calls == 1


def test_the_archive_holds_a_manifest_with_every_members_digest(source: Path) -> None:
    found = members(source.parent / "a.tgz")
    names = [info.name for info, _ in found]
    assert names[:5] == [
        archive.HEADER,
        archive.SETTINGS,
        archive.TOKENS,
        archive.WEBHOOKS,
        "entries/000001.jsonl",
    ]
    assert names[-1] == archive.MANIFEST
    assert "media/files/posters/2021/dune.png" in names
    manifest = msgspec.json.decode(found[-1][1], type=archive.Manifest)
    assert set(manifest.members) == set(names[:-1])
    media = [p for p in (source / "media").rglob("*") if p.is_file() and "/." not in str(p)]
    assert len(media) == 3
    assert manifest.counts == archive.Counts(
        entries=13,
        tokens=3,
        media_files=3,
        media_folders=5,
        media_bytes=sum(p.stat().st_size for p in media),
    )
    assert all(info.isreg() and info.mode == 0o600 for info, _ in found)
    assert (source.parent / "a.tgz").stat().st_mode & 0o777 == 0o600
    every = next(
        json.loads(line)
        for line in dict(((i.name, d) for i, d in found))["entries/000001.jsonl"].splitlines()
        if json.loads(line)["id"] == "types/every"
    )
    assert {k: every["fields"][k] for k in EVERY_TYPE} == EVERY_TYPE


def _refused(
    capsys: pytest.CaptureFixture[str], target: Path, archive_path: Path, *, read: bool = True
) -> str:
    """Import and check the refusal; ``read``: refused after reading the archive."""
    before = tree(target)
    code, out, err = run(capsys, "import", "--project", str(target), str(archive_path))
    assert (code, out) == (1, "")
    assert err.startswith("flextype: error: ") and err.count("\n") == 1
    assert err.rstrip().endswith("Nothing was imported.") == read
    assert tree(target) == before, "the project changed"
    return err


@pytest.fixture
def target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "target"
    init(capsys, path, "tinydb", demo=False)
    return path


def _tampered(
    capsys: pytest.CaptureFixture[str],
    source: Path,
    target: Path,
    change: Change,
    *,
    fix_manifest: bool,
) -> str:
    """Import the export of ``source`` altered by ``change``: check the refusal, return it."""
    altered = source.parent / "t.tgz"
    rewrite(source.parent / "a.tgz", altered, change, fix_manifest=fix_manifest)
    return _refused(capsys, target, altered)


CUTS: dict[str, Callable[[int], int]] = {
    "the last byte": lambda n: n - 1,
    "the gzip trailer": lambda n: n - 8,
    "the tar end blocks": lambda n: n - 20,
    "the manifest": lambda n: n - 2000,
    "nine tenths": lambda n: n * 9 // 10,
    "half": lambda n: n // 2,
    "all but the start": lambda n: 100,
}


@pytest.mark.parametrize("cut", CUTS, ids=list(CUTS))
def test_a_truncated_archive_is_refused_and_changes_nothing(
    source: Path, target: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], cut: str
) -> None:
    data = (source.parent / "a.tgz").read_bytes()
    (tmp_path / "cut.tgz").write_bytes(data[: CUTS[cut](len(data))])
    err = _refused(capsys, target, tmp_path / "cut.tgz")
    assert "truncated" in err


@pytest.mark.parametrize(
    ("member", "old", "new"),
    [
        ("entries/000001.jsonl", b'"Dune"', b'"Dune!"'),
        ("media/files/notes.txt", b"plain", b"PLAIN"),
    ],
    ids=["entries", "media-file"],
)
def test_a_member_changed_after_export_is_refused(
    source: Path,
    target: Path,
    capsys: pytest.CaptureFixture[str],
    member: str,
    old: bytes,
    new: bytes,
) -> None:
    change = replaced(member, lambda d: d.replace(old, new))
    err = _tampered(capsys, source, target, change, fix_manifest=False)
    assert f"'{member}' does not match its digest" in err


@pytest.mark.parametrize("name", ["../x", "/tmp/x", "entries/../../x", "media/files/../../x"])
def test_a_member_with_a_traversal_name_is_refused(
    source: Path, target: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    evil = tarfile.TarInfo(name)
    change = inserted(archive.TOKENS, evil, b"owned")
    assert "unsafe name" in _tampered(capsys, source, target, change, fix_manifest=True)
    assert not (tmp_path / "x").exists() and not Path("/tmp/x").exists()


def test_a_link_member_is_refused(
    source: Path, target: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    link = tarfile.TarInfo("media/files/link.txt")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    change = inserted(archive.TOKENS, link, b"")
    assert "is not a regular file" in _tampered(capsys, source, target, change, fix_manifest=True)


def test_an_invalid_item_found_late_changes_nothing(
    source: Path, target: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The media index comes after every entry and token was written to the staging area.
    change = replaced(
        archive.MEDIA_INDEX,
        lambda d: d + b'{"kind":"file","id":"../../outside.txt","size":1,"meta":{}}\n',
    )
    assert "bad id" in _tampered(capsys, source, target, change, fix_manifest=True)


def test_an_archive_of_a_newer_format_is_refused_with_what_to_do(
    source: Path, target: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change = replaced(
        archive.HEADER, lambda d: d.replace(b'"format_version":2', b'"format_version":3')
    )
    err = _tampered(capsys, source, target, change, fix_manifest=True)
    assert "format version 3" in err and "reads versions 1 to 2" in err
    assert "at least as recent" in err


def test_a_file_that_is_no_archive_is_refused(
    target: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "x.tgz").write_bytes(b"just some text, not gzip\n" * 10)
    assert "not a gzip-compressed tar file" in _refused(capsys, target, tmp_path / "x.tgz")


def test_import_into_a_project_with_content_needs_replace(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    init(capsys, other, "tinydb", demo=True)
    err = _refused(capsys, other, source.parent / "a.tgz", read=False)
    assert "is not empty" in err and "--replace" in err
    code, _, err = run(
        capsys, "import", "--project", str(other), str(source.parent / "a.tgz"), "--replace"
    )
    assert code == 0, err
    assert snapshot(other) == snapshot(source)


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_write_failing_midway_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], driver: str
) -> None:
    big = tmp_path / "big"
    init(capsys, big, "yaml", demo=False)
    with open_project(big) as project:
        for n in range(50):
            project.entries.create(f"small/e{n}", {"n": n})
        project.entries.create("zz/huge", {"text": "x" * 300_000})
    run(capsys, "export", "--project", str(big), "--out", str(tmp_path / "a.tgz"))
    target = tmp_path / "t"
    init(capsys, target, driver, demo=True)
    before = tree(target)
    done = limited(
        200_000, "import", "--project", str(target), str(tmp_path / "a.tgz"), "--replace"
    )
    assert done.returncode == 1, done.stdout
    assert "File too large" in done.stderr and "Nothing was imported." in done.stderr
    assert "Traceback" not in done.stderr
    assert tree(target) == before
