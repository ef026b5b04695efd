"""Confinement: which paths below a root stay inside it once symbolic links are resolved."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from flextype_adapters.confine import Confinement, identity_of


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    (folder / "a" / "b").mkdir(parents=True)
    (folder / "a" / "b" / "f").write_text("in")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "f").write_text("out")
    return folder


def test_plain_and_missing_paths_are_inside(root: Path) -> None:
    inside = Confinement(root)
    for path in ("a", "a/b/f", "a/b/missing/deeper", "new"):
        assert inside.contains(root / path), path
    assert inside.contains(root)


def test_links_are_judged_by_where_they_lead(root: Path, tmp_path: Path) -> None:
    (root / "up").symlink_to("a/b")  # inside
    (root / "a" / "out").symlink_to(tmp_path / "out")  # outside, absolute
    (root / "a" / "b" / "rel").symlink_to("../../../out/f")  # outside, relative
    (root / "dangling").symlink_to(tmp_path / "nowhere")  # outside, to nothing
    (tmp_path / "out" / "back").symlink_to(root / "a")  # out and back in
    (root / "round").symlink_to(tmp_path / "out" / "back")
    inside = Confinement(root)
    assert inside.contains(root / "up" / "f")
    assert inside.contains(root / "round" / "b" / "f")
    for path in ("a/out", "a/out/f", "a/out/new/entry.yaml", "a/b/rel", "dangling/x"):
        assert not inside.contains(root / path), path


def test_a_root_that_is_itself_a_link_is_the_boundary_by_its_target(
    root: Path, tmp_path: Path
) -> None:
    (tmp_path / "alias").symlink_to(root)
    inside = Confinement(tmp_path / "alias")
    assert inside.contains(tmp_path / "alias" / "a" / "b" / "f")
    (root / "x").symlink_to(tmp_path / "out")
    assert not inside.contains(tmp_path / "alias" / "x" / "f")


def test_a_verdict_is_kept_while_the_file_stays_the_same_and_redone_when_it_changes(
    root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inside = Confinement(root)
    link = root / "a" / "l"
    link.symlink_to("b/f")
    path = str(link)
    assert inside.admits(path, identity_of(os.stat(path)))
    link.unlink()
    link.symlink_to(tmp_path / "out" / "f")
    with caplog.at_level(logging.WARNING, logger="flextype.storage"):
        assert not inside.admits(path, identity_of(os.stat(path)))
        assert not inside.admits(path, identity_of(os.stat(path)))
    assert caplog.text.count("Refused") == 1
