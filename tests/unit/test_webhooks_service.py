"""WebhooksService over the fake store, change log and resolver."""

from __future__ import annotations

import base64
import re
from typing import Any

import msgspec
import pytest

from flextype_core.changes import NewChange, format_cursor
from flextype_core.errors import (
    BadRequest,
    InvalidId,
    ResyncRequired,
    ValidationFailed,
    WebhookNotFound,
)
from flextype_core.webhook_port import Delivery, Progress
from flextype_core.webhooks import CreatedWebhook, WebhooksService
from tests.unit.fakes import FixedClock, SequenceIdFactory
from tests.unit.feed_fakes import FakeChangeLog, FakeWebhookStore
from tests.unit.webhook_fakes import FakeResolver

PUBLIC = "93.184.216.34"


class World:
    def __init__(self, *, allow_private_networks: bool = False) -> None:
        self.store = FakeWebhookStore()
        self.log = FakeChangeLog()
        self.clock = FixedClock()
        self.resolver = FakeResolver(
            {
                "hooks.example.com": [PUBLIC],
                "localhost": ["127.0.0.1", "::1"],
                "intranet.example.com": ["10.1.2.3"],
                "split.example.com": [PUBLIC, "192.168.1.5"],
                "metadata.example.com": ["169.254.169.254"],
            }
        )
        self.service = WebhooksService(
            self.store,
            self.log,
            self.clock,
            SequenceIdFactory(),
            self.resolver,
            allow_private_networks=allow_private_networks,
        )

    def create(self, **data: Any) -> CreatedWebhook:
        fields = {"url": "https://hooks.example.com/in", "events": ["*"], **data}
        return self.service.create(fields)

    def write(self, count: int = 1) -> None:
        self.log.append([NewChange(op="create", type="entry", id=f"e{i}") for i in range(count)])


@pytest.fixture
def world() -> World:
    return World()


def _refused(world: World, data: Any) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        world.service.create(data)
    assert world.store.all() == []
    return caught.value


def test_a_new_webhook_gets_an_id_a_secret_shown_once_and_starts_at_the_head(
    world: World,
) -> None:
    world.write(3)
    created = world.create(title="Site build", events=["entry.created", "entry.updated"])
    assert re.fullmatch(r"[0-9a-f]{32}", created.id)
    assert created.secret.startswith("whsec_")
    assert len(base64.b64decode(created.secret.removeprefix("whsec_"), validate=True)) == 24
    assert world.store.secret(created.id) == created.secret
    assert world.store.progress(created.id) == Progress(position=3)
    stored = world.service.fetch(created.id)
    assert "secret" not in msgspec.to_builtins(stored)
    assert (stored.title, stored.state, stored.id_prefix) == ("Site build", "enabled", None)
    assert stored.events == ["entry.created", "entry.updated"]
    assert stored.created_at == stored.modified_at == world.clock.now()


def test_each_webhook_has_a_secret_of_its_own(world: World) -> None:
    assert world.create().secret != world.create().secret


def test_a_list_is_oldest_first_and_never_holds_a_secret(world: World) -> None:
    first = world.create()
    world.clock.advance(5)
    second = world.create()
    listed = world.service.list()
    assert [h.id for h in listed] == [first.id, second.id]
    assert all("secret" not in msgspec.to_builtins(h) for h in listed)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/in",
        "hooks.example.com/in",
        "https://",
        "http:///path",
        "https://user:pass@hooks.example.com/in",
        "https://token@hooks.example.com/in",
        "https://hooks.example.com/a b",
        "https://hooks.example.com/\x00",
        "https://hooks.example.com:99999/",
        "https://hooks.example.com:http/",
        "https://hooks.example.com:0/",
        "https://[::1/",
        "https://hooks.example.com/" + "a" * 2100,
    ],
)
def test_a_url_that_is_not_http_with_a_host_and_no_credentials_is_422(
    world: World, url: str
) -> None:
    error = _refused(world, {"url": url, "events": ["*"]})
    assert error.details == ["data.url"]
    assert world.resolver.asked == []  # refused before any name is resolved


def test_url_and_events_are_required_and_every_missing_one_is_named(world: World) -> None:
    assert _refused(world, {"title": "x"}).details == ["data.url", "data.events"]
    assert _refused(world, {"url": "https://hooks.example.com/"}).details == ["data.events"]


@pytest.mark.parametrize(
    "events",
    [[], ["entry.published"], ["entry.created", "Entry.Updated"], ["*", "entry.created"], [""]],
)
def test_events_must_be_known_or_the_star_alone(world: World, events: list[str]) -> None:
    error = _refused(world, {"url": "https://hooks.example.com/", "events": events})
    assert error.details == ["data.events"]


