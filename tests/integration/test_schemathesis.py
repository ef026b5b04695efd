"""schemathesis against a real server: no 500, no answer that breaks the OpenAPI document."""

from __future__ import annotations

import base64
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flextype_entrypoints.scaffold import create_project
from tests.integration.test_serve import _server, _stop

SCHEMATHESIS = Path(sys.executable).with_name("st")
OPERATIONS = r"^/(api/(entries|registry|tokens|media|images)|media/)"
"""Every operation once: /api/v0 and /api/v1 serve the same handlers."""


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
                "not_a_server_error,response_schema_conformance",
                "--include-path-regex",
                OPERATIONS,
                "-H",
                f"Authorization: Basic {basic}",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        code, _, err = _stop(proc, signal.SIGTERM)
    assert done.returncode == 0, done.stdout[-4000:]
    assert " passed" in done.stdout
    assert code == 0
    assert "Traceback" not in err
