"""The README's promises hold: its library examples run verbatim, its commands are real."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parents[2] / "README.md"
EXAMPLES = re.findall(r"<!-- library-example -->\n```python\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_library_examples() -> None:
    assert len(EXAMPLES) == 2


@pytest.mark.parametrize("example", EXAMPLES)
@pytest.mark.parametrize("driver", ["yaml", "tinydb"])
def test_a_readme_library_example_runs_verbatim_and_prints_what_it_says(
    tmp_path: Path, example: str, driver: str
) -> None:
    code = example.replace('driver="yaml"', f'driver="{driver}"')
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    promised = [m.group(1) for m in re.finditer(r"^\s*print\(.*\)  # (.+)$", code, re.M)]
    assert done.stdout.splitlines() == promised


def test_the_test_command_is_what_ci_runs() -> None:
    text = README.read_text()
    command = text.split("# test-command\n", 1)[1].splitlines()[0]
    assert command.endswith(".venv/bin/python -m pytest")
    ci = (README.parent / ".ci" / "run").read_text()
    assert "# test-command" in ci
