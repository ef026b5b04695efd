"""flextype export, import and migrate as commands: progress, pipes, migrate, settings."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from flextype_core import archive
from flextype_entrypoints.project import open_project
from flextype_entrypoints.transfer.settings_file import switched_driver_text
from tests.integration.transfer_support import (
    fill,
    init,
    limited,
    replaced,
    rewrite,
    run,
    sign_key,
    snapshot,
    tree,
)
from tests.programs import FLEXTYPE, clean_env, flextype, run_program


def _on_terminal(*argv: str) -> tuple[int, str]:
    """Run ``flextype`` with stdout and stderr on a pseudo-terminal; return code and output."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [FLEXTYPE, *argv], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=clean_env()
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every end of the terminal closed, the process is done
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return process.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture
def project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "p"
    init(capsys, path, "yaml", demo=True)
    fill(path)
    return path


# -- progress ------------------------------------------------------------------------


def test_no_progress_is_printed_when_stderr_is_not_a_terminal(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "export", "--project", str(project), "--out", str(tmp_path / "a.tgz")
    )
    assert (code, err) == (0, "")
    assert out.count("\n") == 1
    init(capsys, tmp_path / "t", "tinydb", demo=False)
    code, out, err = run(
        capsys, "import", "--project", str(tmp_path / "t"), str(tmp_path / "a.tgz")
    )
    assert (code, err) == (0, "")
    assert out.count("\n") == 1
    code, out, err = run(capsys, "migrate", "--project", str(tmp_path / "t"), "--to", "yaml")
    assert (code, err) == (0, "")
    assert out.count("\n") == 1


def test_progress_bars_are_drawn_on_a_terminal(project: Path, tmp_path: Path) -> None:
    code, shown = _on_terminal(
        "export", "--project", str(project), "--out", str(tmp_path / "a.tgz")
    )
    assert code == 0, shown
    assert "entries" in shown and "media bytes" in shown and "100%" in shown
    assert "\x1b[" in shown  # drawn with terminal escapes
    flextype("init", str(tmp_path / "t"), "--no-demo")
    code, shown = _on_terminal("import", "--project", str(tmp_path / "t"), str(tmp_path / "a.tgz"))
    assert code == 0, shown
    assert "entries" in shown and "100%" in shown
    code, shown = _on_terminal("migrate", "--project", str(tmp_path / "t"), "--to", "tinydb")
    assert code == 0, shown
    assert "verify" in shown and "100%" in shown


def test_export_refuses_to_write_an_archive_to_a_terminal(project: Path) -> None:
    code, shown = _on_terminal("export", "--project", str(project), "--out", "-")
    assert code == 1
    assert "Refusing to write an archive to a terminal" in shown


# -- pipes and files -----------------------------------------------------------------


