"""An httpx transport that connects only to addresses checked beforehand (no second DNS look-up).

The private-network guard resolves a webhook's host and checks every address; if httpx
then resolved the name again, a DNS answer changed in between (rebinding) could send the
request to an address never checked. Here the TCP connection goes to the checked
addresses themselves, while the URL, and so the ``Host`` header, TLS's server name (SNI)
and the certificate's verification, keep the host name.

httpx's timeouts bound each connect, read and write, not a request: a receiver that
answers a byte at a time would hold a delivery for ever. Inside a ``deadline`` block
every one of them is cut to what is left until the deadline, and fails once it passed.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from contextvars import ContextVar

import httpcore
import httpx

__all__ = ["PinnedTransport", "SocketRegistry", "deadline"]

_DEADLINE: ContextVar[float | None] = ContextVar("flextype_webhook_deadline", default=None)
_WRITE_CHUNK = 64 * 1024
"""Bytes written at a time, each write bounded by what is left until the deadline."""


@contextlib.contextmanager
def deadline(at: float) -> Iterator[None]:
    """Bound this thread's connects, reads and writes in the block by ``at`` (``time.monotonic``).

    Past it, they raise httpx's timeouts (``ConnectTimeout``, ``ReadTimeout``...).
    """
    token = _DEADLINE.set(at)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _bounded(timeout: float | None, late: type[Exception]) -> float | None:
    """``timeout`` cut to what is left until the deadline; raise ``late`` once it passed."""
    at = _DEADLINE.get()
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise late("the attempt's deadline passed")
    return left if timeout is None else min(timeout, left)


# httpcore's errors as httpx's, most specific first: httpx.Client users catch httpx's.
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for theirs, ours in _ERRORS:
            if isinstance(exc, theirs):
                raise ours(str(exc) or exc.__class__.__name__) from exc
        raise


class SocketRegistry:
    """The sockets open to receivers, so a shutdown can cut the requests in flight.

    ``shutdown(2)`` wakes a thread blocked reading from the socket at once (closing the
    file descriptor from another thread does not).
    """

    def __init__(self) -> None:
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._closed = False

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            closed = self._closed
            self._sockets.add(sock)
        if closed:
            _cut(sock)

    def cut_all(self) -> None:
        """Shut every open socket down; sockets added later are cut at once."""
        with self._lock:
            self._closed = True
            sockets = list(self._sockets)
        for sock in sockets:
            _cut(sock)


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read, write and TLS handshake keeps to the deadline."""

    def __init__(self, inner: httpcore.NetworkStream, sockets: SocketRegistry) -> None:
        self._inner = inner
        sock = inner.get_extra_info("socket")
        if isinstance(sock, socket.socket):
            # After a TLS handshake this is the TLS socket: the plain one it wrapped was
            # detached, and shutting that down would no longer cut the connection.
            sockets.add(sock)
        self._sockets = sockets

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        for start in range(0, len(buffer), _WRITE_CHUNK):
            chunk = buffer[start : start + _WRITE_CHUNK]
            self._inner.write(chunk, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        secured = self._inner.start_tls(ssl_context, server_hostname, bounded)
        return _DeadlineStream(secured, self._sockets)

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to the checked addresses, in order, whatever host name httpcore asks for."""

    def __init__(self, addresses: tuple[str, ...], sockets: SocketRegistry) -> None:
        self._addresses = addresses
        self._sockets = sockets
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        failure: Exception = httpcore.ConnectError(f"{host} has no address to connect to")
        for address in self._addresses:
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    _bounded(timeout, httpcore.ConnectTimeout),
                    local_address,
                    socket_options or (),
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            return _DeadlineStream(stream, self._sockets)
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("webhooks are not sent over Unix sockets")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _Body(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors():
            stream = self._response.stream
            if isinstance(stream, Iterable):
                yield from stream

    def close(self) -> None:
        self._response.close()


class PinnedTransport(httpx.BaseTransport):
    """Sends each request over connections to ``addresses`` only (kept alive, in a pool)."""

    def __init__(
        self, addresses: tuple[str, ...], *, ssl_context: ssl.SSLContext, sockets: SocketRegistry
    ) -> None:
        """Connect to ``addresses`` (IP literals, tried in order).

        Args:
            addresses: where every connection goes.
            ssl_context: verifies the receiver's certificate (for the URL's host name).
            sockets: where the open sockets are registered (to cut them at shutdown).
        """
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            network_backend=_PinnedBackend(addresses, sockets),
            max_connections=8,
            max_keepalive_connections=2,
            keepalive_expiry=5.0,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.read(),
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = self._pool.handle_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()
