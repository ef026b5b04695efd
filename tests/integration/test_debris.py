"""Leftovers of interrupted writes are found by name and removed; nothing else is touched."""

from __future__ import annotations

import os
import time
from pathlib import Path

from flextype_adapters.debris import remove_debris
from flextype_entrypoints.project import open_project

DEBRIS = [
    ".staging-0123456789abcdef0123456789abcdef/movies/entry.yaml",  # a YAML subtree copy
    "movies/.dune.0123456789ab.deleted/entry.yaml",  # a subtree being deleted
    "posters/.a.png.0123456789ab.tmp",  # a media copy being filled
    "movies/dune/.entry.yaml.k2j_x9q1.tmp",  # write_atomic's temporary file
    ".db.json.abcd1234.tmp",
]
KEPT = [
    "movies/dune/entry.yaml",
    "posters/a.png",
    "posters/.a.png.meta.yaml",  # a sidecar
    ".changes",  # the YAML index journal
    ".lock",
    ".gitkeep",
    "notes/.draft.tmp",  # hidden, but not a name our writers use
    ".git/objects/.pack.0123456789ab.tmp",  # inside a hidden folder: never entered
]


def _make(root: Path, names: list[str]) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_only_the_names_interrupted_writes_leave_are_removed(tmp_path: Path) -> None:
    _make(tmp_path, DEBRIS + KEPT)
    assert remove_debris(tmp_path) == len(DEBRIS)
    assert _tree(tmp_path) == set(KEPT)


def test_young_debris_is_left_when_a_minimum_age_is_asked(tmp_path: Path) -> None:
    _make(tmp_path, [".upload-abcd1234", ".upload-old_1234"])
    hour_ago = time.time() - 3700
    os.utime(tmp_path / ".upload-old_1234", (hour_ago, hour_ago))
    assert remove_debris(tmp_path, min_age=3600) == 1
    assert _tree(tmp_path) == {".upload-abcd1234"}


def test_a_flat_sweep_leaves_subfolders_alone(tmp_path: Path) -> None:
    _make(tmp_path, [".db.json.abcd1234.tmp", "entries/.x.abcd1234.tmp"])
    assert remove_debris(tmp_path, recursive=False) == 1
    assert _tree(tmp_path) == {"entries/.x.abcd1234.tmp"}


def test_a_prefix_limits_the_sweep_to_one_file_s_temporaries(tmp_path: Path) -> None:
    _make(tmp_path, [".db.json.abcd1234.tmp", ".env.k2j3h4g5.tmp"])
    assert remove_debris(tmp_path, recursive=False, prefix=".db.json.") == 1
    assert _tree(tmp_path) == {".env.k2j3h4g5.tmp"}  # another tool's, in the project root


def test_a_missing_folder_has_no_debris(tmp_path: Path) -> None:
    assert remove_debris(tmp_path / "none") == 0


def test_a_project_removes_debris_from_every_store_and_keeps_the_content(
    tmp_path: Path,
) -> None:
    project = tmp_path / "p"
    with open_project(project, environ={}) as opened:
        opened.entries.create("movies", {"title": "Movies"})
        token = opened.tokens.create({"title": "t"}).token.token
    _make(
        project,
        [
            "entries/.staging-0123456789abcdef0123456789abcdef/movies/entry.yaml",
            "entries/movies/.entry.yaml.abcd1234.tmp",
            f"tokens/.{token}.yaml.abcd1234.tmp",
            "media/posters/.a.png.0123456789ab.tmp",
        ],
    )
    stale_upload = project / "media" / ".uploads" / ".upload-abcd1234"
    _make(project, ["media/.uploads/.upload-abcd1234", "media/.uploads/.upload-young123"])
    hour_ago = time.time() - 3700
    os.utime(stale_upload, (hour_ago, hour_ago))
    with open_project(project, environ={}) as opened:
        assert opened.remove_debris() == 5
        assert opened.entries.fetch("movies")["title"] == "Movies"
        assert opened.tokens.fetch(token).title == "t"
    assert not any(".staging-" in str(p) or p.suffix == ".tmp" for p in project.rglob("*"))
    assert (project / "media" / ".uploads" / ".upload-young123").exists()
