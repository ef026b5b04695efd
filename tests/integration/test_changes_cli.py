"""``flextype changes``: the change feed as JSON lines, over an in-memory change log."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from flextype_entrypoints.cli import main
from flextype_entrypoints.container import Container
from tests.feed_support import change, container_with_log
from tests.http_client import Project, serve
from tests.programs import clean_env
from tests.unit.feed_fakes import FakeChangeLog

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def log() -> Iterator[FakeChangeLog]:
    """The change log of every container built meanwhile (the command builds its own)."""
    log = FakeChangeLog()
    Container.change_log.override(providers.Object(log))
    try:
        yield log
    finally:
        Container.change_log.reset_override()


def _lines(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    code = main(["changes", *argv])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    return [json.loads(line) for line in out.splitlines()]


def test_changes_prints_one_json_line_per_change_as_the_api_lists_them(
    yaml_project: Project, log: FakeChangeLog, capsys: pytest.CaptureFixture[str]
) -> None:
    log.append([change("movies/a", "create"), change("movies/b", "move", from_id="movies/a")])
    log.append([change("movies/b", "delete"), change("posters/p.png", "create", "media")])
    printed = _lines(capsys, "--project", str(yaml_project.path))
    with serve(yaml_project, container=container_with_log(yaml_project, log)) as api:
        listed = api.get("changes").json()["data"]
    assert printed == listed
    assert [c["op"] for c in printed] == ["create", "move", "delete", "create"]


def test_since_prints_only_what_follows_and_now_prints_nothing(
    yaml_project: Project, log: FakeChangeLog, capsys: pytest.CaptureFixture[str]
) -> None:
    log.append([change(f"movies/m{i}") for i in range(1500)])  # past one page (1000)
    project = str(yaml_project.path)
    every = _lines(capsys, "--project", project)
    assert [c["id"] for c in every] == [f"movies/m{i}" for i in range(1500)]
    after = _lines(capsys, "--project", project, "--since", every[1497]["cursor"])
    assert [c["id"] for c in after] == ["movies/m1498", "movies/m1499"]
    assert _lines(capsys, "--project", project, "--since", "now") == []


@pytest.mark.parametrize(
    ("since", "words"),
    [("soon", "'since' is not a change cursor"), ("other-1", "another change log")],
)
def test_a_bad_or_foreign_cursor_is_one_line_and_exit_1(
    yaml_project: Project,
    log: FakeChangeLog,
    capsys: pytest.CaptureFixture[str],
    since: str,
    words: str,
) -> None:
    code = main(["changes", "--project", str(yaml_project.path), "--since", since])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err.startswith("flextype: error: ") and words in err
    assert len(err.splitlines()) == 1


def test_follow_prints_changes_as_they_come_and_ctrl_c_ends_it_with_0(
    yaml_project: Project,
) -> None:
    argv = [sys.executable, "-m", "tests.feed_cli_program", str(yaml_project.path), "--follow"]
    with subprocess.Popen(
        argv,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    ) as proc:
        try:
            assert proc.stdin is not None and proc.stdout is not None
            seen = [json.loads(proc.stdout.readline())["id"]]
            for name in ("movies/second", "movies/third"):
                proc.stdin.write(f"append {name}\n")
                proc.stdin.flush()
                seen.append(json.loads(proc.stdout.readline())["id"])
            proc.send_signal(signal.SIGINT)
            try:
                out, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGUSR1)  # the program dumps its threads' stacks
                proc.kill()
                _, stacks = proc.communicate(timeout=30)
                raise AssertionError(f"still running 60 s after SIGINT:\n{stacks}") from None
        finally:
            if proc.poll() is None:
                proc.kill()
    assert seen == ["movies/first", "movies/second", "movies/third"]
    assert (proc.returncode, out, err) == (0, "", "")
