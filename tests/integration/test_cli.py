"""The ``flextype`` command, run in-process through ``main`` and once as a real program."""

from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from flextype_core.images import verify_signature
from flextype_entrypoints.cli import build_parser, main
from flextype_entrypoints.project import open_project
from flextype_entrypoints.scaffold import DEMO_ENTRIES
from tests.programs import FLEXTYPE, run_program

DRIVERS = ["yaml", "tinydb"]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _init(capsys: pytest.CaptureFixture[str], project: Path, driver: str) -> dict[str, str]:
    code, out, _ = _run(capsys, "init", str(project), "--storage", driver, "--json")
    assert code == 0
    shown: dict[str, str] = json.loads(out)
    return shown


def test_init_json_prints_exactly_the_project_and_a_working_token_as_a_program(
    tmp_path: Path,
) -> None:
    done = run_program([FLEXTYPE, "init", str(tmp_path / "site"), "--json"], timeout=60)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert set(shown) == {"project", "token", "access_token"}
    assert shown["project"] == str(tmp_path / "site")
    assert re.fullmatch(r"[0-9a-f]{32}", shown["token"])
    assert re.fullmatch(r"[0-9a-f]{32}", shown["access_token"])
    with open_project(tmp_path / "site") as project:
        token = project.tokens.verify(shown["token"], shown["access_token"], "tokens", write=True)
        assert token.apis == ("*",)


@pytest.mark.parametrize("driver", DRIVERS)
def test_init_creates_the_demo_collection_on_either_driver(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], driver: str
) -> None:
    _init(capsys, tmp_path / "p", driver)
    settings = (tmp_path / "p" / "flextype.yaml").read_text(encoding="utf-8")
    assert f"driver: {driver}" in settings
    assert re.search(r"sign_key: [0-9a-f]{64}", settings)
    with open_project(tmp_path / "p") as project:
        movies = project.entries.collection("movies")
        assert [m["id"] for m in movies] == sorted(
            i for i in DEMO_ENTRIES if i.startswith("movies/")
        )
        birds = project.entries.fetch("movies/birds-of-prey")
        assert (birds["director"], birds["year"], birds["genre"]) == (
            "Cathy Yan",
            2020,
            ["action", "crime"],
        )
    assert (tmp_path / "p" / "db.json").exists() == (driver == "tinydb")
    assert (tmp_path / "p" / "entries").is_dir() == (driver == "yaml")


def test_init_without_demo_creates_an_empty_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "init", str(tmp_path / "p"), "--no-demo")
    assert code == 0
    assert "access_token: " in out
    with open_project(tmp_path / "p") as project:
        assert project.entries.collection("") == []


def test_init_refuses_to_overwrite_a_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _init(capsys, tmp_path / "p", "yaml")
    before = sorted(p.name for p in (tmp_path / "p" / "tokens").iterdir())
    code, out, err = _run(capsys, "init", str(tmp_path / "p"))
    assert code == 1
    assert out == ""
    assert err.startswith("flextype: error: ") and "already holds a project" in err
    assert err.count("\n") == 1
    assert sorted(p.name for p in (tmp_path / "p" / "tokens").iterdir()) == before


def test_init_refuses_a_folder_with_other_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    code, _, err = _run(capsys, "init", str(tmp_path))
    assert code == 1
    assert "not an empty folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["init", "--storage", "sqlite"])
    assert caught.value.code == 2


@pytest.mark.parametrize("driver", DRIVERS)
def test_tokens_can_be_created_listed_shown_disabled_enabled_and_deleted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], driver: str
) -> None:
    project = tmp_path / "p"
    first = _init(capsys, project, driver)["token"]
    code, out, _ = _run(
        capsys,
        "tokens",
        "create",
        "--project",
        str(project),
        "--title",
        "Reader",
        "--apis",
        "entries,registry",
        "--limit-calls",
        "3",
        "--json",
    )
    assert code == 0
    created = json.loads(out)
    assert set(created) == {"token", "access_token"}

    code, out, _ = _run(capsys, "--project", str(project), "tokens", "list")
    listed = json.loads(out)
    assert sorted(t["token"] for t in listed) == sorted([first, created["token"]])
    assert all("hashed_access_token" not in t for t in listed)
    assert created["access_token"] not in out

    code, out, _ = _run(capsys, "tokens", "show", created["token"], "--project", str(project))
    shown = json.loads(out)
    assert (shown["title"], shown["apis"], shown["limit_calls"]) == (
        "Reader",
        ["entries", "registry"],
        3,
    )
    _run(capsys, "tokens", "disable", created["token"], "--project", str(project))
    with open_project(project) as opened:
        assert opened.tokens.fetch(created["token"]).state == "disabled"
    code, out, _ = _run(capsys, "tokens", "enable", created["token"], "--project", str(project))
    assert json.loads(out)["state"] == "enabled"
    code, out, _ = _run(capsys, "tokens", "delete", created["token"], "--project", str(project))
    assert code == 0
    code, _, err = _run(capsys, "tokens", "show", created["token"], "--project", str(project))
    assert code == 1
    assert err == f"flextype: error: Token '{created['token']}' was not found.\n"


