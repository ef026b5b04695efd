"""The domain core imports no framework and no I/O library: it is usable as a plain library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FORBIDDEN = ("litestar", "tinydb", "yaml", "PIL", "dependency_injector", "bcrypt")

PROBE = f"""
import json, sys
import flextype_core
import flextype_core.entries, flextype_core.tokens, flextype_core.registry, flextype_core.ids
forbidden = {FORBIDDEN!r}
loaded = sorted(
    name for name in sys.modules if name.split(".")[0] in forbidden
)
print(json.dumps(loaded))
"""


@pytest.fixture(scope="module")
def modules_loaded_by_the_core() -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout)
    return loaded


@pytest.mark.parametrize("package", FORBIDDEN)
def test_importing_the_core_loads_no_framework_or_io_library(
    modules_loaded_by_the_core: list[str], package: str
) -> None:
    assert [m for m in modules_loaded_by_the_core if m.split(".")[0] == package] == []
