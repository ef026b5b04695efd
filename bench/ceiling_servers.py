"""The servers of ``bench/read_ceiling.py``: any server run with its stderr kept, and the bare app.

The bare app is one Litestar app under the same uvicorn settings as ``flextype serve``
(``serve.make_server``) with a route ``/bare/<key>`` per target answering fixed bytes
with a content type and headers, read from a manifest (``write_manifest``):

    .venv/bin/python bench/ceiling_servers.py MANIFEST
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import http_get_entry as harness
from litestar import Litestar, Response, get
from litestar.handlers import HTTPRouteHandler

from flextype_entrypoints.serve import bind, make_server, url_for

__all__ = ["BareRoute", "Served", "SettingRefusedError", "serve_bare", "serving", "write_manifest"]


@dataclass(frozen=True)
class Served:
    """A running server: where it answers, and its process (for its CPU time)."""

    url: str
    pid: int


class SettingRefusedError(Exception):
    """The server stopped at start, naming the setting it was asked to spot on stderr."""


@contextmanager
def serving(argv: Sequence[str], errors: Path, setting: str = "") -> Iterator[Served]:
    """Run a server (stderr to ``errors``) that prints ``Serving on URL``; yield it.

    Its ``FLEXTYPE_*`` variables are dropped (the project's file alone decides); it is
    sent SIGTERM on leaving.

    Raises:
        SettingRefusedError: it stopped before serving, naming ``setting`` on stderr.
        RuntimeError: it stopped or stayed silent for another reason.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEXTYPE_")}
    # stderr to a file, not a pipe: a pipe nobody reads would stop a talkative server.
    with (
        errors.open("w") as stderr,
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env) as proc,  # noqa: S603
    ):
        try:
            assert proc.stdout is not None
            url, line = harness.announced(proc.stdout, 60)
            if url is None:
                proc.wait(30)
                said = errors.read_text()
                if setting and setting in said:
                    raise SettingRefusedError(said.strip())
                raise RuntimeError(f"server did not announce itself: {line!r}\n{said}")
            # taskset execs the server: this process is the server's.
            yield Served(url, proc.pid)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(30)


@dataclass(frozen=True)
class BareRoute:
    """What the bare route ``/bare/<key>`` answers."""

    body: bytes
    content_type: str
    headers: Mapping[str, str]


def write_manifest(folder: Path, routes: Mapping[str, BareRoute]) -> Path:
    """Write the bodies and a manifest of ``routes`` into ``folder``; return the manifest."""
    manifest: dict[str, dict[str, object]] = {}
    for key, route in routes.items():
        body = folder / f"{key}.body"
        body.write_bytes(route.body)
        manifest[key] = {
            "body": str(body),
            "content_type": route.content_type,
            "headers": dict(route.headers),
        }
    path = folder / "bare.json"
    path.write_text(json.dumps(manifest))
    return path


def _handler(key: str, body: bytes, media_type: str, headers: dict[str, str]) -> HTTPRouteHandler:
    @get(f"/bare/{key}", sync_to_thread=False, name=key)
    def answer() -> Response[bytes]:
        return Response(content=body, media_type=media_type, headers=headers)

    return answer


def serve_bare(manifest: Path) -> None:
    """Serve each route of ``manifest`` on a free port, printing ``Serving on URL`` first."""
    routes = json.loads(manifest.read_text())
    handlers = [
        _handler(key, Path(route["body"]).read_bytes(), route["content_type"], route["headers"])
        for key, route in routes.items()
    ]
    server = make_server(Litestar(route_handlers=handlers))
    with bind("127.0.0.1", 0) as sock:
        sys.stdout.write(f"Serving on {url_for('127.0.0.1', sock)}\n")
        sys.stdout.flush()
        server.run(sockets=[sock])


if __name__ == "__main__":
    serve_bare(Path(sys.argv[1]))
