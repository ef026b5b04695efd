"""The app ``flextype serve`` runs delivers webhooks while it serves, and stops doing so with it."""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path

from dependency_injector import providers
from litestar.testing import TestClient

from flextype_core.changes import NewChange
from flextype_core.webhook_port import Progress, Webhook
from flextype_entrypoints.container import Container, build_container
from flextype_entrypoints.http.app import create_app
from flextype_entrypoints.scaffold import create_project
from tests.unit.feed_fakes import FakeChangeLog, FakeWebhookStore
from tests.webhook_receiver import WebhookReceiver

SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()


def _delivering() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("flextype-webhooks")]


def _container(tmp_path: Path) -> Container:
    project = tmp_path / "p"
    create_project(project, driver="yaml")
    return build_container(project, {"FLEXTYPE_WEBHOOKS__ALLOW_PRIVATE_NETWORKS": "true"})


def test_the_served_app_delivers_while_it_serves_and_stops_with_it(tmp_path: Path) -> None:
    container = _container(tmp_path)
    log, store = FakeChangeLog(), FakeWebhookStore()
    container.change_log.override(log)
    container.webhook_store.override(store)
    with WebhookReceiver() as receiver:
        hook = Webhook(id="w1", url=receiver.url(), events=["*"], created_at=0, modified_at=0)
        store.create(hook, SECRET, Progress(position=0))
        with TestClient(create_app(container, deliver_webhooks=True)) as client:
            assert client.get("/health").status_code == 200
            log.append([NewChange(op="create", type="entry", id="movies/dune", etag='"e"')])
            (request,) = receiver.wait_for(1)
            assert request.json()["data"]["id"] == "movies/dune"
            assert len(_delivering()) > 1
        assert _delivering() == []


def test_an_app_not_built_for_serve_delivers_nothing(tmp_path: Path) -> None:
    container = _container(tmp_path)
    container.change_log.override(FakeChangeLog())
    container.webhook_store.override(FakeWebhookStore())
    with TestClient(create_app(container)) as client:
        assert client.get("/health").status_code == 200
        assert _delivering() == []


def test_without_a_change_log_serve_runs_no_deliveries(tmp_path: Path) -> None:
    container = _container(tmp_path)
    container.change_log.override(providers.Object(None))  # every driver has one now
    with TestClient(create_app(container, deliver_webhooks=True)) as client:
        assert client.get("/health").status_code == 200
        assert _delivering() == []
