"""The linters are part of the suite: a lint or typing error fails the tests like a bug."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

CHECKS = {
    "ruff check": ["ruff", "check", "--no-cache"],
    "ruff format": ["ruff", "format", "--check", "--no-cache"],
    "mypy --strict": ["python", "-m", "tests.typecheck"],
    "import layers": ["lint-imports", "--no-cache"],
}


@pytest.mark.parametrize("name", list(CHECKS))
def test_the_code_passes(name: str) -> None:
    tool, *args = CHECKS[name]
    exe = BIN / tool if (BIN / tool).exists() else shutil.which(tool)
    assert exe is not None, f"{tool} is not installed: install the 'dev' extra"
    result = subprocess.run(
        [str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
