"""A writer killed with SIGKILL at any moment leaves every entry whole and every subtree whole."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from entrypoints.project import open_project

SUBTREE = 6
"""Entries in every subtree: a root and five children; each write keeps subtrees whole."""

WRITER = r"""
import random, sys
from entrypoints.project import open_project

project = open_project(sys.argv[1], driver=sys.argv[2], environ={})
entries = project.entries
rng = random.Random(int(sys.argv[3]))
print("ready", flush=True)
while True:
    k = rng.randrange(6)
    op = rng.choice(["copy", "copy", "move", "delete", "update"])
    try:
        if op == "copy":
            entries.copy("seed", f"t{k}")
        elif op == "move":
            entries.move(f"t{k}", f"u{k}")
        elif op == "delete":
            entries.delete(rng.choice([f"t{k}", f"u{k}"]))
        else:
            entries.update(f"t{k}/c{rng.randrange(5)}", {"n": rng.random()})
    except Exception as exc:  # NotFound and Conflict are expected here
        if exc.__class__.__name__ not in ("EntryNotFound", "Conflict"):
            raise
"""


def _seed(project: Path, driver: str) -> None:
    with open_project(project, driver=driver, environ={}) as opened:
        opened.entries.create("seed", {"title": "seed"})
        for n in range(SUBTREE - 1):
            opened.entries.create(f"seed/c{n}", {"n": n, "text": "x" * 2000})


def _check(project: Path, driver: str) -> dict[str, int]:
    """Open the store as a new process would and check every invariant; return sizes."""
    with open_project(project, driver=driver, environ={}) as opened:
        everything = opened.entries.collection("", depth=None)
        sizes: dict[str, int] = {}
        for entry in everything:
            top = entry["id"].split("/")[0]
            sizes[top] = sizes.get(top, 0) + 1
            assert opened.entries.fetch(entry["id"]) == entry
    assert all(size == SUBTREE for size in sizes.values()), sizes
    return sizes


@pytest.mark.parametrize("driver", ["yaml", "tinydb"])
def test_a_writer_killed_at_random_moments_never_leaves_a_half_written_state(
    tmp_path: Path, driver: str
) -> None:
    project = tmp_path / "p"
    _seed(project, driver)
    rng = random.Random(20261125)
    seen: set[str] = set()
    for iteration in range(12):
        with subprocess.Popen(
            [sys.executable, "-c", WRITER, str(project), driver, str(iteration)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as writer:
            assert writer.stdout is not None
            assert writer.stdout.readline() == "ready\n"
            time.sleep(rng.uniform(0.05, 0.4))
            assert writer.poll() is None, writer.stderr.read() if writer.stderr else ""
            writer.send_signal(signal.SIGKILL)
            writer.wait(20)
        seen.update(_check(project, driver))
    assert len(seen) > 3  # the writer got far enough to make several subtrees
