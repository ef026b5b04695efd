"""Content imported or migrated into a file-driver project starts a new change log.

Not one create per entry: the log is new (another epoch), so followers of the old one
are told to list everything again, and the next write is its first change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flextype_adapters.sqlite_changes import CHANGES_FILE, SqliteChangeLog
from flextype_entrypoints.project import open_project
from tests.integration.transfer_support import init, members, replaced, rewrite, run
from tests.media_drivers import use_bucket


def _log(project: Path) -> SqliteChangeLog:
    return SqliteChangeLog(project / CHANGES_FILE)


def _write_one(project: Path) -> None:
    with open_project(project, environ={}) as opened:
        opened.entries.create("after", {"title": "After"})


@pytest.mark.parametrize("driver", ["yaml", "tinydb"])
def test_an_import_starts_a_new_log(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, driver: str
) -> None:
    site, copy = tmp_path / "site", tmp_path / "copy"
    init(capsys, site, "yaml", demo=True)
    init(capsys, copy, driver, demo=True)
    old = _log(copy)
    epoch, entries = old.epoch(), len(old.read(0, 1000).changes)
    assert entries > 3  # the demo's creates
    archive = tmp_path / "site.tar.gz"
    assert run(capsys, "export", "--project", str(site), "--out", str(archive))[0] == 0
    code, _, err = run(capsys, "import", "--project", str(copy), "--replace", str(archive))
    assert code == 0, err

    new = _log(copy)
    assert new.epoch() != epoch
    assert new.head() == 0
    _write_one(copy)
    assert [(c.position, c.op, c.id) for c in new.read(0, 10).changes] == [(1, "create", "after")]


@pytest.mark.parametrize(("source", "target"), [("yaml", "tinydb"), ("tinydb", "yaml")])
def test_a_migration_between_the_file_drivers_starts_a_new_log(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, source: str, target: str
) -> None:
    site = tmp_path / "site"
    init(capsys, site, source, demo=True)
    epoch = _log(site).epoch()
    code, _, err = run(capsys, "migrate", "--project", str(site), "--to", target)
    assert code == 0, err

    new = _log(site)
    assert new.epoch() != epoch
    assert new.head() == 0
    _write_one(site)
    assert [(c.op, c.id) for c in new.read(0, 10).changes] == [("create", "after")]


def test_a_failed_import_into_a_bucket_leaves_the_log_as_it_was(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, s3_settings: dict[str, Any]
) -> None:
    """The media it writes into the live bucket, then removes, are no changes of the live
    content: they would have been the new content's, which starts a log of its own."""
    source, target = tmp_path / "source", tmp_path / "target"
    init(capsys, source, "yaml", demo=True)
    archive, bad = tmp_path / "a.tgz", tmp_path / "bad.tgz"
    assert run(capsys, "export", "--project", str(source), "--out", str(archive))[0] == 0
    last_file = [i.name for i, _ in members(archive) if i.name.startswith("media/files/")][-1]
    rewrite(archive, bad, replaced(last_file, lambda data: data[:-1] + b"!"), fix_manifest=False)
    init(capsys, target, "yaml", demo=False)
    use_bucket(target, s3_settings)
    _write_one(target)
    before = _log(target).read(0, 10)

    code, _, err = run(capsys, "import", "--project", str(target), "--replace", str(bad))
    assert code != 0 and "Nothing was imported." in err
    assert _log(target).read(0, 10) == before
