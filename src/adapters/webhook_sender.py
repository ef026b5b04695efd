"""WebhookSender over httpx: the guard after DNS, Standard Webhooks signatures, one POST.

Each delivery resolves the URL's host again (``HostResolver``) and refuses it, sending
nothing, when an address is not public (``forbidden_reason``) unless private networks
are allowed; the request then goes to the addresses checked (``PinnedTransport``). The
``webhook-signature`` is made by the ``standardwebhooks`` package, the one receivers
verify with. Redirects are never followed: a 3xx is the attempt's answer.

``webhooks.timeout`` bounds the whole attempt, from the DNS look-up to the answer's last
byte: the look-up runs in a thread of its own (a stuck resolver cannot be interrupted,
only left behind), and the connection keeps to the deadline (``pinned_transport``).
"""

from __future__ import annotations

import ssl
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Final

import httpx
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

import flextype_core
from flextype_adapters.pinned_transport import PinnedTransport, SocketRegistry, deadline
from flextype_core.addresses import forbidden_reason
from flextype_core.delivery import Message, Outcome
from flextype_core.ports import HostResolver

__all__ = ["MAX_ANSWER_BYTES", "USER_AGENT", "HttpWebhookSender"]

USER_AGENT: Final = f"flextype-py/{flextype_core.__version__} (webhooks)"
MAX_ANSWER_BYTES: Final = 64 * 1024
"""A receiver's answer body is read up to this (so the connection can be kept), never kept."""
_CLIENTS: Final = 32
"""Connection pools kept (one per scheme, host, port and set of checked addresses)."""
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_SHUTTING_DOWN: Final = "the server is shutting down"

_Key = tuple[str, str, int, tuple[str, ...]]