def test_bad_token_data_is_one_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _init(capsys, tmp_path / "p", "yaml")
    code, out, err = _run(
        capsys, "tokens", "create", "--apis", "everything", "--project", str(tmp_path / "p")
    )
    assert (code, out) == (1, "")
    assert "apis" in err and "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize("driver", DRIVERS)
def test_entries_can_be_managed_from_the_shell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], driver: str
) -> None:
    p = ["--project", str(tmp_path / "p")]
    _init(capsys, tmp_path / "p", driver)
    code, out, _ = _run(
        capsys, "entries", "create", "movies/platform", "--data", '{"title": "Platform"}', *p
    )
    assert json.loads(out)["title"] == "Platform"
    _run(capsys, "entries", "update", "movies/platform", "--data", '{"year": 2019}', *p)
    _run(capsys, "entries", "move", "movies/platform", "movies/the-platform-2", *p)
    _run(capsys, "entries", "copy", "movies/the-platform-2", "archive/platform", *p)
    code, out, _ = _run(capsys, "entries", "get", "archive/platform", *p)
    assert {k: json.loads(out)[k] for k in ("id", "title", "year")} == {
        "id": "archive/platform",
        "title": "Platform",
        "year": 2019,
    }
    code, out, _ = _run(capsys, "entries", "delete", "archive", *p)
    assert code == 0
    code, out, _ = _run(capsys, "entries", "list", "", "--depth", "all", *p)
    assert "archive/platform" not in [e["id"] for e in json.loads(out)]
    code, _, err = _run(capsys, "entries", "get", "../etc/passwd", *p)
    assert code == 1 and "Traceback" not in err
    code, _, err = _run(capsys, "entries", "create", "x", "--data", "{oops", *p)
    assert code == 1 and "--data is not valid JSON" in err


def test_a_bad_setting_stops_the_command_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "flextype.yaml").write_text("storage:\n  drive: yaml\n", encoding="utf-8")
    code, _, err = _run(capsys, "tokens", "list", "--project", str(project))
    assert code == 1
    assert err == (
        f"flextype: error: {project / 'flextype.yaml'}: unknown setting `storage.drive`;"
        " did you mean `storage.driver`?\n"
    )


def test_images_sign_prints_a_url_the_api_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "p"
    _init(capsys, project, "yaml")
    code, out, _ = _run(
        capsys,
        "images",
        "sign",
        "posters/dune.jpg",
        "--w",
        "300",
        "--fm",
        "webp",
        "--base",
        "http://127.0.0.1:8000",
        "--project",
        str(project),
    )
    assert code == 0
    url = out.strip()
    assert url.startswith("http://127.0.0.1:8000/api/images/posters/dune.jpg?")
    query = dict(parse_qsl(urlsplit(url).query))
    assert {k: v for k, v in query.items() if k != "s"} == {"fm": "webp", "w": "300"}
    with open_project(project) as opened:
        key = opened.settings.images.sign_key
    assert verify_signature(key, "posters/dune.jpg", query, now=0)
    assert not verify_signature(key, "posters/dune.jpg", {**query, "w": "301"}, now=0)


def test_images_sign_refuses_a_bad_parameter_or_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "p"
    _init(capsys, project, "yaml")
    code, _, err = _run(capsys, "images", "sign", "a.jpg", "--w", "wide", "--project", str(project))
    assert code == 1 and "w" in err
    code, _, err = _run(capsys, "images", "sign", "../a.jpg", "--project", str(project))
    assert code == 1 and "Invalid file id" in err


# -- a project is required -------------------------------------------------------------


