"""A Python client generated from ``/schema/openapi.json`` drives the API, unchanged.

openapi-python-client (the most used generator) writes a package from the document of a
real ``flextype serve``; the test imports it and creates, fetches, updates, moves and
deletes an entry through it, as a user of a generated client would.
"""

from __future__ import annotations

import base64
import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.integration.test_serve import TIMEOUT, _server
from tests.programs import FLEXTYPE, run_program

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "flextype_generated_client"
CONFIG = f"""\
project_name_override: {PACKAGE}
package_name_override: {PACKAGE}
post_hooks: []
content_type_overrides:
  image/jpeg: application/octet-stream
  image/png: application/octet-stream
  image/gif: application/octet-stream
  image/webp: application/octet-stream
"""
"""No post hooks (they run ruff from PATH); images are bytes to the client."""


def _init(project: Path) -> dict[str, str]:
    done = run_program(
        [FLEXTYPE, "init", "--project", str(project), "--json"], check=True, timeout=TIMEOUT
    )
    issued: dict[str, str] = json.loads(done.stdout)
    return issued


def _generate(document: dict[str, Any], folder: Path) -> str:
    (folder / "openapi.json").write_text(json.dumps(document))
    (folder / "config.yaml").write_text(CONFIG)
    done = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(folder / "openapi.json"),
            "--config",
            str(folder / "config.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(folder / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[tuple[ModuleType, str, dict[str, str]]]:
    """The generated package, the server's URL and the project's first token."""
    project = tmp_path / "site"
    issued = _init(project)
    with _server(project) as (_, url):
        document = httpx.get(f"{url}/schema/openapi.json", timeout=TIMEOUT).json()
        output = _generate(document, tmp_path)
        # Every part of the document was understood: nothing was left out of the client.
        assert "Warning" not in output and "WARNING" not in output, output
        sys.path.insert(0, str(tmp_path))
        try:
            yield importlib.import_module(PACKAGE), url, issued
        finally:
            sys.path.remove(str(tmp_path))
            for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
                del sys.modules[name]


def _module(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


def test_a_generated_client_creates_fetches_updates_moves_and_deletes_an_entry(
    generated: tuple[ModuleType, str, dict[str, str]],
) -> None:
    package, url, issued = generated
    models = _module(package, "models")
    create = _module(package, "api.entries.api_entries_create_entry")
    fetch = _module(package, "api.entries.api_entries_fetch_entry")
    update = _module(package, "api.entries.api_entries_update_entry")
    move = _module(package, "api.entries.api_entries_move_entry")
    remove = _module(package, "api.entries.api_entries_delete_entry")
    credentials = f"{issued['token']}:{issued['access_token']}".encode()
    client = package.AuthenticatedClient(
        base_url=url, token=base64.b64encode(credentials).decode(), prefix="Basic"
    )
    with client as api:
        fields = models.EntryFields.from_dict({"title": "Platform", "year": 2019})
        created = create.sync(
            client=api, body=models.EntryCreate(id="movies/platform", data=fields)
        )
        assert isinstance(created, models.EntryData)
        assert created.data.id == "movies/platform"
        assert created.data.additional_properties["title"] == "Platform"
        assert created.data.additional_properties["year"] == 2019
        assert created.data.visibility == "visible"

        fetched = fetch.sync_detailed(client=api, id="movies/platform")
        assert fetched.status_code == 200
        assert isinstance(fetched.parsed, models.EntryData)
        assert fetched.parsed.data.uuid == created.data.uuid
        etag = fetched.headers["etag"]

        change = models.EntryFields.from_dict({"title": "The Platform"})
        body = models.EntryUpdate(id="movies/platform", data=change)
        updated = update.sync(client=api, body=body, if_match=etag)
        assert isinstance(updated, models.EntryData)
        assert updated.data.additional_properties["title"] == "The Platform"
        assert updated.data.additional_properties["year"] == 2019
        stale = update.sync(client=api, body=body, if_match=etag)
        assert isinstance(stale, models.Error)
        assert stale.errors == ["PreconditionFailed"]

        target = "movies/the-platform"
        moved = move.sync(client=api, body=models.EntryMove(id="movies/platform", new_id=target))
        assert isinstance(moved, models.EntryData)
        assert moved.data.id == target
        gone = fetch.sync(client=api, id="movies/platform")
        assert isinstance(gone, models.Error)
        assert gone.errors == ["NotFound"]

        deleted = remove.sync_detailed(client=api, body=models.EntryDelete(id=target))
        assert deleted.status_code == 204
        missing = fetch.sync_detailed(client=api, id=target)
        assert missing.status_code == 404
        assert isinstance(missing.parsed, models.Error)
