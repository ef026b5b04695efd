"""``flextype webhooks``, run in-process through ``main``.

The change log of the file drivers is another branch's: here every container built
takes a ``FakeChangeLog`` (the container's own override, set on its class).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from dependency_injector import providers

from flextype_entrypoints.cli import main
from flextype_entrypoints.container import Container
from flextype_entrypoints.project import open_project
from tests.unit.feed_fakes import FakeChangeLog

PUBLIC_URL = "https://93.184.216.34/hooks/cms"


@pytest.fixture(autouse=True)
def fake_feed() -> Iterator[FakeChangeLog]:
    feed = FakeChangeLog()
    Container.change_log.override(providers.Object(feed))
    yield feed
    Container.change_log.reset_override()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(params=["yaml", "tinydb"])
def project(
    request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Path:
    path = tmp_path / "site"
    assert (
        _run(capsys, "init", str(path), "--storage", request.param, "--no-demo", "--json")[0] == 0
    )
    return path


def test_create_prints_the_webhook_and_its_secret_once_and_list_never(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(
        capsys,
        "webhooks",
        "create",
        PUBLIC_URL,
        "--events",
        "entry.created, entry.deleted",
        "--id-prefix",
        "movies",
        "--title",
        "Site build",
        "--project",
        str(project),
    )
    assert code == 0, err
    created = json.loads(out)
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["entry.created", "entry.deleted"]
    assert (created["id_prefix"], created["title"]) == ("movies", "Site build")
    assert "shown only this once" in err
    code, out, _ = _run(capsys, "webhooks", "list", "--project", str(project))
    assert code == 0
    assert [h["id"] for h in json.loads(out)] == [created["id"]]
    assert created["secret"] not in out
    with open_project(project) as opened:
        assert opened.webhooks.fetch(created["id"]).url == PUBLIC_URL


def test_deliveries_of_a_webhook_and_of_a_missing_one(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = _run(
        capsys, "webhooks", "create", PUBLIC_URL, "--events", "*", "--project", str(project)
    )
    created = json.loads(out)
    code, out, _ = _run(capsys, "webhooks", "deliveries", created["id"], "--project", str(project))
    assert (code, json.loads(out)) == (0, [])
    code, out, err = _run(capsys, "webhooks", "deliveries", "0" * 32, "--project", str(project))
    assert (code, out) == (1, "")
    assert err == f"flextype: error: Webhook '{'0' * 32}' was not found.\n"


@pytest.mark.parametrize(
    ("url", "events", "says"),
    [
        ("http://127.0.0.1:9000/hook", "*", "allow_private_networks"),
        ("ftp://93.184.216.34/", "*", "http://"),
        (PUBLIC_URL, "entry.published", "unknown events"),
        (PUBLIC_URL, ",", "at least one event"),
    ],
)
def test_a_refused_webhook_is_one_line_and_exit_1(
    project: Path, capsys: pytest.CaptureFixture[str], url: str, events: str, says: str
) -> None:
    code, out, err = _run(
        capsys, "webhooks", "create", url, "--events", events, "--project", str(project)
    )
    assert (code, out) == (1, "")
    assert err.startswith("flextype: error: ")
    assert says in err
    assert err.count("\n") == 1
    with open_project(project) as opened:
        assert opened.webhooks.list() == []


def test_the_command_needs_a_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "webhooks", "list", "--project", str(tmp_path / "none"))
    assert code == 1
    assert "no flextype project at" in err
    assert not (tmp_path / "none").exists()
