"""A small client for the HTTP tests: Litestar's TestClient plus the project's credentials.

Like the ``api_client`` of an end-to-end suite, it knows where the API lives and how to
authenticate, so a test says *what* it asks, not how a token travels. Every response
goes through it and is kept, so a fixture can check after the test that none of them
leaked a hash, a traceback or a path on disk.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, cast
from urllib.parse import urlencode

import httpx
from litestar import Litestar
from litestar.testing import TestClient

from flextype_entrypoints.container import Container, build_container
from flextype_entrypoints.http.app import create_app
from flextype_entrypoints.scaffold import create_project

__all__ = [
    "DRIVERS",
    "PREFIXES",
    "ApiClient",
    "Project",
    "ProjectFactory",
    "assert_error",
    "data_of",
    "files_of",
    "is_uuid4",
    "new_project",
    "serve",
]

DRIVERS = ("yaml", "tinydb")
PREFIXES = ("/api", "/api/v0", "/api/v1")
ERROR_KEYS = {"success", "errors", "data", "message"}
_SRC = Path(__file__).resolve().parents[1] / "src"


class Project(NamedTuple):
    """A scaffolded project and its first token (``apis: ["*"]``)."""

    path: Path
    token: str
    access_token: str


def new_project(path: Path, driver: str, *, demo: bool = True) -> Project:
    issued = create_project(path, driver=driver, demo=demo)
    return Project(path, issued.token.token, issued.access_token)


class ProjectFactory:
    """Scaffold each (driver, demo) project once, then hand out copies of it.

    Scaffolding hashes an access token with bcrypt and writes the demo entries; a copy
    of the folder is much cheaper, and every test still gets a project of its own.
    """

    def __init__(self, root: Path) -> None:
        self._root = root
        self._templates: dict[tuple[str, bool], Project] = {}

    def __call__(self, path: Path, driver: str, *, demo: bool = True) -> Project:
        key = (driver, demo)
        if key not in self._templates:
            folder = self._root / f"{driver}-{'demo' if demo else 'empty'}"
            self._templates[key] = new_project(folder, driver, demo=demo)
        template = self._templates[key]
        shutil.copytree(template.path, path)
        return Project(path, template.token, template.access_token)


def files_of(folder: Path) -> dict[str, bytes]:
    """Snapshot every file below ``folder``: relative path -> content."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check the one error shape of the contract; return the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) - {"details"} == ERROR_KEYS, body
    assert body["success"] is False
    assert body["errors"] == [code]
    assert body["data"] is None
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


class ApiClient:
    """Requests to one API prefix with one token, every response recorded.

    Args:
        client: the TestClient around the app.
        token: the public token sent with every request (unless ``auth=False``).
        access_token: its access token, sent with every write.
        project: the project folder (its path must never appear in a response).
        prefix: ``/api``, ``/api/v0`` or ``/api/v1``.
    """

    def __init__(
        self,
        client: TestClient[Litestar],
        token: str,
        access_token: str,
        *,
        project: Path,
        prefix: str = "/api",
    ) -> None:
        self.client = client
        self.token = token
        self.access_token = access_token
        self.project = project
        self.prefix = prefix
        self.responses: list[httpx.Response] = []

    @property
    def container(self) -> Container:
        return cast("Container", self.client.app.state.container)

    def as_token(self, token: str, access_token: str = "") -> ApiClient:
        """Return a client for the same app with other credentials (sharing the record)."""
        other = ApiClient(
            self.client, token, access_token, project=self.project, prefix=self.prefix
        )
        other.responses = self.responses
        return other

    def at(self, prefix: str) -> ApiClient:
        """Return a client for the same app under another prefix (sharing the record)."""
        other = ApiClient(
            self.client, self.token, self.access_token, project=self.project, prefix=prefix
        )
        other.responses = self.responses
        return other

    def url(self, path: str) -> str:
        return f"{self.prefix}/{path.lstrip('/')}"

    # -- raw -----------------------------------------------------------------------------

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = self.client.request(method, url, **kwargs)
        self.responses.append(response)
        return response

    # -- reads ---------------------------------------------------------------------------

    def get(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        auth: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        query = dict(params or {})
        if auth:
            query["token"] = self.token
        return self.request("GET", self.url(path), params=query, headers=headers)

    def fetch(self, entry_id: str, **options: str) -> httpx.Response:
        """GET an entry; ``options`` as ``collection="true"`` become ``options[...]``."""
        params = {"id": entry_id, **{f"options[{k}]": v for k, v in options.items()}}
        return self.get("entries", params)

    def collection(self, entry_id: str, depth: str | None = None) -> list[dict[str, Any]]:
        params = {"id": entry_id, "options[collection]": "true"}
        if depth is not None:
            params["options[find][depth]"] = depth
        items: list[dict[str, Any]] = data_of(self.get("entries", params))
        return items

    # -- writes --------------------------------------------------------------------------

    def send(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any],
        *,
        auth: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send ``body`` as JSON, with token and access token added unless ``auth=False``."""
        payload = dict(body)
        if auth:
            payload = {"token": self.token, "access_token": self.access_token, **payload}
        return self.request(
            method,
            self.url(path),
            content=json.dumps(payload).encode(),
            headers={"content-type": "application/json", **(headers or {})},
        )

    def send_form(
        self, method: str, path: str, fields: Mapping[str, str], *, auth: bool = True
    ) -> httpx.Response:
        """Send ``fields`` (bracket keys allowed) as an urlencoded form body."""
        payload = dict(fields)
        if auth:
            payload = {"token": self.token, "access_token": self.access_token, **payload}
        return self.request(
            method,
            self.url(path),
            content=urlencode(payload).encode(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )

    # -- after the test ------------------------------------------------------------------

    def assert_nothing_leaked(self) -> None:
        """No response carried a hash of an access token, a traceback or a path on disk."""
        forbidden = [
            "hashed_access_token",
            "Traceback",
            'File "',
            str(self.project.resolve()),
            str(self.project),
            str(_SRC),
        ]
        for response in self.responses:
            text = response.text
            for needle in forbidden:
                assert needle not in text, f"{needle!r} in {response.request.url}: {text[:300]}"
            for value in response.headers.values():
                assert str(self.project.resolve()) not in value


def data_of(response: httpx.Response, status: int = 200) -> Any:
    """Check a success body ``{"data": ...}`` (optionally with ``meta``); return ``data``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict)
    assert set(body) - {"meta"} == {"data"}, body
    return body["data"]


def is_uuid4(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return uuid.UUID(value).version == 4 and str(uuid.UUID(value)) == value
    except ValueError:
        return False


@contextmanager
def serve(
    project: Project,
    environ: Mapping[str, str] | None = None,
    *,
    container: Container | None = None,
) -> Iterator[ApiClient]:
    """Run the app of ``project`` (or of a prepared ``container``) for one test.

    Every response is checked for leaks when the block ends.
    """
    if container is None:
        container = build_container(project.path, dict(environ or {}))
    with TestClient(create_app(container)) as client:
        api = ApiClient(client, project.token, project.access_token, project=project.path)
        yield api
        api.assert_nothing_leaked()