def test_events_repeated_are_kept_once_in_their_order(world: World) -> None:
    created = world.create(events=["media.deleted", "entry.moved", "media.deleted"])
    assert created.events == ["media.deleted", "entry.moved"]


@pytest.mark.parametrize("prefix", ["../movies", "movies/", "/movies", "a//b", "a\\b", "x" * 300])
def test_an_id_prefix_that_is_no_valid_id_is_422(world: World, prefix: str) -> None:
    error = _refused(
        world, {"url": "https://hooks.example.com/", "events": ["*"], "id_prefix": prefix}
    )
    assert error.details == ["data.id_prefix"]


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("movies", "movies"),
        ("movies/2019", "movies/2019"),
        ("posters/dune.jpg", "posters/dune.jpg"),
        ("", None),
        (None, None),
    ],
)
def test_an_id_prefix_may_be_an_entry_folder_or_file_id_or_none(
    world: World, given: str | None, kept: str | None
) -> None:
    assert world.create(id_prefix=given).id_prefix == kept


@pytest.mark.parametrize(
    "data",
    [
        {"state": "failing"},
        {"state": "paused"},
        {"title": 5},
        {"events": "entry.created"},
        {"colour": "red"},
        {"title": "t" * 1001},
    ],
)
def test_other_invalid_fields_are_422_naming_them(world: World, data: dict[str, Any]) -> None:
    error = _refused(world, {"url": "https://hooks.example.com/", "events": ["*"], **data})
    assert error.details and all(d.startswith("data") for d in error.details)


def test_data_that_is_not_an_object_is_422(world: World) -> None:
    assert _refused(world, ["https://hooks.example.com/"]).details == ["data"]


def test_every_problem_is_named_at_once(world: World) -> None:
    error = _refused(world, {"url": "ftp://x", "events": [], "id_prefix": "../x", "state": "on"})
    assert error.details == ["data.url", "data.events", "data.id_prefix", "data.state"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://10.0.0.7/hook",
        "https://intranet.example.com/hook",
        "https://split.example.com/hook",
        "http://169.254.169.254/latest/meta-data",
        "https://metadata.example.com/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
    ],
)
def test_a_url_resolving_to_a_non_public_address_is_422_unless_allowed(url: str) -> None:
    world = World()
    error = _refused(world, {"url": url, "events": ["*"]})
    assert error.details == ["data.url"]
    assert "allow_private_networks" in error.message
    allowing = World(allow_private_networks=True)
    assert allowing.service.create({"url": url, "events": ["*"]}).url == url


def test_a_host_that_does_not_resolve_is_422_even_with_private_networks_allowed() -> None:
    for world in (World(), World(allow_private_networks=True)):
        error = _refused(world, {"url": "https://nowhere.invalid/hook", "events": ["*"]})
        assert error.details == ["data.url"]
        assert "does not resolve" in error.message


def test_the_host_is_resolved_with_the_port_the_delivery_will_use(world: World) -> None:
    world.create(url="https://hooks.example.com/in")
    world.create(url="http://hooks.example.com/in")
    world.create(url="HTTPS://Hooks.Example.com:8443/in")
    assert world.resolver.asked == [
        ("hooks.example.com", 443),
        ("hooks.example.com", 80),
        ("hooks.example.com", 8443),
    ]


def test_fetch_refuses_an_invalid_id_and_names_a_missing_one(world: World) -> None:
    with pytest.raises(InvalidId):
        world.service.fetch("../etc/passwd")
    with pytest.raises(InvalidId):
        world.service.fetch(12)
    with pytest.raises(WebhookNotFound):
        world.service.fetch("f" * 32)


def test_update_changes_only_the_fields_given(world: World) -> None:
    created = world.create(title="Old", id_prefix="movies")
    world.clock.advance(60)
    updated = world.service.update(created.id, {"title": "New", "id_prefix": None})
    assert (updated.title, updated.id_prefix, updated.url) == ("New", None, created.url)
    assert updated.modified_at == created.created_at + 60
    assert world.service.fetch(created.id) == updated


def test_update_checks_a_new_url_with_the_guard_and_changes_nothing_if_refused(
    world: World,
) -> None:
    created = world.create()
    for url in ("http://127.0.0.1/", "ftp://hooks.example.com/", "https://nowhere.invalid/"):
        with pytest.raises(ValidationFailed) as caught:
            world.service.update(created.id, {"url": url, "title": "changed"})
        assert caught.value.details == ["data.url"]
    assert world.service.fetch(created.id).url == created.url
    assert world.service.fetch(created.id).title == ""


