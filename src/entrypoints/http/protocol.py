"""The HTTP/1.1 connection: uvicorn's httptools protocol, bounded against huge and slow requests.

uvicorn with httptools takes a request head of any size (a single 8 MB header is read
whole) and waits for a slow client for ever: a connection that sends a header line now
and then, or stops in the middle of a body, stays open. ``GuardedHttpToolsProtocol``
adds, per connection:

- a size limit on the request head (request line and headers): past it, 431 in the
  error shape (414 when the URL is most of it), and the connection is closed;
- a deadline for the head: from the connection's opening, or from the first byte of a
  later request on it (the idle time between requests is uvicorn's keep-alive timeout);
  past it, 408 (or a silent close if nothing was sent) and the connection is closed;
- an idle limit inside a body: no byte for that long while the server is reading, 408
  and the connection is closed (the application then sees the client gone).

The limits are the ``server`` settings. ``guarded_protocol(limits)`` is what
``uvicorn.Config(http=...)`` takes.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any, cast

import msgspec
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from flextype_entrypoints.http.errors import error_document
from flextype_entrypoints.settings import ServerSettings

__all__ = ["GuardedHttpToolsProtocol", "guarded_protocol"]

log = logging.getLogger("flextype.http")

_SLICE = 8192
"""A head is fed to the parser in slices of this size, so its size is known to a slice."""
_MAX_URL = 65_535
"""httptools parses no longer URL (its offsets are 16-bit): longer is 414 here, whatever
``max_header_size`` allows, rather than its plain-text 400."""
_LINGER_SECONDS = 2.0
_LINGER_BYTES = 1_048_576
"""After an error answer, what is still read (and dropped) before the connection closes:
closed at once with unread bytes, it would be reset, and the client might lose the
answer (nginx's lingering close)."""


def guarded_protocol(limits: ServerSettings) -> type[asyncio.Protocol]:
    """Return what ``uvicorn.Config(http=...)`` takes to build guarded connections.

    A partial of the class, not a class: picklable for ``--workers`` (the supervisor
    sends its config to each worker), and uvicorn only ever calls it.
    """
    return cast("type[asyncio.Protocol]", partial(GuardedHttpToolsProtocol, limits=limits))


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol within the ``server`` settings (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ServerSettings,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limits = limits
        self._awaiting_head = True
        self._head_bytes = 0
        self._url_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._last_read = 0.0
        self._dropped: int | None = None
        """Bytes dropped since an error answer; None before one."""

    # -- the connection ------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer = self.loop.call_later(self._limits.header_timeout, self._head_late)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._dropped is not None:
            self._dropped += len(data)
            if self._dropped > _LINGER_BYTES:
                self.transport.close()
            return
        self._last_read = self.loop.time()
        while data and self._awaiting_head:
            if self._head_timer is None:  # the first byte of a later request's head
                self._head_timer = self.loop.call_later(
                    self._limits.header_timeout, self._head_late
                )
            piece, data = data[:_SLICE], data[_SLICE:]
            super().data_received(piece)
            if self.transport.is_closing():
                return
            if self._awaiting_head:
                self._head_bytes += len(piece)
                if self._head_bytes > self._limits.max_header_size or self._url_bytes > _MAX_URL:
                    self._refuse_head()
                    return
        if data:
            super().data_received(data)
        self._watch_body()

    # -- parser callbacks ----------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = self._url_bytes = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._url_bytes += len(url)

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._awaiting_head = True
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    # -- the limits ----------------------------------------------------------------

    def _refuse_head(self) -> None:
        limit = self._limits.max_header_size
        if self._url_bytes > _MAX_URL or self._url_bytes * 2 > self._head_bytes:
            most = min(limit, _MAX_URL)
            message = f"The URL is too long: it may take {most} bytes at most."
            self._answer(414, "URITooLong", message)
        else:
            message = f"The request's headers are too large: at most {limit} bytes."
            self._answer(431, "RequestHeaderFieldsTooLarge", message)
        log.warning("refused a request from %s: %s", self._peer(), message)

    def _head_late(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._awaiting_head:
            return
        if self._head_bytes == 0:
            self.transport.close()  # opened and never used: nobody to answer
            return
        timeout = self._limits.header_timeout
        log.warning(
            "closed a connection whose request head took over %gs: %s", timeout, self._peer()
        )
        self._answer(408, "RequestTimeout", f"The request's head took over {timeout:g} s.")

    def _watch_body(self) -> None:
        """Time the body while one is due: armed once, it re-arms itself as bytes come."""
        cycle = self.cycle
        if self._awaiting_head or cycle is None or not cycle.more_body or self._body_timer:
            return
        self._body_timer = self.loop.call_later(self._limits.body_timeout, self._body_late)

    def _body_late(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if self.transport.is_closing() or self._awaiting_head or cycle is None:
            return
        if not cycle.more_body:
            return
        now = self.loop.time()
        if self.flow.read_paused or cycle.waiting_for_100_continue:
            self._last_read = now  # the server is not reading: not the client's delay
        idle = now - self._last_read
        if idle < self._limits.body_timeout:
            self._body_timer = self.loop.call_later(
                self._limits.body_timeout - idle, self._body_late
            )
            return
        # The application sees the client gone (and logs it, one line); no log here.
        cycle.disconnected = True
        cycle.message_event.set()
        if cycle.response_started:
            self.transport.close()
            return
        timeout = self._limits.body_timeout
        self._answer(408, "RequestTimeout", f"The request's body stalled for over {timeout:g} s.")

    def _answer(self, status: int, code: str, message: str) -> None:
        """Send an error in the one shape of the API, then close the connection.

        The connection is closed for writing at once, for reading after what the client
        still sends is dropped (up to a limit, for a short while), or when it closes.
        """
        body = msgspec.json.encode(error_document(code, message))
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content += [name, b": ", value, b"\r\n"]
        content += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
        self.transport.write(b"".join(content))
        self._cancel_timers()
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self._dropped = 0
        self._head_timer = self.loop.call_later(_LINGER_SECONDS, self.transport.close)

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