def test_an_archive_goes_through_a_pipe_from_export_to_import(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(capsys, tmp_path / "t", "tinydb", demo=False)
    with subprocess.Popen(
        [FLEXTYPE, "export", "--project", str(project), "--out", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    ) as export:
        imported = run_program(
            [FLEXTYPE, "import", "--project", str(tmp_path / "t"), "-"], stdin=export.stdout
        )
        _, said = export.communicate(timeout=120)
    assert export.returncode == 0
    assert said.decode().startswith("Exported 13 entries")
    assert imported.returncode == 0, imported.stderr
    assert snapshot(tmp_path / "t") == snapshot(project)


def test_a_failed_export_leaves_no_file_and_keeps_an_old_one(project: Path, tmp_path: Path) -> None:
    with open_project(project) as opened:
        opened.entries.create("noise", {"hex": os.urandom(300_000).hex()})
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.tgz").write_bytes(b"the previous archive")
    for name in ("new.tgz", "old.tgz"):
        # A full disk, as far as the export can tell: no file may grow past 100 kB.
        done = limited(100_000, "export", "--project", str(project), "--out", str(out / name))
        assert (done.returncode, done.stdout) == (1, "")
        assert done.stderr == "flextype: error: File too large\n"
    assert sorted(p.name for p in out.iterdir()) == ["old.tgz"]
    assert (out / "old.tgz").read_bytes() == b"the previous archive"


def test_export_into_a_missing_folder_names_the_folder(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "export", "--project", str(project), "--out", str(tmp_path / "no" / "a.tgz")
    )
    assert code == 1
    folder = tmp_path / "no"
    assert (
        err == f"flextype: error: Cannot write {folder / 'a.tgz'}: there is no folder {folder}.\n"
    )


def test_import_applies_the_archived_settings_but_not_storage_or_secrets(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "export", "--project", str(project), "--out", str(tmp_path / "a.tgz"))
    # Someone slips a sign key into the archive: an import never takes secrets from it.
    rewrite(
        tmp_path / "a.tgz",
        tmp_path / "b.tgz",
        replaced(
            archive.SETTINGS, lambda d: d[:-1] + b',"images":{"sign_key":"stolen","max_width":99}}'
        ),
        fix_manifest=True,
    )
    target = tmp_path / "t"
    init(capsys, target, "tinydb", demo=False)
    key = sign_key(target)
    assert run(capsys, "import", "--project", str(target), str(tmp_path / "b.tgz"))[0] == 0
    with open_project(target) as opened:
        settings = opened.settings
    assert settings.storage.driver == "tinydb"
    assert settings.images.sign_key == key
    assert settings.images.max_width == 99
    assert settings.cors.allow_origins == ["https://example.org"]
    assert settings.media.max_file_size == 123456
    assert (target / "flextype.yaml").stat().st_mode & 0o777 == 0o600


# -- migrate -------------------------------------------------------------------------


def test_migrate_both_ways_keeps_everything_and_the_settings_files_comments(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = project / "flextype.yaml"
    settings.write_text(
        "# mine\n" + settings.read_text().replace("driver: yaml", "driver: yaml  # was")
    )
    before = snapshot(project)
    code, out, err = run(capsys, "migrate", "--project", str(project), "--to", "tinydb")
    assert (code, err) == (0, "")
    assert out.startswith(
        "Moved 13 entries and 3 tokens from yaml to tinydb; storage.driver is now tinydb."
    )
    text = settings.read_text()
    assert text.startswith("# mine\n") and "driver: tinydb  # was" in text
    assert snapshot(project) == before
    assert (project / "entries" / "movies" / "dune" / "entry.yaml").is_file()  # kept
    code, _, err = run(capsys, "migrate", "--project", str(project), "--to", "yaml")
    assert code == 1 and "already holds yaml content" in err and "--replace" in err
    code, out, err = run(
        capsys, "migrate", "--project", str(project), "--to", "yaml", "--replace", "--delete-source"
    )
    assert (code, err) == (0, "")
    assert "The tinydb content is removed." in out
    assert not (project / "db.json").exists()
    assert "driver: yaml  # was" in settings.read_text()
    assert snapshot(project) == before


def test_the_migrate_the_driver_warning_names_moves_the_content_it_warned_of(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = project / "flextype.yaml"
    settings.write_text(settings.read_text().replace("driver: yaml", "driver: tinydb"))
    code, out, err = run(capsys, "entries", "get", "movies/dune", "--project", str(project))
    assert code == 1
    assert "flextype migrate --to tinydb" in err  # the warning, before the not found
    code, out, err = run(capsys, "migrate", "--project", str(project), "--to", "tinydb")
    assert (code, err) == (0, "")
    assert out.startswith("Moved 13 entries and 3 tokens from yaml to tinydb;")
    code, out, err = run(capsys, "entries", "get", "movies/dune", "--project", str(project))
    assert (code, err) == (0, "")
    assert '"title": "Dune"' in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--to", "postgres"], "--to postgres needs --database-url"),
        (["--to", "yaml"], "already uses the 'yaml' driver"),
        (
            ["--to", "tinydb", "--database-url", "postgresql://x/y"],
            "--database-url goes with --to postgres",
        ),
    ],
)
def test_migrate_refuses_what_it_cannot_do(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    before = tree(project)
    code, out, err = run(capsys, "migrate", "--project", str(project), *argv)
    assert (code, out) == (1, "")
    assert message in err
    assert tree(project) == before


def test_a_migrate_failing_midway_leaves_the_project_on_its_driver(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_project(project) as opened:
        opened.entries.create("zz/huge", {"text": "x" * 300_000})
    before = tree(project)
    done = limited(200_000, "migrate", "--project", str(project), "--to", "tinydb")
    assert done.returncode == 1
    assert "File too large" in done.stderr and "Traceback" not in done.stderr
    assert tree(project) == before


def test_a_failure_while_swapping_in_undoes_the_swap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = tmp_path / "live"
    init(capsys, live, "yaml", demo=True)
    before = tree(live)
    # The settings file is written last, after every folder was swapped in: make it fail.
    script = f"""
import resource
from pathlib import Path
from flextype_entrypoints.transfer.staging import Staging
with Staging(Path({str(live)!r}), "yaml", "import") as staging:
    staging.project.entries.create("new", {{"title": "New"}})
    (staging.path / "media" / "x.txt").write_text("x")
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
    try:
        staging.commit(["entries", "tokens", "media"], b"#" * 5000)
    except OSError as exc:
        print("failed:", exc.strerror)
"""
    done = run_program([sys.executable, "-c", script])
    assert done.returncode == 0, done.stderr
    assert done.stdout == "failed: File too large\n"
    assert tree(live) == before


# -- the settings file ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "# c\nstorage:\n  driver: yaml # d\nx: 1\n",
            "# c\nstorage:\n  driver: tinydb # d\nx: 1\n",
        ),
        ("storage: {driver: 'yaml'}\n", "storage: {driver: tinydb}\n"),
        ("# only a comment\n", "# only a comment\nstorage:\n  driver: tinydb\n"),
        ("", "storage:\n  driver: tinydb\n"),
        ("cors:\n  allow_origins: []", "cors:\n  allow_origins: []\nstorage:\n  driver: tinydb\n"),
    ],
)
def test_switching_the_driver_changes_only_its_value(text: str, expected: str) -> None:
    assert switched_driver_text(text, "tinydb") == expected


def test_switching_the_driver_of_a_flow_mapping_rewrites_the_file() -> None:
    switched = switched_driver_text(
        "{storage: {driver: yaml}, cors: {allow_origins: [a]}}\n", "tinydb"
    )
    assert switched.startswith("# flextype-py settings")
    assert "driver: tinydb" in switched and "- a" in switched


def test_export_and_migrate_refuse_content_they_cannot_read_and_change_nothing(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Listings skip what cannot be read; a copy taken from them would silently lack it.
    (project / "entries" / "movies" / "dune" / "entry.yaml").write_bytes(b"title: [unclosed\n")
    (project / "media" / "posters" / "2021" / ".dune.png.meta.yaml").write_text("alt: [x")
    token = next((project / "tokens").glob("*.yaml"))
    token.write_text("calls: [unclosed\n")
    before = tree(project)
    out = tmp_path / "site.tar.gz"
    code, _, err = run(capsys, "export", "--project", str(project), "--out", str(out))
    assert code == 1
    assert "3 stored item(s) cannot be read" in err
    assert "entry movies/dune" in err and "media file posters/2021/dune.png" in err
    assert f"token {token.stem}" in err
    assert not out.exists()
    code, _, err = run(capsys, "migrate", "--project", str(project), "--to", "tinydb")
    assert code == 1 and "entry movies/dune" in err and "nothing was written" in err
    assert tree(project) == before


def test_migrate_delete_source_removes_a_linked_content_folder_as_a_link(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # entries/ kept on another disk, linked into the project: the source to delete is
    # the project's link; what it leads to is left alone, as every delete here does.
    disk = tmp_path / "disk"
    disk.mkdir()
    (project / "entries").replace(disk / "entries")
    (project / "entries").symlink_to(disk / "entries")
    before = snapshot(project)
    code, out, err = run(
        capsys, "migrate", "--project", str(project), "--to", "tinydb", "--delete-source"
    )
    assert (code, err) == (0, "")
    assert "The yaml content is removed." in out
    assert not os.path.lexists(project / "entries")
    assert not (project / "tokens").exists()
    assert (disk / "entries" / "movies" / "dune" / "entry.yaml").is_file()
    assert [p.name for p in project.iterdir() if p.name.endswith(".deleted")] == []
    assert snapshot(project) == before
