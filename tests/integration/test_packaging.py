"""The package installs beside anything: its import names are taken by no other distribution."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _import_names() -> list[str]:
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return list(settings["tool"]["setuptools"]["package-dir"])


def test_every_installed_import_name_is_ours() -> None:
    # `adapters` and `entrypoints` are real distributions on the package index.
    assert _import_names()
    assert all(name.startswith("flextype_") for name in _import_names())


def test_every_package_folder_is_installed() -> None:
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(settings["tool"]["setuptools"]["packages"])
    found = set()
    for name, folder in settings["tool"]["setuptools"]["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *parts)))
    assert found == listed


def test_the_command_and_the_library_work_beside_packages_named_entrypoints_and_adapters(
    tmp_path: Path,
) -> None:
    # What `pip install entrypoints` puts on the path: a module `entrypoints.py`.
    (tmp_path / "entrypoints.py").write_text("VALUE = 'the other distribution'\n")
    (tmp_path / "adapters").mkdir()
    (tmp_path / "adapters" / "__init__.py").write_text("VALUE = 'another one'\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    code = (
        "import entrypoints, adapters, flextype_py\n"
        "from flextype_entrypoints.cli import main\n"
        "print(entrypoints.VALUE, adapters.VALUE, flextype_py.open_project.__name__)\n"
        "raise SystemExit(main(['--help']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("the other distribution another one open_project\n")
    assert "usage: flextype" in done.stdout


def test_the_public_name_opens_a_project(tmp_path: Path) -> None:
    import flextype_py

    with flextype_py.open_project(tmp_path / "p", driver="yaml", environ={}) as cms:
        cms.entries.create("a", {"title": "A"})
        assert cms.entries.fetch("a")["title"] == "A"
    assert issubclass(flextype_py.EntryNotFound, flextype_py.FlextypeError)


def test_the_license_file_is_the_license_pyproject_declares() -> None:
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = settings["project"]["license"]["text"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.splitlines()[0] == f"{declared} License"
    assert "Permission is hereby granted, free of charge" in text  # the MIT terms


def test_every_data_file_of_a_package_is_shipped() -> None:
    # The PostgreSQL migrations are .sql files read at run time: a wheel without them
    # could not create a schema.
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    tool = settings["tool"]["setuptools"]
    shipped = tool["package-data"]
    left_out = []
    for name, folder in tool["package-dir"].items():
        for path in (ROOT / folder).rglob("*"):
            if path.is_dir() or path.suffix in {".py", ".pyc"} or "__pycache__" in path.parts:
                continue
            package_folder = next(p for p in path.parents if (p / "__init__.py").exists())
            package = ".".join((name, *package_folder.relative_to(ROOT / folder).parts))
            inside = path.relative_to(package_folder)
            patterns = [*shipped.get("*", []), *shipped.get(package, [])]
            if not any(inside.match(pattern) for pattern in patterns):
                left_out.append(f"{package}: {inside}")
    assert left_out == []
    assert (ROOT / "src/adapters/postgres/migrations/0001_tables.sql").exists()
