"""Running programs as a user's shell would: the installed ``flextype``, no FLEXTYPE_* settings."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["FLEXTYPE", "clean_env", "flextype", "run_program"]

FLEXTYPE = str(Path(sys.executable).with_name("flextype"))
"""The installed command, for tests that run it as a program."""


def clean_env() -> dict[str, str]:
    """This process's environment without FLEXTYPE_* settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("FLEXTYPE_")}


def run_program(
    argv: list[str],
    *,
    check: bool = False,
    timeout: float = 120,
    stdin: IO[bytes] | None = None,
    preexec_fn: Callable[[], object] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` without FLEXTYPE_* settings, its output captured as text."""
    return subprocess.run(
        argv,
        stdin=stdin,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=timeout,
        preexec_fn=preexec_fn,
        check=check,
    )


def flextype(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``flextype`` as a program; a non-zero exit fails the test."""
    return run_program([FLEXTYPE, *argv], check=True)
