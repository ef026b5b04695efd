"""A TCP proxy in front of moto's server that can hold chosen requests: a slow bucket.

``GatedProxy(endpoint, holds=predicate)`` listens on a free port of 127.0.0.1 and
forwards every connection to ``endpoint`` byte for byte. While the gate is closed, a
chunk from a client for which ``holds(chunk)`` is true (say, one carrying
``partNumber=``: an UploadPart) waits before it is forwarded, until ``release()`` or
``max_hold`` seconds (a safety net: a held request then goes on, and ``timed_out``
tells). ``held`` is set when the first request is held: the test waits on it, never on
time. ``connections`` counts the connections open through the proxy now. With
``cuts``, a connection that sent a chunk ``cuts`` picks is cut (both ends closed) once
``cut_after`` bytes of its answers came back: a bucket lost mid-answer.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from types import TracebackType
from urllib.parse import urlsplit

__all__ = ["GatedProxy", "upload_part"]


def upload_part(chunk: bytes) -> bool:
    """Whether ``chunk`` begins an S3 UploadPart request."""
    return chunk.startswith(b"PUT ") and b"partNumber=" in chunk.split(b"\r\n", 1)[0]


class GatedProxy:
    """A proxy to ``endpoint`` holding what ``holds`` picks while the gate is closed."""

    def __init__(
        self,
        endpoint: str,
        *,
        holds: Callable[[bytes], bool] = lambda chunk: False,
        max_hold: float = 8.0,
        cuts: Callable[[bytes], bool] = lambda chunk: False,
        cut_after: int = 0,
    ) -> None:
        target = urlsplit(endpoint)
        assert target.hostname is not None and target.port is not None
        self._target = (target.hostname, target.port)
        self._holds = holds
        self._max_hold = max_hold
        self._cuts = cuts
        self._cut_after = cut_after
        self.cut = threading.Event()
        self._open = threading.Event()
        self.held = threading.Event()
        self.timed_out = False
        self._count = 0
        self._count_lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._threads: list[threading.Thread] = []
        self._pairs: list[list[socket.socket]] = []
        self._last: dict[int, bytes] = {}  # id of a connection's ends -> its last request
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    @property
    def connections(self) -> int:
        with self._count_lock:
            return self._count

    def carrying(self, request: Callable[[bytes], bool]) -> int:
        """How many open connections last carried a request whose first line ``request`` picks."""
        with self._count_lock:
            return sum(1 for ends in self._pairs if ends and request(self._last.get(id(ends), b"")))

    def release(self) -> None:
        """Open the gate: held requests go on, and no further one is held."""
        self._open.set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            upstream = socket.create_connection(self._target)
            with self._count_lock:
                self._count += 1
            ends = [client, upstream]
            self._pairs.append(ends)
            doomed = threading.Event()
            out = threading.Thread(
                target=self._pump, args=(client, upstream, True, ends, doomed), daemon=True
            )
            back = threading.Thread(
                target=self._pump, args=(upstream, client, False, ends, doomed), daemon=True
            )
            self._threads += [out, back]
            out.start()
            back.start()

    def _pump(
        self,
        source: socket.socket,
        sink: socket.socket,
        gated: bool,
        ends: list[socket.socket],
        doomed: threading.Event,
    ) -> None:
        answered = 0
        try:
            while chunk := source.recv(65536):
                if gated and chunk[:1].isalpha():  # a request line (bodies here are not)
                    with self._count_lock:
                        self._last[id(ends)] = chunk.split(b"\r\n", 1)[0]
                if gated and self._cuts(chunk):
                    doomed.set()
                if gated and not self._open.is_set() and self._holds(chunk):
                    self.held.set()
                    if not self._open.wait(self._max_hold):
                        self.timed_out = True
                if not gated and doomed.is_set():
                    chunk = chunk[: self._cut_after - answered]
                    answered += len(chunk)
                    if answered >= self._cut_after:
                        sink.sendall(chunk)
                        self.cut.set()
                        return
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            self._close(ends)

    def _close(self, ends: list[socket.socket]) -> None:
        with self._count_lock:
            if not ends:
                return
            self._count -= 1
            sockets = list(ends)
            ends.clear()
        for end in sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self.release()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
        self._listener.close()
        self._accepting.join(timeout=30)
        for ends in self._pairs:
            self._close(ends)
        for thread in self._threads:
            thread.join(timeout=30)

    def __enter__(self) -> GatedProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
