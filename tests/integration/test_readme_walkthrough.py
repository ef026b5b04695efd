"""The README's first command and its curl walkthrough work as written, on a real server."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.programs import clean_env

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
FIRST_COMMAND = README.split("## Two commands", 1)[1].split("\n    ", 1)[1].split("\n", 1)[0]
WALKTHROUGH = re.search(r"<!-- walkthrough -->\n```sh\n(.*?)```", README, re.S)
README_URL = "http://127.0.0.1:8000"
TIMEOUT = 60.0


def _read_line(stream: Any) -> str:
    # No select(): the text reader may already hold the next line in its buffer. A hang
    # is ended by the watchdog of the fixture, which kills the process group.
    line: str = stream.readline()
    return line


@pytest.fixture
def newcomer(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    """Run the README's first command (minus venv and pip) in an empty folder.

    Yields the server's URL and the variables of the ``export T=... A=...`` line.
    """
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1])
    after_install = FIRST_COMMAND.split("pip install -q -e . && ", 1)[1]
    # Port 8000 may be taken on a test machine; everything else is run as written.
    command = after_install.replace("serve --project project", "serve --project project --port 0")
    with subprocess.Popen(
        ["bash", "-c", f"exec {command}" if command.startswith(".venv") else command],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
        start_new_session=True,
    ) as proc:
        watchdog = threading.Timer(TIMEOUT, os.killpg, (proc.pid, signal.SIGKILL))
        watchdog.start()
        try:
            assert proc.stdout is not None
            exported: dict[str, str] = {}
            while True:
                line = _read_line(proc.stdout)
                assert line, f"the command ended early: {proc.stderr.read() if proc.stderr else ''}"
                if line.startswith("export "):
                    exported = dict(pair.split("=", 1) for pair in shlex.split(line)[1:])
                if line.startswith("Serving on "):
                    url = line.split()[-1]
                    break
            assert _read_line(proc.stdout) == f"API docs: {url}/docs\n"
            assert set(exported) == {"T", "A"}
            watchdog.cancel()
            yield url, exported, tmp_path
        finally:
            watchdog.cancel()
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(TIMEOUT)
    assert proc.returncode == 0


def _commands() -> list[str]:
    assert WALKTHROUGH is not None
    return [line for line in WALKTHROUGH.group(1).splitlines() if line.startswith("curl ")]


def test_the_walkthrough_replays_the_seed_examples_verbatim(
    newcomer: tuple[str, dict[str, str], Path],
) -> None:
    url, exported, folder = newcomer
    outputs: list[str] = []
    for command in _commands():
        done = subprocess.run(
            ["bash", "-c", command.replace(README_URL, url)],
            capture_output=True,
            text=True,
            cwd=folder,
            env={**os.environ, **exported},
            timeout=TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, (command, done.stderr)
        outputs.append(done.stdout)
    (
        fetched,
        created,
        updated,
        moved,
        moved_again,
        copied,
        deleted,
        listed,
        by_director,
        recent,
        version,
        token,
        demo_image,
        uploaded,
        posters,
        thumbnail,
        signed,
    ) = outputs
    data: list[Any] = [json.loads(o)["data"] if o.startswith("{") else o for o in outputs]
    assert data[0]["director"] == "Cathy Yan"
    assert (data[1]["id"], data[1]["title"]) == ("movies/platform", "Platform")
    assert data[2]["content"] == "A vertical prison with one cell per level."
    assert data[3]["slug"] == "movies/the-platform"
    assert data[4]["slug"] == "movies/2019/the-platform"
    assert data[5]["slug"] == "movies/horror/the-platform"
    assert data[5]["uuid"] != data[4]["uuid"]
    assert deleted == "204\n"
    ids = [item["id"] for item in data[7]]
    assert "movies/2019/the-platform" in ids and "movies/horror/the-platform" not in ids
    assert [item["id"] for item in data[8]] == ["movies/birds-of-prey"]
    assert data[9] == [
        {"title": "Parasite", "rating": 8.5, "id": "movies/parasite"},
        {"title": "Dune", "rating": 8.0, "id": "movies/dune"},
        {
            "title": "Everything Everywhere All at Once",
            "rating": 7.8,
            "id": "movies/everything-everywhere-all-at-once",
        },
        {"title": "Birds of Prey", "rating": 6.1, "id": "movies/birds-of-prey"},
    ]
    assert data[10] == {"key": "flextype.manifest.version", "value": "0.1.0"}
    assert set(data[11]) >= {"token", "access_token"} and data[11]["apis"] == [
        "entries",
        "registry",
    ]
    assert "hashed_access_token" not in "".join(outputs)
    assert fetched and created and updated and moved and moved_again and copied and listed
    assert version and token and by_director and recent
    assert demo_image == "200 image/png\n"
    assert json.loads(uploaded)["data"]["id"] == "posters/poster.png"
    assert [f["id"] for f in json.loads(posters)["data"]] == ["posters/poster.png"]
    assert thumbnail == "200 image/webp\n"
    assert signed == "200 image/jpeg\n"
    with Image.open(folder / "thumb.webp") as webp, Image.open(folder / "thumb.jpg") as jpg:
        assert (webp.width, jpg.width) == (200, 120)


RICHER = re.search(r"<!-- richer-queries -->\n```sh\n(.*?)```", README, re.S)


def test_the_richer_queries_examples_answer_what_the_readme_says(
    newcomer: tuple[str, dict[str, str], Path],
) -> None:
    """The "Richer queries" block, run as one script: each feature's example, in order."""
    url, exported, folder = newcomer
    assert RICHER is not None
    done = subprocess.run(
        ["bash", "-e", "-c", RICHER.group(1).replace(README_URL, url)],
        capture_output=True,
        text=True,
        cwd=folder,
        env={**os.environ, **exported},
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    decoder, text, answers = json.JSONDecoder(), done.stdout, []
    while text.strip():
        answer, end = decoder.raw_decode(text.strip())
        answers.append(answer)
        text = text.strip()[end:]
    groups, search, second_page, queries = answers
    assert groups["data"] == [
        {"title": "Parasite", "id": "movies/parasite"},
        {"title": "Spirited Away", "id": "movies/spirited-away"},
    ]
    found = {item["id"]: item for item in search["data"]}
    assert set(found) == {"movies/dune", "movies/spirited-away"}
    assert found["movies/dune"]["_highlight"] == {"title": "<mark>Dune</mark>"}
    assert "<mark>" in found["movies/spirited-away"]["_highlight"]["title"]
    assert [item["id"] for item in second_page["data"]] == [
        "movies/everything-everywhere-all-at-once",
        "movies/parasite",
    ]
    assert second_page["meta"]["next"]
    assert [item["id"] for item in queries["data"]["recent"]] == [
        "movies/birds-of-prey",
        "movies/dune",
    ]
    assert queries["meta"]["recent"]["total"] == 3 and queries["meta"]["recent"]["next"]
    assert queries["data"]["home"]["id"] == "home" and queries["meta"]["home"] is None
