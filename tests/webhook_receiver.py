"""A real webhook receiver for tests: a server on 127.0.0.1 that records and answers by script.

Every request is recorded (method, path, headers, body, arrival time) before it is
answered; answers come from a script (status, headers such as ``Retry-After`` or
``Location``, a delay, or an event to wait for), 200 once the script is used up. Tests
wait for the n-th request (``wait_for``) instead of sleeping.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec

__all__ = ["Answer", "Received", "WebhookReceiver"]


@dataclass(frozen=True)
class Received:
    """One request as it arrived."""

    method: str
    path: str
    headers: dict[str, str]
    """Lower-case names."""
    body: bytes
    at: float
    """``time.monotonic()`` when its body was read."""

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


@dataclass(frozen=True)
class Answer:
    """How to answer one request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    """Seconds to wait before answering (a slow receiver)."""
    hold: threading.Event | None = None
    """Answer only once this is set (or the receiver stops)."""
    trickle: float = 0.0
    """Seconds between two bytes of the answer (a receiver that answers a byte at a time)."""


class WebhookReceiver:
    """An HTTP (or, with ``tls``, HTTPS) server on 127.0.0.1, in threads of this process."""

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self._received: list[Received] = []
        self._scripts: dict[str | None, deque[Answer]] = {}
        self._changed = threading.Condition()
        self._stopped = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook", *, host: str = "127.0.0.1") -> str:
        return f"{self._scheme}://{host}:{self.port}{path}"

    def script(self, *answers: Answer | int, path: str | None = None) -> None:
        """Answer the next requests (to ``path``, or to any) with these, in order."""
        with self._changed:
            queue = self._scripts.setdefault(path, deque())
            queue.extend(a if isinstance(a, Answer) else Answer(status=a) for a in answers)

    @property
    def received(self) -> list[Received]:
        with self._changed:
            return list(self._received)

    def wait_for(
        self, count: int, *, path: str | None = None, timeout: float = 15.0
    ) -> list[Received]:
        """Return the first ``count`` requests (to ``path``), waiting until they have arrived.

        Raises:
            AssertionError: fewer arrived within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [r for r in self._received if path is None or r.path == path]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(found)} requests arrived, not {count}: {found}")
                self._changed.wait(left)

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _arrived(self, request: Received) -> Answer:
        with self._changed:
            self._received.append(request)
            self._changed.notify_all()
            for key in (request.path, None):
                queue = self._scripts.get(key)
                if queue:
                    return queue.popleft()
        return Answer()

    def _wait(self, answer: Answer) -> None:
        if answer.delay:
            self._stopped.wait(answer.delay)
        if answer.hold is not None:
            while not answer.hold.wait(0.05) and not self._stopped.is_set():
                pass


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do
        timeout = 10  # an idle kept-alive connection's thread ends

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            request = Received(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                at=time.monotonic(),
            )
            answer = receiver._arrived(request)
            receiver._wait(answer)
            if answer.trickle:
                self._trickle(answer)
                return
            with contextlib.suppress(OSError):
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

        def _trickle(self, answer: Answer) -> None:
            head = [f"HTTP/1.1 {answer.status} Answer"]
            head += [f"{name}: {value}" for name, value in answer.headers.items()]
            head += [f"Content-Length: {len(answer.body)}", "", ""]
            with contextlib.suppress(OSError):
                for byte in "\r\n".join(head).encode() + answer.body:
                    if receiver._stopped.wait(answer.trickle):
                        return
                    self.wfile.write(bytes([byte]))

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