def test_update_refuses_failing_and_unknown_states(world: World) -> None:
    created = world.create()
    for state in ("failing", "off"):
        with pytest.raises(ValidationFailed) as caught:
            world.service.update(created.id, {"state": state})
        assert caught.value.details == ["data.state"]
    assert world.service.fetch(created.id).state == "enabled"


def test_enabling_a_failing_webhook_resumes_where_it_stopped_with_attempts_reset(
    world: World,
) -> None:
    created = world.create()
    world.write(4)
    stopped = Progress(position=2, attempt=7, next_at=1e12)
    assert world.store.save_progress(created.id, stopped)
    world.store.update(created.id, lambda h: msgspec.structs.replace(h, state="failing"))
    assert world.service.update(created.id, {"state": "enabled"}).state == "enabled"
    progress = world.store.progress(created.id)
    assert (progress.position, progress.attempt, progress.next_at) == (2, 0, None)
    # A deliverer that read the failing progress cannot write its old count back.
    assert not world.store.save_progress(created.id, stopped)


def test_disabling_keeps_the_progress_and_enabling_again_clears_the_wait(world: World) -> None:
    created = world.create()
    waiting = Progress(position=0, attempt=2, next_at=1e12)
    world.store.save_progress(created.id, waiting)
    world.service.update(created.id, {"state": "disabled"})
    assert world.store.progress(created.id) == waiting
    world.service.update(created.id, {"state": "enabled"})
    assert world.store.progress(created.id).attempt == 0


def test_updating_an_enabled_webhook_leaves_its_progress_alone(world: World) -> None:
    created = world.create()
    waiting = Progress(position=0, attempt=2, next_at=1e12)
    world.store.save_progress(created.id, waiting)
    world.service.update(created.id, {"state": "enabled", "title": "same state"})
    assert world.store.progress(created.id) == waiting


def test_update_and_delete_of_a_missing_webhook_are_not_found(world: World) -> None:
    with pytest.raises(WebhookNotFound):
        world.service.update("a" * 32, {"title": "x"})
    with pytest.raises(WebhookNotFound):
        world.service.delete("a" * 32)


def test_delete_removes_the_webhook_and_its_secret(world: World) -> None:
    created = world.create()
    world.service.delete(created.id)
    with pytest.raises(WebhookNotFound):
        world.service.fetch(created.id)
    with pytest.raises(WebhookNotFound):
        world.store.secret(created.id)


def test_deliveries_are_the_stores_log_newest_first(world: World) -> None:
    created = world.create()
    for attempt in (1, 2):
        world.store.record(
            created.id,
            Delivery(
                cursor="c-1",
                event="entry.created",
                message_id="m",
                attempt=attempt,
                status=500,
                duration_ms=3.0,
                at=attempt,
            ),
        )
    assert [d.attempt for d in world.service.deliveries(created.id)] == [2, 1]
    with pytest.raises(WebhookNotFound):
        world.service.deliveries("b" * 32)


def test_replay_restarts_after_the_cursor_with_a_new_generation(world: World) -> None:
    created = world.create()
    world.write(5)
    before = world.store.progress(created.id)
    cursor = format_cursor(world.log.epoch(), 2)
    assert world.service.replay(created.id, cursor).id == created.id
    progress = world.store.progress(created.id)
    assert (progress.position, progress.attempt) == (2, 0)
    assert progress.generation == before.generation + 1
    assert not world.store.save_progress(created.id, before)


def test_replay_from_now_skips_what_was_not_delivered(world: World) -> None:
    created = world.create()
    world.write(5)
    world.service.replay(created.id, "now")
    assert world.store.progress(created.id).position == 5


def test_replay_refuses_what_is_no_cursor_of_this_log(world: World) -> None:
    created = world.create()
    world.write(5)
    for since in ("garbage", "", "abc-", "ABC-1", 3, None):
        with pytest.raises(BadRequest):
            world.service.replay(created.id, since)
    with pytest.raises(ResyncRequired, match="ahead of the change log"):
        world.service.replay(created.id, format_cursor(world.log.epoch(), 6))
    with pytest.raises(ResyncRequired):
        world.service.replay(created.id, format_cursor("otherlog", 1))
    assert world.store.progress(created.id) == Progress(position=0)


def test_replay_of_a_cursor_older_than_the_log_keeps_is_resync(world: World) -> None:
    created = world.create()
    world.write(5)
    world.clock.advance(10)
    world.log.purge(before=2_000_000_000)
    with pytest.raises(ResyncRequired):
        world.service.replay(created.id, format_cursor(world.log.epoch(), 1))


def test_replay_of_a_missing_webhook_is_not_found(world: World) -> None:
    with pytest.raises(WebhookNotFound):
        world.service.replay("c" * 32, "now")
