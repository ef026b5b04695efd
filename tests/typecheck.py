"""Run mypy on the import names we install, through a tree of links to the source folders.

``src/adapters`` and ``src/entrypoints`` are installed as ``flextype_adapters`` and
``flextype_entrypoints`` (``[tool.setuptools.package-dir]``), which mypy cannot map by
itself: it names a module after its folder. ``build/typecheck/<import name>`` links to
each folder, so mypy sees the names the code imports. ``python -m tests.typecheck``
builds the links and runs ``mypy`` with any extra arguments.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "typecheck"


def package_dirs() -> dict[str, str]:
    """Return the top-level import names and their folders, as pyproject.toml maps them."""
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mapping: dict[str, str] = settings["tool"]["setuptools"]["package-dir"]
    return {name: folder for name, folder in mapping.items() if "." not in name}


def link_tree() -> Path:
    """Make ``build/typecheck/<name>`` link to each package's folder; return the tree."""
    TREE.mkdir(parents=True, exist_ok=True)
    for name, folder in package_dirs().items():
        link = TREE / name
        target = os.path.relpath(ROOT / folder, TREE)
        if link.is_symlink() and os.readlink(link) == target:
            continue
        if link.is_symlink():
            link.unlink()
        link.symlink_to(target, target_is_directory=True)
    return TREE


def main() -> int:
    link_tree()
    mypy = Path(sys.executable).parent / "mypy"
    return subprocess.call([str(mypy), *sys.argv[1:]], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
