"""``flextype serve``: bind a socket, announce its URL and run the API under uvicorn."""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path
from types import FrameType
from typing import TextIO

import msgspec
import uvicorn
from litestar.types import ASGIApp
from uvicorn.supervisors import Multiprocess

from flextype_adapters.folder_swap import recover_swaps
from flextype_adapters.heap import settle_heap
from flextype_core.errors import FlextypeError
from flextype_entrypoints.container import Container, build_container
from flextype_entrypoints.database import database_kinds, require_current_schema, uses_database
from flextype_entrypoints.driver_check import driver_mismatch
from flextype_entrypoints.http.access_log import AccessLog, create_logged_app
from flextype_entrypoints.http.app import create_app
from flextype_entrypoints.http.protocol import guarded_protocol
from flextype_entrypoints.logs import LogFormat, configure_logging, json_line, log_config
from flextype_entrypoints.project import bucket_sweeps, remove_debris, require_project
from flextype_entrypoints.settings import ServerSettings

__all__ = [
    "GRACEFUL_SHUTDOWN_SECONDS",
    "ServeError",
    "bind",
    "logged_worker_app",
    "make_server",
    "serve",
    "url_for",
    "worker_app",
]

GRACEFUL_SHUTDOWN_SECONDS = 10
"""How long a stop signal waits for requests in flight before cancelling them."""

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_BIND_HINTS = {
    errno.EADDRINUSE: "another program listens there: stop it, or choose another port with "
    "--port (--port 0 picks a free one)",
    errno.EACCES: "ports below 1024 need privileges: choose another with --port",
    errno.EADDRNOTAVAIL: "this machine has no such address: check --host",
}

log = logging.getLogger("flextype.serve")


class ServeError(Exception):
    """The server cannot start, or did not stop cleanly; the message says why."""


def bind(host: str, port: int) -> socket.socket:
    """Return a listening TCP socket on ``host``:``port`` (port 0: a free port).

    Raises:
        ServeError: the host does not resolve, or the address cannot be bound.
    """
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family = found[0][0]
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        reason = exc.strerror or str(exc) or exc.__class__.__name__
        if isinstance(exc, socket.gaierror):
            hint = "check --host"
        else:
            hint = _BIND_HINTS.get(exc.errno or 0, "")
        reason += f"; {hint}" if hint else ""
        raise ServeError(f"cannot listen on {host}:{port}: {reason}") from exc


def url_for(host: str, sock: socket.socket) -> str:
    """Return ``http://HOST:PORT`` for a socket bound on ``host`` (IPv6 in brackets)."""
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def serve(
    project: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    access_log: bool = False,
    log_format: LogFormat = "text",
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
) -> None:
    """Serve the project's REST API until SIGINT or SIGTERM, then shut the app down.

    The socket is bound here, before the server starts, so that ``port=0`` picks a free
    port and the first line written to ``out`` (stdout by default) is the real URL:
    ``Serving on http://HOST:PORT`` (with ``log_format="json"``, a JSON object with that
    message and ``url``). Log lines follow (``logs.py``: request lines, with
    ``access_log``, on stdout; the others on stderr). Connections made after it wait in the
    socket's backlog until the server accepts them. Each server process also delivers the
    change feed to webhooks while it serves (``webhook_worker.py``). A stop signal lets
    requests in flight finish (up to ``GRACEFUL_SHUTDOWN_SECONDS``), then runs the app's
    shutdown, which stops the deliveries and writes the pending token call counts; the
    function then returns normally.

    Raises:
        SettingsError: ``project`` holds no project (``NoProjectError``), or a setting is
            unknown or wrong.
        DatabaseError: (postgres) the database does not answer, or its schema is not
            this version's (the message names ``flextype db migrate``).
        ServeError: ``workers`` is below 1, the address cannot be bound, or the app's
            shutdown failed (token call counts may not have been written).
    """
    if workers < 1:
        raise ServeError("--workers must be 1 or more")
    configure_logging(log_format, access_log=access_log)
    require_project(project)
    # Before the settings are read: an import or migration killed in its swap may have
    # written new settings that its recovery puts back.
    recovered = recover_swaps(project)
    container = build_container(project, os.environ if environ is None else environ)
    try:
        _check_storage(container, project)
        # The bucket's stores are swept once the server serves (_sweep_bucket).
        removed = recovered + remove_debris(container, bucket=False)
        if removed:
            log.info("Removed %d leftovers of interrupted writes.", removed)
        limits = _limits(container)
    except BaseException:
        container.shutdown_resources()
        raise
    if workers > 1:
        # The settings are valid; each worker opens its own resources, and the bucket's
        # sweep here lets go of this process's once it is done.
        _sweep_bucket(container, then=container.shutdown_resources)
        _serve_workers(
            project,
            host,
            port,
            workers,
            log_format=log_format,
            access_log=access_log,
            out=out,
            limits=limits,
        )
        return
    try:
        app = create_app(container, deliver_webhooks=True)
        with closing(bind(host, port)) as sock:
            server = make_server(app, access_log=access_log, log_format=log_format, limits=limits)
            # Handlers first: a signal sent as soon as the URL is read must stop us cleanly.
            with _stop_signals(server):
                _announce(url_for(host, sock), log_format, out)
                _sweep_bucket(container)
                # The startup objects out of full collections (decision 108): under load
                # they held the loop for tens of ms about once a second.
                settle_heap()
                server.run(sockets=[sock])
        # A second Ctrl+C makes uvicorn skip the app's shutdown: write the counts anyway.
        container.tokens().flush()
    finally:
        container.shutdown_resources()
    if getattr(getattr(server, "lifespan", None), "shutdown_failed", False):
        raise ServeError("the app's shutdown failed (see above); token call counts may be lost")


