"""The Webhooks API over HTTP, on the file drivers, with the real resolver and a fake feed.

The change log is ``FakeChangeLog`` (the file drivers' log is another branch's work):
the API reads only its epoch, floor and head.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dependency_injector import providers
from litestar.testing import TestClient
from psycopg import sql

from flextype_core.changes import NewChange, format_cursor
from flextype_entrypoints.container import build_container
from flextype_entrypoints.http.access_log import AccessLog
from flextype_entrypoints.http.app import create_app
from tests.http_client import PREFIXES, ApiClient, Project, assert_error, data_of, serve
from tests.integration.postgres_support import new_schema, pg_init
from tests.unit.feed_fakes import FakeChangeLog

PUBLIC_URL = "https://93.184.216.34/hooks/cms"  # an IP literal: resolves without DNS


@pytest.fixture
def with_demo() -> bool:
    return False


@contextmanager
def _served(
    project: Project, feed: FakeChangeLog, environ: dict[str, str] | None = None
) -> Iterator[ApiClient]:
    container = build_container(project.path, environ or {})
    container.change_log.override(providers.Object(feed))
    with serve(project, container=container) as api:
        yield api


@pytest.fixture
def feed() -> FakeChangeLog:
    return FakeChangeLog()


@pytest.fixture
def api(project: Project, feed: FakeChangeLog) -> Iterator[ApiClient]:
    with _served(project, feed) as served:
        yield served


@pytest.fixture
def allowing(project: Project, feed: FakeChangeLog) -> Iterator[ApiClient]:
    with _served(project, feed, {"FLEXTYPE_WEBHOOKS__ALLOW_PRIVATE_NETWORKS": "true"}) as served:
        yield served


def _create(api: ApiClient, **data: Any) -> dict[str, Any]:
    fields = {"url": PUBLIC_URL, "events": ["entry.created", "entry.updated"], **data}
    created: dict[str, Any] = data_of(api.send("POST", "webhooks", {"data": fields}))
    return created


def _listed(api: ApiClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = data_of(api.get("webhooks", {"options[collection]": "true"}))
    return found


def test_create_answers_the_secret_once_and_no_read_ever_does(api: ApiClient) -> None:
    created = _create(api, title="Site build", id_prefix="movies")
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 24
    assert created["url"] == PUBLIC_URL
    assert created["events"] == ["entry.created", "entry.updated"]
    assert (created["id_prefix"], created["title"], created["state"]) == (
        "movies",
        "Site build",
        "enabled",
    )
    fetched = api.get("webhooks", {"id": created["id"]})
    assert data_of(fetched) == {k: v for k, v in created.items() if k != "secret"}
    assert fetched.headers["etag"]
    patched = api.send("PATCH", "webhooks", {"id": created["id"], "data": {"title": "x"}})
    deliveries = api.get("webhooks/deliveries", {"id": created["id"]})
    assert data_of(deliveries) == []
    for response in (fetched, api.get("webhooks", {"options[collection]": "true"}), patched):
        assert secret not in response.text
        assert "secret" not in response.text
    assert secret not in deliveries.text


def test_every_prefix_serves_the_same_webhooks(api: ApiClient) -> None:
    created = _create(api.at("/api/v0"))
    for prefix in PREFIXES:
        assert data_of(api.at(prefix).get("webhooks", {"id": created["id"]}))["id"] == created["id"]


def test_a_list_holds_every_webhook_oldest_first_with_its_total(api: ApiClient) -> None:
    made = [_create(api), _create(api, events=["*"])]
    body = api.get("webhooks", {"options[collection]": "true"}).json()
    oldest_first = sorted(made, key=lambda h: (h["created_at"], h["id"]))
    assert [h["id"] for h in body["data"]] == [h["id"] for h in oldest_first]
    assert body["meta"]["total"] == 2


def test_a_form_body_creates_a_webhook_too(api: ApiClient) -> None:
    response = api.send_form(
        "POST",
        "webhooks",
        {"data[url]": PUBLIC_URL, "data[events][]": "media.deleted", "data[title]": "Form"},
    )
    assert data_of(response)["events"] == ["media.deleted"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"url": "not a url", "events": ["*"]}, "data.url"),
        ({"url": "ftp://93.184.216.34/in", "events": ["*"]}, "data.url"),
        ({"url": "https://user:secret@93.184.216.34/", "events": ["*"]}, "data.url"),
        ({"url": PUBLIC_URL, "events": ["entry.published"]}, "data.events"),
        ({"url": PUBLIC_URL, "events": []}, "data.events"),
        ({"url": PUBLIC_URL, "events": ["*"], "id_prefix": "../etc"}, "data.id_prefix"),
        ({"url": PUBLIC_URL, "events": ["*"], "state": "failing"}, "data.state"),
        ({"url": PUBLIC_URL}, "data.events"),
        ({"url": "https://nowhere.invalid/hook", "events": ["*"]}, "data.url"),
        ({"url": "http://127.0.0.1:9000/hook", "events": ["*"]}, "data.url"),
        ({"url": "http://localhost/hook", "events": ["*"]}, "data.url"),
        ({"url": "http://[::1]/hook", "events": ["*"]}, "data.url"),
        ({"url": "http://169.254.169.254/latest", "events": ["*"]}, "data.url"),
    ],
)
def test_invalid_webhooks_are_422_naming_the_field_and_nothing_is_kept(
    api: ApiClient, data: dict[str, Any], field: str
) -> None:
    body = assert_error(api.send("POST", "webhooks", {"data": data}), 422, "ValidationFailed")
    assert field in body["details"]
    assert _listed(api) == []


def test_a_refused_url_is_not_repeated_in_the_answer(api: ApiClient) -> None:
    data = {"url": "https://user:hunter2@93.184.216.34/", "events": ["*"]}
    response = api.send("POST", "webhooks", {"data": data})
    assert_error(response, 422, "ValidationFailed")
    assert "hunter2" not in response.text


def test_a_body_without_data_is_400(api: ApiClient) -> None:
    assert_error(api.send("POST", "webhooks", {}), 400, "BadRequest")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9000/hook", "http://localhost/hook", "http://10.0.0.5/"]
)
def test_private_addresses_are_allowed_by_the_setting(allowing: ApiClient, url: str) -> None:
    assert _create(allowing, url=url)["url"] == url


def test_the_setting_does_not_let_in_a_name_that_does_not_resolve(allowing: ApiClient) -> None:
    data = {"url": "https://nowhere.invalid/hook", "events": ["*"]}
    assert_error(allowing.send("POST", "webhooks", {"data": data}), 422, "ValidationFailed")


def test_an_unknown_webhook_is_404_and_a_malformed_id_400(api: ApiClient) -> None:
    missing = "0" * 32
    assert_error(api.get("webhooks", {"id": missing}), 404, "NotFound")
    assert_error(api.get("webhooks/deliveries", {"id": missing}), 404, "NotFound")
    assert_error(
        api.send("PATCH", "webhooks", {"id": missing, "data": {"title": "x"}}), 404, "NotFound"
    )
    assert_error(api.send("DELETE", "webhooks", {"id": missing}), 404, "NotFound")
    assert_error(
        api.send("POST", "webhooks/replay", {"id": missing, "since": "now"}), 404, "NotFound"
    )
    assert_error(api.get("webhooks", {"id": "../../tokens"}), 400, "BadRequest")
    assert_error(api.get("webhooks", {}), 400, "BadRequest")


def test_patch_changes_the_fields_given_and_answers_the_etag_of_a_get(api: ApiClient) -> None:
    created = _create(api)
    response = api.send(
        "PATCH",
        "webhooks",
        {"id": created["id"], "data": {"events": ["*"], "state": "disabled", "id_prefix": None}},
    )
    patched = data_of(response)
    assert (patched["events"], patched["state"], patched["url"]) == (["*"], "disabled", PUBLIC_URL)
    fetched = api.get("webhooks", {"id": created["id"]})
    assert data_of(fetched) == patched
    assert response.headers["etag"] == fetched.headers["etag"]


def test_patch_checks_a_new_url_and_refuses_failing(api: ApiClient) -> None:
    created = _create(api)
    refused: list[dict[str, Any]] = [
        {"url": "http://127.0.0.1/"},
        {"state": "failing"},
        {"events": []},
    ]
    for data in refused:
        assert_error(
            api.send("PATCH", "webhooks", {"id": created["id"], "data": data}),
            422,
            "ValidationFailed",
        )
    assert data_of(api.get("webhooks", {"id": created["id"]})) == {
        k: v for k, v in created.items() if k != "secret"
    }


def test_delete_is_204_and_the_webhook_is_gone(api: ApiClient) -> None:
    created = _create(api)
    response = api.send("DELETE", "webhooks", {"id": created["id"]})
    assert response.status_code == 204
    assert response.content == b""
    assert_error(api.get("webhooks", {"id": created["id"]}), 404, "NotFound")


def test_replay_accepts_a_cursor_of_the_feed_and_now(api: ApiClient, feed: FakeChangeLog) -> None:
    feed.append([NewChange(op="create", type="entry", id=f"e{n}") for n in range(3)])
    created = _create(api)
    cursor = format_cursor(feed.epoch(), 1)
    for since in (cursor, "now"):
        response = api.send("POST", "webhooks/replay", {"id": created["id"], "since": since})
        assert data_of(response)["id"] == created["id"]
        assert "secret" not in response.text
    store = api.container.webhook_store()
    assert store.progress(created["id"]).position == 3


def test_replay_refuses_a_bad_cursor_400_and_a_foreign_or_purged_one_410(
    api: ApiClient, feed: FakeChangeLog
) -> None:
    feed.append([NewChange(op="create", type="entry", id="e")])
    created = _create(api)
    body = {"id": created["id"], "since": "garbage"}
    assert_error(api.send("POST", "webhooks/replay", body), 400, "BadRequest")
    ahead = {"id": created["id"], "since": format_cursor(feed.epoch(), 99)}
    assert_error(api.send("POST", "webhooks/replay", ahead), 410, "ResyncRequired")
    foreign = {"id": created["id"], "since": format_cursor("anotherlog", 1)}
    assert_error(api.send("POST", "webhooks/replay", foreign), 410, "ResyncRequired")
    feed.purge(before=2**40)
    purged = {"id": created["id"], "since": format_cursor(feed.epoch(), 0)}
    assert_error(api.send("POST", "webhooks/replay", purged), 410, "ResyncRequired")
    assert_error(api.send("POST", "webhooks/replay", {"id": created["id"]}), 400, "BadRequest")


def test_a_token_without_the_webhooks_api_is_401(api: ApiClient) -> None:
    issued = data_of(
        api.send("POST", "tokens", {"data": {"apis": ["entries", "registry", "tokens"]}})
    )
    other = api.as_token(issued["token"], issued["access_token"])
    assert_error(other.get("webhooks", {"options[collection]": "true"}), 401, "AccessTokenInvalid")
    assert_error(
        other.send("POST", "webhooks", {"data": {"url": PUBLIC_URL, "events": ["*"]}}),
        401,
        "AccessTokenInvalid",
    )
    assert _listed(api) == []


def test_writes_need_the_access_token(api: ApiClient) -> None:
    reader = api.as_token(api.token)
    assert_error(
        reader.send("POST", "webhooks", {"data": {"url": PUBLIC_URL, "events": ["*"]}}),
        401,
        "AccessTokenInvalid",
    )
    created = _create(api)
    for method, path, body in (
        ("PATCH", "webhooks", {"id": created["id"], "data": {"title": "x"}}),
        ("DELETE", "webhooks", {"id": created["id"]}),
        ("POST", "webhooks/replay", {"id": created["id"], "since": "now"}),
    ):
        assert_error(reader.send(method, path, body), 401, "AccessTokenInvalid")


def test_the_registry_shows_no_webhook(api: ApiClient) -> None:
    created = _create(api)
    response = api.get("registry", {"id": "flextype"})
    assert response.status_code == 200
    for shown in (created["secret"], created["id"], "93.184.216.34", "whsec_"):
        assert shown not in response.text


def test_the_api_family_can_be_switched_off(project: Project, feed: FakeChangeLog) -> None:
    with _served(project, feed, {"FLEXTYPE_API__WEBHOOKS__ENABLED": "false"}) as api:
        assert_error(api.get("webhooks", {"options[collection]": "true"}), 404, "NotFound")


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_the_secret_is_in_no_access_log_line(project: Project) -> None:
    container = build_container(project.path, {})
    container.change_log.override(providers.Object(FakeChangeLog()))
    logger = logging.getLogger("tests.webhooks.access")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    kept = _Lines()
    logger.addHandler(kept)
    try:
        with TestClient(AccessLog(create_app(container), logger)) as client:
            body = {
                "token": project.token,
                "access_token": project.access_token,
                "data": {"url": PUBLIC_URL, "events": ["*"]},
            }
            created = client.post("/api/webhooks", json=body).json()["data"]
            client.get("/api/webhooks", params={"id": created["id"], "token": project.token})
    finally:
        logger.removeHandler(kept)
    assert len(kept.lines) == 2
    assert all(created["secret"] not in line and "whsec_" not in line for line in kept.lines)
    assert "POST /api/webhooks 200" in kept.lines[0]


def test_the_openapi_document_describes_the_webhooks_api(api: ApiClient) -> None:
    schema = api.client.get("/schema/openapi.json").json()
    models = schema["components"]["schemas"]
    for prefix in PREFIXES:
        paths = schema["paths"]
        assert {"get", "post", "patch", "delete"} <= set(paths[f"{prefix}/webhooks"])
        assert "get" in paths[f"{prefix}/webhooks/deliveries"]
        assert "post" in paths[f"{prefix}/webhooks/replay"]
    operations = schema["paths"]["/api/webhooks"]
    assert {"401", "422"} <= set(operations["post"]["responses"])
    assert "410" in schema["paths"]["/api/webhooks/replay"]["post"]["responses"]
    assert "secret" in models["CreatedWebhook"]["required"]
    assert "secret" not in models["Webhook"]["properties"]
    assert models["WebhookCreate"]["properties"]["data"] == {
        "$ref": "#/components/schemas/WebhookFields"
    }
    events = models["WebhookFields"]["properties"]["events"]["items"]["enum"]
    assert "entry.created" in events
    assert "*" in events
    assert "Webhooks" in schema["info"]["description"]


def test_on_postgres_webhooks_are_rows_and_no_file(
    tmp_path: Path, postgres_url: str, feed: FakeChangeLog
) -> None:
    with new_schema(postgres_url) as schema:
        made = pg_init(tmp_path / "site", postgres_url, schema, "--no-demo")
        project = Project(made.path, made.token, made.access_token)
        with _served(project, feed) as api:
            created = _create(api)
            fetched = api.get("webhooks", {"id": created["id"]})
            assert data_of(fetched)["url"] == PUBLIC_URL
            assert created["secret"] not in fetched.text
            with psycopg.connect(postgres_url) as conn:
                rows = conn.execute(
                    sql.SQL("SELECT w.id, s.secret FROM {} AS w JOIN {} AS s USING (id)").format(
                        sql.Identifier(schema, "webhooks"),
                        sql.Identifier(schema, "webhook_secrets"),
                    )
                ).fetchall()
            assert rows == [(created["id"], created["secret"])]
        assert not (made.path / "webhooks.sqlite3").exists()
