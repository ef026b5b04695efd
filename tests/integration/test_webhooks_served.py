"""Webhooks end to end: real ``flextype serve`` processes, real stores, a receiver on 127.0.0.1.

What only whole processes show: a server killed with SIGKILL between a write and its
delivery delivers it after a restart (the feed is the outbox); two servers on one
project or one database send each event once; signatures verify with the
``standardwebhooks`` package; a loopback URL is refused without
``webhooks.allow_private_networks``; and a delivery leaves no foreign log line.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
from standardwebhooks.webhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from flextype_adapters.sqlite_webhooks import DATABASE_FILE, SqliteWebhookStore
from flextype_entrypoints.project import open_project
from tests.feed_support import eventually
from tests.http_client import Project, assert_error, new_project
from tests.integration.postgres_support import copy_settings, new_schema, pg_init
from tests.serve_process import ServeProcess
from tests.webhook_receiver import Answer, Received, WebhookReceiver

TIMEOUT = 30.0
RETRY = 0.3
"""Seconds before each retry here (``webhooks.retry_schedule``), instead of 5 s, 5 min..."""
PRIVATE = {
    "FLEXTYPE_WEBHOOKS__ALLOW_PRIVATE_NETWORKS": "true",
    "FLEXTYPE_WEBHOOKS__RETRY_SCHEDULE": f"[{RETRY}, {RETRY}, {RETRY}]",
}
"""The receiver listens on 127.0.0.1: these servers may deliver there."""


class Api:
    """A client of one server, with the project's token."""

    def __init__(self, server: ServeProcess, project: Project) -> None:
        self.url = server.url
        self.token = project.token
        self.auth = (project.token, project.access_token)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.url + path, auth=self.auth, timeout=TIMEOUT, **kwargs)

    def create_webhook(self, url: str, **more: Any) -> tuple[str, str]:
        """POST a webhook taking every event; return its id and secret."""
        created = self.call("POST", "/api/webhooks", json={"data": {"url": url, "events": ["*"]}})
        assert created.status_code == 200, created.text
        data = created.json()["data"]
        return data["id"], data["secret"]

    def create_entry(self, entry_id: str) -> None:
        answer = self.call("POST", "/api/entries", json={"id": entry_id, "data": {"t": entry_id}})
        assert answer.status_code == 200, answer.text

    def deliveries(self, hook_id: str) -> list[dict[str, Any]]:
        answer = self.call("GET", "/api/webhooks/deliveries", params={"id": hook_id})
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()["data"]
        return found


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as started:
        yield started


def _server(project: Project, log: Path, settings: dict[str, str] = PRIVATE) -> ServeProcess:
    return ServeProcess(project.path, log, settings)


def _verified(secret: str, request: Received) -> dict[str, Any]:
    """The body of ``request`` once its signature checks out with the package's verifier."""
    payload: dict[str, Any] = Verifier(secret).verify(request.body, request.headers)
    return payload


def _position(request: Received) -> int:
    """The change-log position of the change a delivery carries (its cursor's end)."""
    cursor: str = request.json()["data"]["cursor"]
    return int(cursor.rpartition("-")[2])


# -- a server killed between a write and its delivery ------------------------------------------


