"""The HTTP sender against a real receiver: signatures, the guard after DNS, pinning, redirects."""

from __future__ import annotations

import base64
import os
import ssl
import threading
import time
from collections.abc import Iterator

import pytest
import trustme
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from flextype_adapters.system import SystemResolver
from flextype_adapters.webhook_sender import USER_AGENT, HttpWebhookSender
from flextype_core.delivery import Message, Outcome
from flextype_core.ports import HostResolver
from tests.unit.dispatch_fakes import FakeResolver
from tests.webhook_receiver import Answer, WebhookReceiver

SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
BODY = b'{"type":"entry.updated","timestamp":"2024-01-01T00:00:00Z","data":{"id":"a"}}'


def _message(mid: str = "msg_1") -> Message:
    return Message(id=mid, body=BODY, secret=SECRET)


class Senders:
    """Makes senders, and closes them all at the end of the test (their pooled connections)."""

    def __init__(self) -> None:
        self.made: list[HttpWebhookSender] = []

    def __call__(
        self,
        resolver: HostResolver | None = None,
        *,
        private: bool = True,
        timeout: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> HttpWebhookSender:
        sender = HttpWebhookSender(
            resolver=SystemResolver() if resolver is None else resolver,
            allow_private_networks=private,
            timeout=timeout,
            ssl_context=ssl_context,
        )
        self.made.append(sender)
        return sender


@pytest.fixture
def new_sender() -> Iterator[Senders]:
    senders = Senders()
    yield senders
    for sender in senders.made:
        sender.close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def test_a_delivery_is_a_signed_post_that_the_standardwebhooks_verifier_accepts(
    receiver: WebhookReceiver, new_sender: Senders
) -> None:
    outcome = new_sender().send(receiver.url(), _message("msg_abc"))
    assert outcome.status == 200 and outcome.error is None and outcome.duration_ms > 0
    (request,) = receiver.wait_for(1)
    assert request.method == "POST" and request.path == "/hook" and request.body == BODY
    headers = request.headers
    assert headers["webhook-id"] == "msg_abc"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == USER_AGENT
    assert Webhook(SECRET).verify(request.body, headers) == {
        "type": "entry.updated",
        "timestamp": "2024-01-01T00:00:00Z",
        "data": {"id": "a"},
    }
    other = "whsec_" + base64.b64encode(b"another secret entirely").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(request.body, headers)


def test_a_redirect_is_not_followed_it_is_the_answer(
    receiver: WebhookReceiver, new_sender: Senders
) -> None:
    receiver.script(Answer(status=302, headers={"Location": "/elsewhere"}))
    outcome = new_sender().send(receiver.url(), _message())
    assert outcome.status == 302
    assert receiver.wait_for(1)[0].path == "/hook"
    outcome = new_sender().send(receiver.url(), _message())
    assert [r.path for r in receiver.received] == ["/hook", "/hook"]


def test_the_answers_status_and_retry_after_come_back(
    receiver: WebhookReceiver, new_sender: Senders
) -> None:
    receiver.script(Answer(status=503, headers={"Retry-After": "120"}), 410)
    sender = new_sender()
    first = sender.send(receiver.url(), _message())
    assert (first.status, first.retry_after) == (503, "120")
    assert sender.send(receiver.url(), _message()).status == 410


def test_a_loopback_receiver_is_refused_without_allow_private_networks(
    receiver: WebhookReceiver, new_sender: Senders
) -> None:
    outcome = new_sender(private=False).send(receiver.url(), _message())
    assert outcome.status is None
    assert outcome.error is not None
    assert "resolves to a loopback address" in outcome.error
    assert "webhooks.allow_private_networks" in outcome.error
    assert receiver.received == []


def test_one_private_address_among_public_ones_refuses_the_name(
    receiver: WebhookReceiver, new_sender: Senders
) -> None:
    resolver = FakeResolver({"hooks.test": ["93.184.216.34", "10.1.2.3"]})
    outcome = new_sender(resolver, private=False).send("https://hooks.test/in", _message())
    assert outcome.error is not None
    assert "hooks.test resolves to a private address" in outcome.error
    # The delivery log names the kind, as creating the webhook does, never the internal
    # address: that would map the private network to whoever can read the log.
    assert "10.1.2.3" not in outcome.error and "93.184.216.34" not in outcome.error


def test_the_name_is_resolved_at_every_delivery_and_the_checked_address_is_the_one_used(
    receiver: WebhookReceiver, new_sender: Senders
) -> None:
    # .invalid never resolves through DNS: the request can only reach the receiver by
    # connecting to the address the resolver gave and the guard checked.
    resolver = FakeResolver({"receiver.invalid": ["127.0.0.1"]})
    sender = new_sender(resolver)
    url = receiver.url(host="receiver.invalid")
    assert sender.send(url, _message()).status == 200
    assert sender.send(url, _message()).status == 200
    assert resolver.lookups == {"receiver.invalid": 2}
    assert [r.headers["host"] for r in receiver.wait_for(2)] == [
        f"receiver.invalid:{receiver.port}"
    ] * 2
    refused = new_sender(resolver, private=False).send(url, _message())
    assert refused.error is not None and "loopback" in refused.error
    assert len(receiver.received) == 2


def test_a_name_that_does_not_resolve_is_a_failed_attempt(new_sender: Senders) -> None:
    outcome = new_sender(FakeResolver({})).send("https://nowhere.invalid/in", _message())
    assert outcome.error is not None and "nowhere.invalid does not resolve" in outcome.error


def test_pinned_https_still_verifies_the_certificate_for_the_host_name(new_sender: Senders) -> None:
    ca = trustme.CA()
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("receiver.invalid").configure_cert(served)
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    resolver = FakeResolver({"receiver.invalid": ["127.0.0.1"], "other.invalid": ["127.0.0.1"]})
    with WebhookReceiver(tls=served) as receiver:
        sender = new_sender(resolver, ssl_context=trusting)
        ok = sender.send(receiver.url(host="receiver.invalid"), _message())
        assert ok.status == 200, ok.error
        wrong_name = sender.send(receiver.url(host="other.invalid"), _message())
        assert wrong_name.status is None
        assert wrong_name.error is not None and "connection error" in wrong_name.error
        untrusted = new_sender(resolver).send(receiver.url(host="receiver.invalid"), _message())
        assert untrusted.status is None
        assert len(receiver.received) == 1


def test_no_answer_within_the_timeout_is_a_failed_attempt(
    receiver: WebhookReceiver, new_sender: Senders
) -> None:
    release = threading.Event()
    receiver.script(Answer(hold=release))
    try:
        outcome = new_sender(timeout=0.3).send(receiver.url(), _message())
    finally:
        release.set()
    assert outcome.status is None
    assert outcome.error == "timeout: no answer within 0.3 s"
    assert outcome.duration_ms >= 300


def test_an_answer_trickling_past_the_timeout_is_a_failed_attempt(
    receiver: WebhookReceiver, new_sender: Senders
) -> None:
    # Each byte comes well within the timeout; the whole answer would take 8 s.
    receiver.script(Answer(trickle=0.2))
    started = time.monotonic()
    outcome = new_sender(timeout=0.5).send(receiver.url(), _message())
    took = time.monotonic() - started
    assert outcome.status is None
    assert outcome.error == "timeout: no answer within 0.5 s"
    assert 0.5 <= took < 3.0


def test_the_timeout_bounds_the_whole_attempt_over_https_too(new_sender: Senders) -> None:
    ca = trustme.CA()
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("receiver.invalid").configure_cert(served)
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    resolver = FakeResolver({"receiver.invalid": ["127.0.0.1"]})
    with WebhookReceiver(tls=served) as receiver:
        receiver.script(Answer(trickle=0.2))
        sender = new_sender(resolver, timeout=0.5, ssl_context=trusting)
        started = time.monotonic()
        outcome = sender.send(receiver.url(host="receiver.invalid"), _message())
        assert time.monotonic() - started < 3.0
        assert outcome.error == "timeout: no answer within 0.5 s"
        assert sender.send(receiver.url(host="receiver.invalid"), _message()).status == 200


class StuckResolver:
    """A HostResolver that answers only once released (a resolver that hangs)."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.release = threading.Event()

    def resolve(self, host: str, port: int) -> list[str]:
        self.asked.set()
        self.release.wait(60)
        return ["127.0.0.1"]


def _send_in_thread(sender: HttpWebhookSender, url: str) -> tuple[threading.Thread, list[Outcome]]:
    outcomes: list[Outcome] = []
    thread = threading.Thread(target=lambda: outcomes.append(sender.send(url, _message())))
    thread.start()
    return thread, outcomes


def test_a_resolution_that_takes_longer_than_the_timeout_is_a_failed_attempt(
    new_sender: Senders,
) -> None:
    resolver = StuckResolver()
    try:
        thread, outcomes = _send_in_thread(new_sender(resolver, timeout=0.3), "https://x.test/")
        thread.join(5)
        assert not thread.is_alive()
    finally:
        resolver.release.set()
    (outcome,) = outcomes
    assert outcome.status is None
    assert outcome.error == "timeout: x.test did not resolve within 0.3 s"


def test_close_cuts_a_resolution_in_flight_at_once(new_sender: Senders) -> None:
    resolver = StuckResolver()
    sender = new_sender(resolver, timeout=30)
    try:
        thread, outcomes = _send_in_thread(sender, "https://x.test/")
        assert resolver.asked.wait(15)
        cut = time.monotonic()
        sender.close()
        thread.join(5)
        assert not thread.is_alive() and time.monotonic() - cut < 2
    finally:
        resolver.release.set()
    assert outcomes[0].error == "the server is shutting down"


def test_close_cuts_an_https_request_in_flight_at_once(new_sender: Senders) -> None:
    ca = trustme.CA()
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("receiver.invalid").configure_cert(served)
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    release = threading.Event()
    resolver = FakeResolver({"receiver.invalid": ["127.0.0.1"]})
    with WebhookReceiver(tls=served) as receiver:
        receiver.script(Answer(hold=release))
        sender = new_sender(resolver, timeout=30, ssl_context=trusting)
        try:
            thread, outcomes = _send_in_thread(sender, receiver.url(host="receiver.invalid"))
            receiver.wait_for(1)
            cut = time.monotonic()
            sender.close()
            thread.join(5)
            assert not thread.is_alive() and time.monotonic() - cut < 2
        finally:
            release.set()
    assert outcomes[0].status is None


def test_a_refused_connection_is_a_failed_attempt(
    receiver: WebhookReceiver, new_sender: Senders
) -> None:
    url = receiver.url()
    receiver.stop()
    outcome = new_sender().send(url, _message())
    assert outcome.status is None
    assert outcome.error is not None and outcome.error.startswith("connection error")


@pytest.mark.parametrize("url", ["ftp://hooks.test/x", "not a url at all", "http:///path"])
def test_what_is_not_an_http_url_is_a_failed_attempt(url: str, new_sender: Senders) -> None:
    outcome = new_sender().send(url, _message())
    assert outcome.status is None and outcome.error is not None


def test_a_secret_that_cannot_sign_is_a_failed_attempt(
    receiver: WebhookReceiver, new_sender: Senders
) -> None:
    outcome = new_sender().send(receiver.url(), Message(id="m", body=BODY, secret="whsec_"))
    assert outcome.error is not None and "secret" in outcome.error
    assert receiver.received == []


def test_close_cuts_a_request_in_flight_at_once(
    receiver: WebhookReceiver, new_sender: Senders
) -> None:
    release = threading.Event()
    receiver.script(Answer(hold=release))
    sender = new_sender(timeout=30)
    outcomes: list[Outcome] = []
    thread = threading.Thread(
        target=lambda: outcomes.append(sender.send(receiver.url(), _message()))
    )
    thread.start()
    try:
        receiver.wait_for(1)
        cut = time.monotonic()
        sender.close()
        thread.join(5)
        assert time.monotonic() - cut < 2
    finally:
        release.set()
    assert outcomes[0].status is None
    assert sender.send(receiver.url(), _message()).error == "the server is shutting down"
