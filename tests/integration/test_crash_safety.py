"""A writer killed with SIGKILL at any moment leaves every entry whole and every subtree whole."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from flextype_adapters.debris import DEBRIS_NAME
from flextype_core.media import MediaService
from flextype_entrypoints.project import open_project


def _debris(project: Path) -> list[Path]:
    return [p for p in project.rglob("*") if DEBRIS_NAME.fullmatch(p.name)]


def _remove_debris(project: Path, driver: str = "yaml") -> None:
    """Remove the leftovers the kills made, as ``flextype serve`` does at start.

    Uploads being received when the writer died stay: they are removed once idle for
    an hour (another process may still be writing one).
    """
    with open_project(project, driver=driver, environ={}) as opened:
        opened.remove_debris()
    uploads = project / "media" / ".uploads"
    assert [p for p in _debris(project) if p.parent != uploads] == []


def _kill_repeatedly(
    script: str, args: list[str], iterations: int, most_ops: int, check: Callable[[], Iterable[str]]
) -> set[str]:
    """Start the writer ``script`` and SIGKILL it mid-work, ``iterations`` times.

    The writer prints ``ready``, then a line after every operation it finished. Each time
    the kill waits for a random number (1 to ``most_ops``) of those lines, so every run
    does real work however loaded the machine is, and lands wherever the writer then is:
    in the middle of the next operation, or between two. ``check`` runs after every kill
    and returns the names it saw; return them all.
    """
    rng = random.Random(20261125)
    seen: set[str] = set()
    for iteration in range(iterations):
        with subprocess.Popen(
            [sys.executable, "-c", script, *args, str(iteration)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as writer:
            assert writer.stdout is not None
            assert writer.stdout.readline() == "ready\n"
            for _ in range(rng.randint(1, most_ops)):
                line = writer.stdout.readline()
                assert line == "done\n", writer.stderr.read() if writer.stderr else line
            writer.send_signal(signal.SIGKILL)
            writer.wait(60)
        seen.update(check())
    return seen


SUBTREE = 6
"""Entries in every subtree: a root and five children; each write keeps subtrees whole."""

WRITER = r"""
import random, sys
from flextype_adapters.debris import DEBRIS_NAME
from flextype_entrypoints.project import open_project

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
    print("done", flush=True)
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
    seen = _kill_repeatedly(WRITER, [str(project), driver], 12, 40, lambda: _check(project, driver))
    assert len(seen) > 3  # the writer got far enough to make several subtrees
    _remove_debris(project, driver)
    assert set(_check(project, driver)) <= seen


# -- media: files, sidecars and folders ----------------------------------------------

SEED_FILES = ("a.txt", "b.txt", "c.txt", "d.txt")
"""The files of every copied folder; each is large enough that a copy takes a while."""

MEDIA_WRITER = r"""
import random, sys
from flextype_adapters.debris import DEBRIS_NAME
from flextype_entrypoints.project import open_project

project = open_project(sys.argv[1], environ={})
media = project.media
rng = random.Random(int(sys.argv[2]))

def upload(name):
    size = rng.randrange(1, 200_000)
    with media.stage() as staged:
        staged.write(bytes(65 + i % 26 for i in range(size)))
        media.upload("up", name, staged, replace=True)

print("ready", flush=True)
while True:
    k = rng.randrange(6)
    op = rng.choice(["copy", "copy", "move", "delete", "meta", "upload", "upload", "file"])
    try:
        if op == "copy":
            media.copy_folder("seed", f"t{k}")
        elif op == "move":
            media.move_folder(f"t{k}", f"u{k}")
        elif op == "delete":
            media.delete_folder(rng.choice([f"t{k}", f"u{k}"]))
        elif op == "meta":
            media.add_meta(f"t{k}/a.txt", f"n{rng.randrange(1000)}", rng.random())
        elif op == "upload":
            upload(f"n{k}.txt")
        else:
            verb = rng.choice([media.move, media.copy])
            verb(f"up/n{k}.txt", f"up/m{rng.randrange(99)}.txt")
    except Exception as exc:  # missing sources and taken targets are expected here
        if exc.__class__.__name__ not in (
            "MediaFolderNotFound", "MediaFileNotFound", "Conflict", "NotFound"
        ):
            raise
    print("done", flush=True)
"""


