"""Content imported or migrated into a file-driver project starts a new change log.

Not one create per entry: the log is new (another epoch), so followers of the old one
are told to list everything again, and the next write is its first change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flextype_adapters.sqlite_changes import CHANGES_FILE, SqliteChangeLog
from flextype_entrypoints.project import open_project
from tests.integration.transfer_support import init, run


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
