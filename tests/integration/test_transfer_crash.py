"""An import or migration killed while swapping its content in is undone or finished at start.

The swap is several renames and a settings write. The test kills the command right
before each of them in turn (the k-th rename or replace after the swap wrote its plan),
then lets ``flextype serve``'s start-up recovery run, and demands the project be exactly
as before the command or exactly as after it: never half of each (webhooks included,
each at the head of the change log the project has).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from flextype_adapters.folder_swap import STAGING_NAME
from flextype_core.webhook_port import Progress, Webhook
from flextype_entrypoints.project import open_project
from tests.integration.transfer_support import fill, snapshot
from tests.programs import FLEXTYPE, clean_env, flextype, run_program

KILLED_AT = r"""
import os, sys
from pathlib import Path

project, at, argv = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
seen = 0

def crash_point():
    # Count only the swap's own steps: those after it wrote its plan.
    global seen
    if any(project.glob(".*-*/.plan.json")):
        if seen == at:
            os._exit(9)
        seen += 1

for name in ("rename", "replace"):
    def step(self, target, _original=getattr(Path, name)):
        crash_point()
        return _original(self, target)
    setattr(Path, name, step)

from flextype_entrypoints.cli import main
code = main(argv)
print("finished", flush=True)
sys.exit(code)
"""


def _run_killed_at(project: Path, at: int, argv: list[str]) -> bool:
    """Run ``flextype ARGV`` killed at the swap's ``at``-th step; True if it finished."""
    done = run_program([sys.executable, "-c", KILLED_AT, str(project), str(at), *argv])
    if "finished" in done.stdout:
        assert done.returncode == 0, done.stderr
        return True
    assert done.returncode == 9, done.stderr
    return False


def _recover(project: Path) -> int:
    with open_project(project, environ={}) as opened:
        return opened.remove_debris()


def _epoch(project: Path) -> str:
    with open_project(project, environ={}) as opened:
        log = opened.container.change_log()
        assert log is not None
        return log.epoch()


def _state(project: Path, old_epoch: str) -> dict[str, Any]:
    """What the project holds; ``log``: whether its change log is the one of epoch
    ``old_epoch`` or a new one, each webhook with its position in that log."""
    state = snapshot(project)
    with open_project(project, environ={}) as opened:
        state["driver"] = opened.settings.storage.driver
        store, log = opened.container.webhook_store(), opened.container.change_log()
        assert log is not None
        state["log"] = "old" if log.epoch() == old_epoch else "new"
        state["webhooks"] = [
            (hook, store.secret(hook.id), store.progress(hook.id).position) for hook in store.all()
        ]
    return state


HOOK = Webhook(
    id="1" * 32,
    url="https://build.example.com/in",
    events=["*"],
    created_at=1_700_000_000,
    modified_at=1_700_000_000,
)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("source") / "site"
    flextype("init", str(path), "--json")
    fill(path)
    with open_project(path, environ={}) as opened:
        log = opened.container.change_log()
        assert log is not None
        head = log.head()
        secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        opened.container.webhook_store().create(HOOK, secret, Progress(position=head))
    return path


def _kill_at_every_step(
    template: Path, tmp_path: Path, argv: list[str]
) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Kill ``argv`` (run on a copy of ``template``) at each swap step in turn.

    Returns the state before, the state after a whole run, and how many kills left a
    swap to recover; asserts that every recovered copy is in one of the two states.
    """
    epoch = _epoch(template)
    before = _state(template, epoch)
    assert before["log"] == "old"
    whole = tmp_path / "whole"
    shutil.copytree(template, whole)
    assert _run_killed_at(whole, 10_000, [*argv, "--project", str(whole)])
    after = _state(whole, epoch)
    assert after != before
    # The new content's webhooks start at the head of its new log.
    assert after["log"] == "new" and [w[2] for w in after["webhooks"]] == [0]
    recovered = 0
    for at in range(100):
        copy = tmp_path / f"killed-{at}"
        shutil.copytree(template, copy)
        finished = _run_killed_at(copy, at, [*argv, "--project", str(copy)])
        recovered += _recover(copy) > 0 and not finished
        assert [p.name for p in copy.iterdir() if STAGING_NAME.fullmatch(p.name)] == []
        assert _state(copy, epoch) in (before, after), f"killed at step {at}"
        if finished:
            break
    else:
        pytest.fail("the command never finished")
    return before, after, recovered


@pytest.mark.parametrize("driver", ["yaml", "tinydb"])
def test_an_import_killed_at_any_step_of_its_swap_is_undone_or_finished(
    source: Path, tmp_path: Path, driver: str
) -> None:
    archive = tmp_path / "site.tar.gz"
    flextype("export", "--project", str(source), "--out", str(archive))
    target = tmp_path / "target"
    flextype("init", str(target), "--storage", driver, "--json")
    _, _, recovered = _kill_at_every_step(target, tmp_path, ["import", "--replace", str(archive)])
    assert recovered >= 3  # the kills fell inside the swap, and left work to undo


def test_a_migration_killed_at_any_step_of_its_swap_is_undone_or_finished(
    source: Path, tmp_path: Path
) -> None:
    before, after, recovered = _kill_at_every_step(source, tmp_path, ["migrate", "--to", "tinydb"])
    assert (before["driver"], after["driver"]) == ("yaml", "tinydb")
    assert before["webhooks"][0][2] > 0  # so that a position of the other log would show
    assert recovered >= 2


def test_serve_started_after_a_migration_killed_past_its_settings_write_serves_the_old_driver(
    source: Path, tmp_path: Path
) -> None:
    # Killed after the settings file names the new driver but before the swap's mark:
    # the start-up recovery puts the old settings back, and the server must be built
    # from those, not from the ones it read before recovering.
    for at in range(20):
        copy = tmp_path / f"killed-{at}"
        shutil.copytree(source, copy)
        with open_project(copy, environ={}) as project:
            issued = project.tokens.create({"title": "Reader", "apis": ["entries"]})
        assert not _run_killed_at(copy, at, ["migrate", "--to", "tinydb", "--project", str(copy)])
        (staging,) = [p for p in copy.iterdir() if STAGING_NAME.fullmatch(p.name)]
        settings = (copy / "flextype.yaml").read_text(encoding="utf-8")
        if "driver: tinydb" in settings and not (staging / ".committed").exists():
            break
    else:
        pytest.fail("no kill fell between the settings write and the swap's mark")
    with subprocess.Popen(
        [FLEXTYPE, "serve", "--project", str(copy), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    ) as server:
        try:
            assert server.stdout is not None
            url = server.stdout.readline().removeprefix("Serving on ").strip()
            assert url.startswith("http://"), url
            answer = httpx.get(
                f"{url}/api/entries",
                params={"id": "movies/dune", "token": issued.token.token},
                timeout=60,
            )
        finally:
            server.kill()
            server.wait(60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["title"] == "Dune"
    assert "driver: yaml" in (copy / "flextype.yaml").read_text(encoding="utf-8")
