"""schemathesis against a real server: no 500, no answer that breaks the OpenAPI document.

Besides the bodies, the statuses, content types and headers must be those the document
lists for each operation: an error an operation does not document fails the run.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flextype_entrypoints.scaffold import create_project
from tests.integration.test_serve import _server, _stop

SCHEMATHESIS = Path(sys.executable).with_name("st")
HOOKS = Path(__file__).resolve().parents[1] / "schemathesis_hooks.py"
"""Caps the long poll's generated ``wait`` (see there)."""
OPERATIONS = r"^/(api/(entries|registry|tokens|media|images|changes)|media/|health$|$)"
"""Every operation once: /api/v0 and /api/v1 serve the same handlers."""
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)


@pytest.mark.parametrize("driver", ["yaml", "tinydb"])
def test_generated_requests_find_no_server_error_and_no_schema_violation(
    tmp_path: Path, driver: str
) -> None:
    project = tmp_path / "p"
    issued = create_project(project, driver=driver)
    basic = base64.b64encode(f"{issued.token.token}:{issued.access_token}".encode()).decode()
    with _server(project) as (proc, url):
        done = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                f"{url}/schema/openapi.json",
                "--max-examples",
                "10",
                "--seed",
                "283172051522165175391400361736322263353",
                "--checks",
                ",".join(CHECKS),
                "--include-path-regex",
                OPERATIONS,
                "-H",
                f"Authorization: Basic {basic}",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)},
            timeout=300,
            check=False,
        )
        code, _, err = _stop(proc, signal.SIGTERM)
    assert done.returncode == 0, done.stdout[-4000:]
    cases = re.search(r"(\d+) generated, (\d+) passed", done.stdout)
    assert cases is not None, done.stdout[-2000:]
    assert int(cases[1]) == int(cases[2]) > 1000
    assert code == 0
    assert "Traceback" not in err
