"""What the change feed needs in a server process: a head watcher, the shutdown notice, the purge.

A long poll or an event stream waits for the change log's head to pass its position.
Rather than a thread (or a poll of the log) per waiting request, one ``HeadWatcher`` per
process reads the head every ``POLL_SECONDS``, only while some request waits, and wakes
all those it concerns: a thousand waiting requests cost the same single read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import FrameType
from typing import Literal

from anyio import to_thread
from litestar import Litestar

from flextype_adapters.log_limit import warn_limited
from flextype_core.errors import FlextypeError
from flextype_entrypoints.container import Container

__all__ = [
    "KEEPALIVE_SECONDS",
    "POLL_SECONDS",
    "PURGE_EVERY_SECONDS",
    "FeedHub",
    "HeadWatcher",
    "feed_status",
    "head_cursor",
    "run_feed",
]

POLL_SECONDS = 0.02
"""How often the head is read while requests wait: a change is seen within this of its
commit, in another process too."""
KEEPALIVE_SECONDS = 15.0
"""An event stream idle this long gets a comment line, so proxies keep it open."""
PURGE_EVERY_SECONDS = 3600.0

log = logging.getLogger("flextype.http")


class HeadWatcher:
    """Wakes the requests that wait for the change log's head to pass a position.

    Args:
        read_head: returns the log's head; awaited on the event loop (it runs the read
            in a worker thread, or is an async read of the log).
        interval: seconds between two reads while some request waits.
    """

    def __init__(
        self, read_head: Callable[[], Awaitable[int]], *, interval: float = POLL_SECONDS
    ) -> None:
        self._read_head = read_head
        self.interval = interval
        self._head: int | None = None
        self._waiting = 0
        self._task: asyncio.Task[None] | None = None
        self._changed: asyncio.Event | None = None
        self._closed = False

    @property
    def waiting(self) -> int:
        """How many requests wait now."""
        return self._waiting

    @property
    def polling(self) -> bool:
        """Whether the head is being read (only while some request waits)."""
        return self._task is not None

    @property
    def closed(self) -> bool:
        """The server is stopping: nobody waits any more."""
        return self._closed

    async def wait_past(self, position: int, timeout: float) -> int | None:
        """Wait until the head is past ``position``; return the head seen then.

        None when ``timeout`` seconds passed first, or the server is stopping.
        """
        if timeout <= 0:
            return None  # nobody waits: no reason to start reading the head
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._waiting += 1
        try:
            if self._task is None and not self._closed:
                self._task = loop.create_task(self._poll())
            while not self._closed:
                head = self._head
                if head is not None and head > position:
                    return head
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._event().wait(), remaining)
            return None
        finally:
            self._waiting -= 1

    def close(self) -> None:
        """Wake every waiting request for good (the server stops); call it on the loop."""
        self._closed = True
        self._wake()

    def _event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _wake(self) -> None:
        # A new event for the next round: those woken by this one re-check and wait anew.
        event, self._changed = self._changed, None
        if event is not None:
            event.set()

    async def _poll(self) -> None:
        failed = False
        try:
            while self._waiting and not self._closed:
                try:
                    head = await self._read_head()
                except Exception as exc:
                    # A log out of reach (a database restarting): the waiting requests time
                    # out as usual; one line each time it starts failing, not one a round.
                    if not failed:
                        log.warning("reading the change log's head failed: %s", _why(exc))
                    failed = True
                else:
                    failed = False
                    if head != self._head:
                        self._head = head
                        self._wake()
                await asyncio.sleep(self.interval)
        finally:
            # Nothing waits: forget the head, which may be stale by the next wait.
            self._task = None
            self._head = None


class FeedHub:
    """The feed's per-process parts, kept in ``app.state.feed``.

    Args:
        container: the project's container (the log is looked up on use, so a test's
            override of ``change_log`` holds).
        keepalive: seconds of silence after which an event stream gets a comment line.
    """

    def __init__(self, container: Container, *, keepalive: float = KEEPALIVE_SECONDS) -> None:
        self.keepalive = keepalive
        self.watcher = HeadWatcher(self._read_head)
        self._container = container

    async def _read_head(self) -> int:
        return await to_thread.run_sync(self._container.changes().head)


def head_cursor(container: Container) -> str | None:
    """The change feed's head cursor now; None without a change log or when it cannot be read.

    What only adds the cursor to an answer that stands without it (a listing's
    ``X-Changes-Cursor``) must not fail with the log: a log out of reach costs one
    warning line a minute for the project (``warn_limited``), not the answer.
    """
    try:
        if container.change_log() is None:
            return None
        return container.changes().head_cursor()
    except Exception as exc:
        _unreadable(container, exc)
        return None


def feed_status(container: Container) -> Literal["ok", "unavailable"] | None:
    """Whether the change feed can be read now (for ``/health``); None without a log.

    A read of the log that starts no look for hand edits (``ChangesService.check``):
    a health check polled every few seconds is no reader of the feed.
    """
    try:
        if container.change_log() is None:
            return None
        container.changes().check()
    except Exception as exc:
        _unreadable(container, exc)
        return "unavailable"
    return "ok"


def _unreadable(container: Container, exc: Exception) -> None:
    # One key per project: listings and health checks share one line a minute.
    warn_limited(
        f"feed-head:{container.project()}",
        "The change feed is unavailable (listings go without X-Changes-Cursor, /health "
        "says changes: unavailable): %s",
        _why(exc),
    )


def _why(exc: BaseException) -> str:
    """A failure's reason fit for a log line: a domain message, else only its class."""
    return exc.message if isinstance(exc, FlextypeError) else exc.__class__.__name__