def _seed_content(name: str) -> bytes:
    return name.encode() * 40_000


def _content(media: MediaService, file_id: str) -> bytes:
    stream = media.content(file_id).stream
    assert stream is not None
    with stream:
        return stream.read()


def _check_media(project: Path) -> set[str]:
    """Check every media invariant as a new process would; return the folders seen."""
    with open_project(project, environ={}) as opened:
        media = opened.media
        folders = {f["id"] for f in media.folders("")}
        for folder in folders - {"up"}:
            files = media.collection(folder, {})
            names = sorted(f["id"].rsplit("/", 1)[1] for f in files.data)
            assert names == list(SEED_FILES), (folder, names)
            for name in SEED_FILES:
                content = _content(media, f"{folder}/{name}")
                assert content == _seed_content(name), f"{folder}/{name}"
        if "up" in folders:
            for meta in media.collection("up", {}).data:
                content = _content(media, meta["id"])
                assert len(content) == meta["filesize"], meta["id"]
                assert content == bytes(65 + i % 26 for i in range(len(content))), meta["id"]
    return folders


def test_a_media_writer_killed_at_random_moments_leaves_files_and_folders_whole(
    tmp_path: Path,
) -> None:
    project = tmp_path / "p"
    with open_project(project, environ={}) as opened:
        opened.media.create_folder("seed")
        for name in SEED_FILES:
            (project / "media" / "seed" / name).write_bytes(_seed_content(name))
            (project / "media" / "seed" / f".{name}.meta.yaml").write_text(
                f"title: {name}\ntype: text/plain\nfilesize: {len(_seed_content(name))}\n"
            )
    seen = _kill_repeatedly(MEDIA_WRITER, [str(project)], 12, 30, lambda: _check_media(project))
    assert len(seen - {"seed", "up"}) > 3  # the writer copied several folders
    _remove_debris(project)
    assert _check_media(project) <= seen


# -- tokens ---------------------------------------------------------------------------

TOKEN_WRITER = r"""
import random, sys
from flextype_adapters.debris import DEBRIS_NAME
from flextype_entrypoints.project import open_project

project = open_project(sys.argv[1], driver=sys.argv[2], environ={})
tokens = project.tokens
rng = random.Random(int(sys.argv[3]))
print("ready", flush=True)
while True:
    k = rng.randrange(6)
    op = rng.choice(["create", "update", "move", "copy", "delete", "count"])
    name = f"token-{k:02d}-crash-test"
    try:
        if op == "create":
            tokens.create({"title": name}, name)
        elif op == "update":
            tokens.update(name, {"title": f"{name} {rng.random()}"})
        elif op == "move":
            tokens.move(name, f"moved-{k:02d}-crash-test")
        elif op == "copy":
            tokens.copy(name, f"copied-{rng.randrange(99):02d}-crash-test")
        elif op == "delete":
            tokens.delete(rng.choice([name, f"moved-{k:02d}-crash-test"]))
        else:
            tokens.verify(name, None, "entries", write=False)
            tokens.flush()
    except Exception as exc:  # missing tokens and taken ids are expected here
        if exc.__class__.__name__ not in ("TokenNotFound", "Conflict", "AccessTokenInvalid"):
            raise
    print("done", flush=True)
"""


@pytest.mark.parametrize("driver", ["yaml", "tinydb"])
def test_a_token_writer_killed_at_random_moments_leaves_every_token_readable(
    tmp_path: Path, driver: str
) -> None:
    project = tmp_path / "p"
    with open_project(project, driver=driver, environ={}) as opened:
        opened.tokens.create({"title": "first"})

    def check() -> list[str]:
        with open_project(project, driver=driver, environ={}) as opened:
            listed = opened.tokens.list()
            for token in listed:
                assert opened.tokens.fetch(token.token) == token
                assert token.calls >= 0 and token.title
            return [t.token for t in listed]

    seen = _kill_repeatedly(TOKEN_WRITER, [str(project), driver], 10, 40, check)
    assert len(seen) > 4  # the writer created, moved and copied several tokens
    _remove_debris(project, driver)
