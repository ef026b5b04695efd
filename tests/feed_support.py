"""For the change feed's HTTP tests: an app over an in-memory change log, served for real.

The logs of the storage drivers are built apart; these tests follow the ``ChangeLog``
port through ``FakeChangeLog``, put into the container as any test puts a fake in.
A test client buffers whole answers, so long polls and event streams are also served
by uvicorn in a thread, on a socket bound first (connections wait in its backlog).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from dependency_injector import providers
from litestar import Litestar

from flextype_core.changes import NewChange
from flextype_entrypoints.container import Container, build_container
from flextype_entrypoints.serve import bind, url_for
from tests.http_client import Project
from tests.unit.feed_fakes import FakeChangeLog

__all__ = ["change", "container_with_log", "eventually", "live"]


def change(change_id: str, op: Any = "update", kind: Any = "entry", **more: Any) -> NewChange:
    """A change as a write appends it (an ETag of its own unless it is a delete)."""
    etag = None if op == "delete" else f'"{op}-{change_id}"'
    return NewChange(op=op, type=kind, id=change_id, etag=etag, **more)


def eventually(check: Callable[[], bool], within: float = 60.0, pause: float = 0.002) -> bool:
    """Poll ``check`` until it holds (True) or ``within`` seconds pass (False).

    What a test waits for is something it observes (a request parked, a purge done),
    never a time it guessed; the bound is generous for a loaded machine.
    """
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(pause)
    return check()


def container_with_log(
    project: Project | Path, log: FakeChangeLog, environ: dict[str, str] | None = None
) -> Container:
    """The project's container with ``log`` as its change log."""
    path = project.path if isinstance(project, Project) else project
    container = build_container(path, environ or {})
    container.change_log.override(providers.Object(log))
    return container


@contextmanager
def live(app: Litestar) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread; yield its URL; stop it at the end.

    uvicorn configures no logging here (the suite's own stays), and a thread takes no
    signals: the end of the block stops it as a signal would (``should_exit``).
    """
    sock = bind("127.0.0.1", 0)
    config = uvicorn.Config(app, lifespan="on", log_config=None, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="live-server", daemon=True
    )
    thread.start()
    try:
        yield url_for("127.0.0.1", sock)
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()
        assert not thread.is_alive(), "the server did not stop"