def _leaf_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[list[str]]:
    """Every command of ``parser`` with placeholder arguments: the positionals and options
    it requires, each ``x`` (or its first choice, or ``{}`` for a JSON option)."""
    found: list[list[str]] = []
    argv = list(path)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _leaf_commands(sub, (*path, name))
            return found
        choice = next(iter(action.choices)) if action.choices else None
        if not action.option_strings and action.nargs not in ("?", "*"):
            argv.append(choice or "x")
        elif action.option_strings and action.required:
            argv += [action.option_strings[0], choice or "{}"]
    return [argv]


COMMANDS = [argv for argv in _leaf_commands(build_parser()) if argv[0] != "init"]


def test_the_commands_found_are_every_subcommand_but_init() -> None:
    names = {" ".join(a for a in argv if a.isalpha() and a != "x") for argv in COMMANDS}
    assert {"tokens create", "tokens list", "entries get", "images sign", "serve"} <= names


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("where", ["default", "empty", "missing"])
def test_every_command_but_init_refuses_a_folder_without_a_project_and_writes_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    where: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLEXTYPE_PROJECT", raising=False)
    if where == "empty":
        (tmp_path / "my site").mkdir()
    given = [] if where == "default" else ["--project", "my site"]
    shown = "project" if where == "default" else "my site"
    code, out, err = _run(capsys, *argv, *given)
    assert (code, out) == (1, "")
    assert err == (
        f"flextype: error: no flextype project at {shown} "
        f"(run flextype init {shlex.quote(shown)})\n"
    )
    assert [p.name for p in tmp_path.rglob("*")] == (["my site"] if where == "empty" else [])


def test_serve_refuses_an_empty_folder_as_a_program_and_leaves_it_empty(tmp_path: Path) -> None:
    done = run_program([FLEXTYPE, "serve", "--project", str(tmp_path), "--port", "0"], timeout=60)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith(f"flextype: error: no flextype project at {tmp_path} ")
    assert list(tmp_path.iterdir()) == []


def test_a_project_made_by_init_is_found_by_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _init(capsys, tmp_path / "p", "yaml")
    code, out, err = _run(capsys, "tokens", "list", "--project", str(tmp_path / "p"))
    assert (code, err) == (0, "")
    assert len(json.loads(out)) == 1


# -- content left in the other storage driver ------------------------------------------


def test_a_driver_switched_by_hand_warns_naming_flextype_migrate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "p"
    _init(capsys, project, "yaml")
    monkeypatch.setenv("FLEXTYPE_STORAGE__DRIVER", "tinydb")
    code, out, err = _run(capsys, "entries", "list", "", "--project", str(project))
    assert (code, json.loads(out)) == (0, [])
    assert err == (
        "flextype: warning: storage.driver is tinydb, but the entries and tokens are stored"
        " by the yaml driver (entries/, tokens/), so none of them is served. Move them with:"
        " flextype migrate --to tinydb (or set storage.driver back to yaml)\n"
    )
    # A token made since (to try the API) is in tinydb; the entries are still missing.
    _run(capsys, "tokens", "create", "--project", str(project))
    code, _, err = _run(capsys, "tokens", "list", "--project", str(project))
    assert code == 0
    assert "but the entries are stored by the yaml driver (entries/)" in err


def test_tinydb_content_under_the_yaml_driver_warns_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "p"
    _init(capsys, project, "tinydb")
    settings = project / "flextype.yaml"
    settings.write_text(settings.read_text().replace("driver: tinydb", "driver: yaml"))
    code, _, err = _run(capsys, "images", "sign", "a.jpg", "--project", str(project))
    assert code == 0
    assert err.startswith(
        "flextype: warning: storage.driver is yaml, but the entries and tokens are stored by"
        " the tinydb driver (db.json), so none of them is served. Move them with:"
        " flextype migrate --to yaml "
    )


@pytest.mark.parametrize("driver", DRIVERS)
def test_no_warning_when_the_selected_driver_holds_the_content(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], driver: str
) -> None:
    project = tmp_path / "p"
    _init(capsys, project, driver)
    other = "tinydb" if driver == "yaml" else "yaml"
    with open_project(project, driver=other) as copied:  # as a migration keeping its source
        copied.entries.create("copied", {"title": "x"})
    code, _, err = _run(capsys, "tokens", "list", "--project", str(project))
    assert (code, err) == (0, "")