def _check_storage(container: Container, project: Path) -> None:
    """Refuse a database that does not answer or has another schema; warn of a mismatch."""
    require_current_schema(container, project)
    if uses_database(container):
        created = container.postgres_database().ensure_field_indexes()
        if created:
            log.info("Created %d field indexes (storage.postgres.indexes).", created)
    selected = database_kinds(container) if uses_database(container) else None
    warning = driver_mismatch(project, container.config.storage.driver(), selected)
    if warning is not None:
        log.warning(warning)


def _sweep_bucket(container: Container, *, then: Callable[[], object] | None = None) -> None:
    """Remove the leftovers of interrupted writes in the bucket, in a thread of its own.

    Started once the server is announced: listing a bucket and reading its records is a
    request per file, and a bucket that does not answer must not keep the API from
    serving (its media requests answer 503 until it does). A failure is one warning
    line, without its cause (which may name the endpoint). ``then`` runs at the end.
    """
    sweeps = bucket_sweeps(container)

    def sweep() -> None:
        try:
            removed = 0
            for one in sweeps:
                removed += one()
            if removed:
                log.info("Removed %d leftovers of interrupted writes in the bucket.", removed)
        except FlextypeError as exc:
            log.warning("Leftovers of interrupted writes were not removed: %s", exc.message)
        finally:
            if then is not None:
                then()

    if not sweeps:
        if then is not None:
            then()
        return
    threading.Thread(target=sweep, name="flextype-bucket-sweep", daemon=True).start()


def _announce(url: str, log_format: LogFormat, out: TextIO | None) -> None:
    """Write the server's URL and its docs' URL, the first output of ``serve``."""
    stream = sys.stdout if out is None else out
    if log_format == "json":
        docs = f"{url}/docs"
        stream.write(json_line("info", log.name, f"Serving on {url}", url=url, docs=docs) + "\n")
    else:
        stream.write(f"Serving on {url}\nAPI docs: {url}/docs\n")
    stream.flush()


def _limits(container: Container) -> ServerSettings:
    return msgspec.convert(container.config.server(), ServerSettings)


def _serve_workers(
    project: Path,
    host: str,
    port: int,
    workers: int,
    *,
    log_format: LogFormat,
    access_log: bool,
    out: TextIO | None,
    limits: ServerSettings,
) -> None:
    """Run ``workers`` processes on one socket, each with its own app over the project.

    The workers share the project through the file system only: writes are serialised
    by file locks, the YAML index follows other workers' writes through its journal, and
    each worker adds its token call counts to the stored ones when it flushes.
    """
    os.environ["FLEXTYPE_PROJECT"] = str(project.resolve())
    # Each worker imports its app, and applies log_config before it does.
    factory = "logged_worker_app" if access_log else "worker_app"
    config = uvicorn.Config(
        f"flextype_entrypoints.serve:{factory}",
        factory=True,
        workers=workers,
        lifespan="on",
        log_level="warning",
        log_config=log_config(log_format, access_log=access_log),
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        http=guarded_protocol(limits),
    )
    with closing(bind(host, port)) as sock:
        _announce(url_for(host, sock), log_format, out)
        Multiprocess(config, sockets=[sock]).run()


def worker_app() -> ASGIApp:
    """``create_app`` with the heap settled (the factory of ``--workers``)."""
    app = create_app(deliver_webhooks=True)
    settle_heap()
    return app


def logged_worker_app() -> ASGIApp:
    """``worker_app`` with the access log."""
    app = create_logged_app(deliver_webhooks=True)
    settle_heap()
    return app


def make_server(
    app: ASGIApp,
    *,
    access_log: bool = False,
    log_format: LogFormat = "text",
    limits: ServerSettings | None = None,
) -> uvicorn.Server:
    """Return the uvicorn server ``serve`` runs ``app`` with (the benchmark uses it too).

    Args:
        app: the ASGI app.
        access_log: log one line per request (``http/access_log.py``).
        log_format: ``text`` or ``json`` (one object per line) for every log line.
        limits: what each connection keeps to (the ``server`` settings; by default theirs).
    """
    return uvicorn.Server(
        uvicorn.Config(
            AccessLog(app) if access_log else app,
            lifespan="on",
            log_level="warning",
            log_config=log_config(log_format, access_log=access_log),
            access_log=False,  # ours, above: uvicorn's shows the query's secrets
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            http=guarded_protocol(ServerSettings() if limits is None else limits),
        )
    )


@contextmanager
def _stop_signals(server: uvicorn.Server) -> Iterator[None]:
    """Make SIGINT and SIGTERM stop ``server``, before and after uvicorn's own handlers.

    uvicorn installs its handlers only once it runs, and after a graceful stop it raises
    the signal again under the handlers it found, which by default would end the process
    with the signal (SIGTERM) or a KeyboardInterrupt (SIGINT) instead of exit code 0.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