async def _purge_every(container: Container, every: float) -> None:
    """Purge the changes past the retention now, then every ``every`` seconds; never fail."""
    while True:
        try:
            removed = await to_thread.run_sync(container.changes().purge)
            if removed:
                log.info("Purged %d changes older than changes.retention_days.", removed)
        except Exception as exc:
            log.warning("purging old changes failed (retried in an hour): %s", _why(exc))
        await asyncio.sleep(every)


@contextlib.contextmanager
def _on_stop_signals(callback: Callable[[], None]) -> Iterator[None]:
    """Run ``callback`` on the loop at SIGINT or SIGTERM, then the handler that was there.

    The server (uvicorn) waits for responses in flight before it stops the app, and an
    event stream never ends by itself: it must hear of the stop when the server does.
    Only callable handlers are chained (uvicorn's, Python's KeyboardInterrupt); signals
    are only for the main thread, so elsewhere (a test client) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    chained: dict[int, Callable[[int, FrameType | None], object]] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(callback)
        chained[signum](signum, frame)

    for sig in (signal.SIGINT, signal.SIGTERM):
        before = signal.getsignal(sig)
        if callable(before):
            chained[sig] = before
            signal.signal(sig, handler)
    try:
        yield
    finally:
        for signum, previous in chained.items():
            if signal.getsignal(signum) is handler:
                signal.signal(signum, previous)


@contextlib.asynccontextmanager
async def run_feed(
    container: Container,
    hub: FeedHub,
    app: Litestar,
    *,
    purge_every: float = PURGE_EVERY_SECONDS,
) -> AsyncIterator[None]:
    """The app's lifespan part for the feed: the purge in the background, the stop notice.

    Args:
        container: the project's container.
        hub: the app's feed hub: its waiting requests are released at a stop signal
            and at shutdown.
        app: the app (Litestar passes it to lifespan hooks).
        purge_every: seconds between two purges (the first runs at start).
    """
    purge = None
    if container.change_log() is not None:
        purge = asyncio.create_task(_purge_every(container, purge_every))
    try:
        with _on_stop_signals(hub.watcher.close):
            yield
    finally:
        hub.watcher.close()
        if purge is not None:
            purge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purge