def test_a_delivery_cut_by_sigkill_is_sent_again_by_the_restarted_server_with_its_webhook_id(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    project = new_project(tmp_path / "site", "yaml", demo=False)
    release = threading.Event()
    receiver.script(Answer(hold=release))  # the first delivery is never answered
    with _server(project, tmp_path / "serve.log") as first:
        api = Api(first, project)
        hook_id, secret = api.create_webhook(receiver.url())
        api.create_entry("movies/dune")
        (cut,) = receiver.wait_for(1, timeout=TIMEOUT)  # it arrived: the server waits on it
        first.kill()
    release.set()
    with _server(project, tmp_path / "serve.log") as second:
        api = Api(second, project)
        _, again = receiver.wait_for(2, timeout=TIMEOUT)
        assert again.headers["webhook-id"] == cut.headers["webhook-id"]
        assert again.body == cut.body
        assert _verified(secret, again)["data"]["id"] == "movies/dune"
        # The 200 is recorded: the delivery log shows one attempt (the cut one never
        # answered, so it was never recorded), and the next change comes next.
        assert eventually(lambda: len(api.deliveries(hook_id)) == 1, within=TIMEOUT)
        (delivered,) = api.deliveries(hook_id)
        assert delivered["status"] == 200
        assert delivered["attempt"] == 1
        assert delivered["message_id"] == cut.headers["webhook-id"]
        assert delivered["cursor"] == cut.json()["data"]["cursor"]
        api.create_entry("movies/alien")
        assert receiver.wait_for(3, timeout=TIMEOUT)[2].json()["data"]["id"] == "movies/alien"
        assert second.stop() == 0
    with open_project(project.path, environ={}) as opened:
        store = opened.container.webhook_store()
        assert store is not None
        assert store.progress(hook_id).position == _position(receiver.received[2])
    assert len(receiver.received) == 3


def test_a_write_answered_just_before_a_sigkill_is_delivered_after_the_restart(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    project = new_project(tmp_path / "site", "yaml", demo=False)
    with _server(project, tmp_path / "serve.log") as first:
        api = Api(first, project)
        hook_id, secret = api.create_webhook(receiver.url())
        # Holding the webhook here (the lock a deliverer takes) keeps this server from
        # making any attempt: the kill comes after the write's answer, before a delivery.
        with _holding(SqliteWebhookStore(project.path / DATABASE_FILE), hook_id):
            api.create_entry("movies/dune")
            first.kill()
        assert receiver.received == []
    with _server(project, tmp_path / "serve.log") as second:
        (request,) = receiver.wait_for(1, timeout=TIMEOUT)
        assert _verified(secret, request)["data"]["id"] == "movies/dune"
        assert request.json()["type"] == "entry.created"
        api = Api(second, project)
        assert eventually(lambda: len(api.deliveries(hook_id)) == 1, within=TIMEOUT)
        assert api.deliveries(hook_id)[0]["status"] == 200


@contextmanager
def _holding(store: SqliteWebhookStore, hook_id: str) -> Iterator[None]:
    """Hold the webhook as a deliverer would, once the server lets go of it (it looks at a
    new webhook once, briefly)."""
    deadline = time.monotonic() + TIMEOUT
    pause = threading.Event()
    while True:
        with store.hold(hook_id) as taken:
            if taken:
                yield
                return
        assert time.monotonic() < deadline, "the server never let go of the webhook"
        pause.wait(0.005)


# -- two servers, each event sent once ---------------------------------------------------------

WRITES = 40


class Pair(NamedTuple):
    """Two servers on one project (yaml) or one database (postgres)."""

    project: Project
    a: ServeProcess
    b: ServeProcess


@contextmanager
def _yaml_pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    project = new_project(tmp_path / "site", "yaml", demo=False)
    with _server(project, tmp_path / "a.log") as a, _server(project, tmp_path / "b.log") as b:
        yield Pair(project, a, b)


@contextmanager
def _postgres_pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    url: str = request.getfixturevalue("postgres_url")
    with new_schema(url) as schema:
        made = pg_init(tmp_path / "seed", url, schema, "--no-demo")
        project = Project(made.path, made.token, made.access_token)
        # Each server has a folder of its own holding only the settings, as two hosts.
        a = copy_settings(made.path, tmp_path / "a")
        b = copy_settings(made.path, tmp_path / "b")
        with (
            ServeProcess(a, tmp_path / "a.log", PRIVATE) as served_a,
            ServeProcess(b, tmp_path / "b.log", PRIVATE) as served_b,
        ):
            yield Pair(project, served_a, served_b)


PAIRS = {"yaml": _yaml_pair, "postgres": _postgres_pair}


@pytest.fixture(params=list(PAIRS))
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    with PAIRS[request.param](request, tmp_path) as made:
        yield made


def test_two_servers_deliver_each_event_once_in_feed_order(
    pair: Pair, receiver: WebhookReceiver
) -> None:
    apis = [Api(pair.a, pair.project), Api(pair.b, pair.project)]
    hook_id, secret = apis[0].create_webhook(receiver.url())
    written = [f"movies/m{n:02}" for n in range(WRITES)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        # Through either server, several at once: both see the log move and race for it.
        list(pool.map(lambda n: apis[n % 2].create_entry(written[n]), range(WRITES)))
    receiver.wait_for(WRITES, timeout=TIMEOUT)
    # Stopped, neither can send any more: what arrived is all that ever will.
    assert pair.a.stop() == 0
    assert pair.b.stop() == 0
    arrived = receiver.received
    assert len({r.headers["webhook-id"] for r in arrived}) == len(arrived) == WRITES
    assert sorted(_verified(secret, r)["data"]["id"] for r in arrived) == written
    positions = [_position(r) for r in arrived]
    assert positions == sorted(positions)
    with open_project(pair.project.path, environ={}) as opened:
        recorded = opened.webhooks.deliveries(hook_id)
    sent = [r.headers["webhook-id"] for r in arrived]
    assert sorted(d.message_id for d in recorded) == sorted(sent)
    assert {(d.attempt, d.status) for d in recorded} == {(1, 200)}


# -- signatures, retries, the guard ------------------------------------------------------------


def test_a_real_servers_deliveries_verify_with_standardwebhooks_and_retry_with_the_same_id(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    project = new_project(tmp_path / "site", "yaml", demo=False)
    receiver.script(500, 200)
    with _server(project, tmp_path / "serve.log") as server:
        api = Api(server, project)
        hook_id, secret = api.create_webhook(receiver.url())
        api.create_entry("movies/dune")
        failed, retried = receiver.wait_for(2, timeout=TIMEOUT)
        assert eventually(lambda: len(api.deliveries(hook_id)) == 2, within=TIMEOUT)
        second, first = api.deliveries(hook_id)
    for request in (failed, retried):
        payload = _verified(secret, request)
        assert payload["type"] == "entry.created"
        assert payload["data"]["id"] == "movies/dune"
        with pytest.raises(WebhookVerificationError):
            Verifier("whsec_" + "A" * 32).verify(request.body, request.headers)
        tampered = request.body.replace(b"movies/dune", b"movies/dunf")
        with pytest.raises(WebhookVerificationError):
            Verifier(secret).verify(tampered, request.headers)
    assert retried.headers["webhook-id"] == failed.headers["webhook-id"]
    assert retried.body == failed.body
    assert retried.at - failed.at >= RETRY * 0.9  # the schedule, less its jitter
    assert (first["attempt"], first["status"], second["attempt"], second["status"]) == (
        1,
        500,
        2,
        200,
    )
    assert first["next_retry_at"] is not None
    assert second["next_retry_at"] is None
    assert first["message_id"] == second["message_id"] == failed.headers["webhook-id"]


def test_a_loopback_url_is_refused_at_create_and_update_without_allow_private_networks(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    project = new_project(tmp_path / "site", "yaml", demo=False)
    with _server(project, tmp_path / "serve.log", {}) as server:
        api = Api(server, project)
        for url in (receiver.url(), receiver.url(host="localhost"), receiver.url(host="[::1]")):
            refused = api.call(
                "POST", "/api/webhooks", json={"data": {"url": url, "events": ["*"]}}
            )
            body = assert_error(refused, 422, "ValidationFailed")
            assert "private" in body["message"] or "loopback" in body["message"], body
        # A public address (no name to resolve) is taken; moving it to loopback is not.
        hook_id, _ = api.create_webhook("http://93.184.215.14/hook")
        moved = api.call(
            "PATCH", "/api/webhooks", json={"id": hook_id, "data": {"url": receiver.url()}}
        )
        assert_error(moved, 422, "ValidationFailed")
        listed = api.call("GET", "/api/webhooks", params={"options[collection]": "true"})
        assert [h["url"] for h in listed.json()["data"]] == ["http://93.184.215.14/hook"]
    assert receiver.received == []


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_delivery_leaves_only_the_servers_own_log_lines_and_never_the_url(
    tmp_path: Path, receiver: WebhookReceiver, workers: str
) -> None:
    # A webhook URL often carries a receiver's key in its query: no log line shows it,
    # and with --log-format json every line stays one JSON object.
    project = new_project(tmp_path / "site", "yaml", demo=False)
    log = tmp_path / "serve.log"
    with ServeProcess(
        project.path, log, PRIVATE, ("--log-format", "json", "--workers", workers)
    ) as server:
        api = Api(server, project)
        hook_id, _ = api.create_webhook(receiver.url("/hook?key=s3cret-key"))
        api.create_entry("movies/dune")
        receiver.wait_for(1, timeout=TIMEOUT)
        assert eventually(lambda: len(api.deliveries(hook_id)) == 1, within=TIMEOUT)
        assert server.stop() == 0
    lines = log.read_text(encoding="utf-8").splitlines()
    assert "s3cret-key" not in "\n".join(lines)
    for line in lines:
        assert isinstance(json.loads(line), dict), line