class HttpWebhookSender:
    """Signs and POSTs deliveries with httpx, to the addresses the guard checked."""

    def __init__(
        self,
        *,
        resolver: HostResolver,
        allow_private_networks: bool,
        timeout: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """Send with these settings.

        Args:
            resolver: resolves each URL's host, at every delivery.
            allow_private_networks: ``webhooks.allow_private_networks``.
            timeout: ``webhooks.timeout``: seconds an attempt may take in all (resolving
                the host, connecting, sending, and reading the answer).
            ssl_context: what verifies receivers' certificates (default: httpx's, with
                certifi's CAs and ``SSL_CERT_FILE``).
        """
        self._resolver = resolver
        self._allow_private = allow_private_networks
        self._timeout = timeout
        self._ssl = httpx.create_ssl_context() if ssl_context is None else ssl_context
        self._sockets = SocketRegistry()
        self._clients: OrderedDict[_Key, httpx.Client] = OrderedDict()
        self._lock = threading.Lock()
        self._closed = False
        self._lookups: set[_Lookup] = set()

    def send(self, url: str, message: Message) -> Outcome:
        """POST ``message`` to ``url``, signed; the outcome, never an exception for a failure."""
        started = time.monotonic()

        def failed(error: str) -> Outcome:
            return Outcome(error=error, duration_ms=(time.monotonic() - started) * 1000)

        try:
            target = httpx.URL(url)
        except httpx.InvalidURL:
            return failed("the webhook's URL is not a valid URL")
        if target.scheme not in _DEFAULT_PORTS or not target.host:
            return failed("the webhook's URL is not an http or https URL")
        port = target.port or _DEFAULT_PORTS[target.scheme]
        until = started + self._timeout
        addresses = self._resolve(target.host, port, until)
        if isinstance(addresses, str):
            return failed(addresses)
        refusal = self._refusal(target.host, addresses)
        if refusal is not None:
            return failed(refusal)
        try:
            headers = _signed_headers(message)
        except (ValueError, RuntimeError, EmptyWebhookSecretError):
            return failed("the webhook's secret cannot sign (not a whsec_ secret)")
        client = self._client((target.scheme, target.host, port, addresses))
        if client is None:
            return failed(_SHUTTING_DOWN)
        try:
            with (
                deadline(until),
                client.stream(
                    "POST",
                    target,
                    content=message.body,
                    headers=headers,
                    timeout=max(until - time.monotonic(), 0.001),
                ) as answer,
            ):
                _drain(answer)
        except httpx.TimeoutException:
            return failed(f"timeout: no answer within {self._timeout:g} s")
        except httpx.HTTPError as exc:
            return failed(f"connection error: {_reason(exc)}")
        return Outcome(
            status=answer.status_code,
            retry_after=answer.headers.get("retry-after"),
            duration_ms=(time.monotonic() - started) * 1000,
        )

    def close(self) -> None:
        """Cut the requests in flight and close every connection; later sends fail."""
        with self._lock:
            self._closed = True
            clients = list(self._clients.values())
            self._clients.clear()
            lookups = list(self._lookups)
        for lookup in lookups:
            lookup.done.set()  # its sender stops waiting; the look-up is left behind
        self._sockets.cut_all()
        for client in clients:
            client.close()

    def _resolve(self, host: str, port: int, until: float) -> tuple[str, ...] | str:
        """The host's addresses, or why there are none by ``until`` (``time.monotonic``)."""
        lookup = _Lookup(self._resolver, host, port)
        with self._lock:
            closed = self._closed
            if not closed:
                self._lookups.add(lookup)
        if closed:
            return _SHUTTING_DOWN
        try:
            lookup.start()
            answered = lookup.done.wait(max(until - time.monotonic(), 0.0))
        finally:
            with self._lock:
                self._lookups.discard(lookup)
                closed = self._closed
        if closed:
            return _SHUTTING_DOWN
        if not answered:
            return f"timeout: {host} did not resolve within {self._timeout:g} s"
        if lookup.error is not None:
            return f"{host} does not resolve: {_reason(lookup.error)}"
        return lookup.addresses

    def _refusal(self, host: str, addresses: tuple[str, ...]) -> str | None:
        if not addresses:
            return f"{host} resolves to no address"
        if self._allow_private:
            return None
        for address in addresses:
            reason = forbidden_reason(address)
            if reason is not None:
                # The kind, never the address: the log would map the private network.
                return (
                    f"refused: {host} resolves to a {reason} address, not a public one; "
                    "webhooks.allow_private_networks is false"
                )
        return None

    def _client(self, key: _Key) -> httpx.Client | None:
        with self._lock:
            if self._closed:
                return None
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
                return client
            client = httpx.Client(
                transport=PinnedTransport(key[3], ssl_context=self._ssl, sockets=self._sockets),
                timeout=httpx.Timeout(self._timeout),
                follow_redirects=False,
                trust_env=False,
            )
            self._clients[key] = client
            evicted = (
                self._clients.popitem(last=False)[1] if len(self._clients) > _CLIENTS else None
            )
        if evicted is not None:
            evicted.close()
        return client


class _Lookup:
    """One DNS look-up in a daemon thread of its own: waited for up to a deadline, no more.

    ``getaddrinfo`` cannot be interrupted; a look-up that hangs is left to end (or not)
    by itself, holding up neither a delivery thread nor the process's exit.
    """

    def __init__(self, resolver: HostResolver, host: str, port: int) -> None:
        self._resolver = resolver
        self._host = host
        self._port = port
        self.done = threading.Event()
        self.addresses: tuple[str, ...] = ()
        self.error: Exception | None = None

    def start(self) -> None:
        threading.Thread(target=self._run, name="flextype-webhooks-dns", daemon=True).start()

    def _run(self) -> None:
        try:
            self.addresses = tuple(self._resolver.resolve(self._host, self._port))
        except (OSError, UnicodeError) as exc:
            self.error = exc
        finally:
            self.done.set()


def _signed_headers(message: Message) -> dict[str, str]:
    """The Standard Webhooks headers, the signature made by the ``standardwebhooks`` package."""
    now = datetime.now(UTC)
    signature = Webhook(message.secret).sign(message.id, now, message.body)
    return {
        "webhook-id": message.id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def _drain(answer: httpx.Response) -> None:
    """Read the answer's body (up to ``MAX_ANSWER_BYTES``), so its connection can be reused."""
    read = 0
    for chunk in answer.iter_raw():
        read += len(chunk)
        if read >= MAX_ANSWER_BYTES:
            return


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or exc.__class__.__name__
