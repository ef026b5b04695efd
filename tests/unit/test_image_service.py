"""ImageService: access, limits, cache, render budget and single flight, over fakes."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from flextype_core.errors import (
    AccessTokenInvalid,
    BadRequest,
    InvalidId,
    MediaFileNotFound,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from flextype_core.images import PARSED_KEPT, ImageService, sign
from tests.unit.fakes import FixedClock
from tests.unit.image_fakes import FakeDerivativeCache, FakeImageProcessor, FakeImageStore

KEY = "k" * 32


class World:
    def __init__(self, slots: int = 2) -> None:
        self.store = FakeImageStore({"a/b.jpg": b"source-1", "t.txt": b"text"})
        self.processor = FakeImageProcessor()
        self.cache = FakeDerivativeCache()
        self.clock = FixedClock(1000)
        self.service = ImageService(
            self.store,
            self.processor,
            self.cache,
            self.clock,
            sign_key=KEY,
            max_width=500,
            max_height=400,
            max_source_pixels=10_000,
            max_concurrent_renders=slots,
        )


@pytest.fixture
def world() -> World:
    return World()


def test_an_authorized_request_renders_and_caches(world: World) -> None:
    image = world.service.render("a/b.jpg", {"w": "100"}, authorized=True)
    assert image.media_type == "image/png"
    assert image.data.startswith(FakeImageProcessor.PNG + b"source-1")
    assert image.etag.startswith('"') and image.etag.endswith('"')
    assert list(world.cache.items.values()) == [image.data]


def test_a_cache_hit_decodes_nothing(world: World) -> None:
    first = world.service.render("a/b.jpg", {"w": "100", "h": "50"}, authorized=True)
    again = world.service.render("a/b.jpg", {"h": "50", "w": "100"}, authorized=True)
    assert again == first
    assert world.processor.renders == 1


def test_a_replaced_source_is_never_served_stale(world: World) -> None:
    first = world.service.render("a/b.jpg", {"w": "100"}, authorized=True)
    world.store.contents["a/b.jpg"] = b"source-2"
    second = world.service.render("a/b.jpg", {"w": "100"}, authorized=True)
    assert second.etag != first.etag
    assert b"source-2" in second.data


def test_a_valid_signature_grants_access(world: World) -> None:
    query = {"w": "100", "expires": "1000"}
    image = world.service.render(
        "a/b.jpg", {**query, "s": sign(KEY, "a/b.jpg", query)}, authorized=False
    )
    assert image.data.startswith(FakeImageProcessor.PNG)


@pytest.mark.parametrize(
    "query",
    [
        {"w": "100"},
        {"w": "100", "s": "0" * 64},
        {"w": "101", "s": sign(KEY, "a/b.jpg", {"w": "100"})},
        {"w": "100", "expires": "999", "s": sign(KEY, "a/b.jpg", {"w": "100", "expires": "999"})},
    ],
    ids=["unsigned", "wrong", "tampered", "expired"],
)
def test_without_a_token_or_a_valid_signature_access_is_refused(
    world: World, query: dict[str, str]
) -> None:
    with pytest.raises(AccessTokenInvalid):
        world.service.render("a/b.jpg", query, authorized=False)
    assert world.processor.renders == 0


def test_an_empty_sign_key_refuses_every_signature() -> None:
    world = World()
    service = ImageService(world.store, world.processor, world.cache, world.clock, sign_key="")
    with pytest.raises(AccessTokenInvalid):
        service.render("a/b.jpg", {"s": sign("", "a/b.jpg", {})}, authorized=False)


@pytest.mark.parametrize(("name", "value"), [("w", "501"), ("h", "401")])
def test_a_size_over_the_limits_is_a_bad_request(world: World, name: str, value: str) -> None:
    with pytest.raises(BadRequest) as caught:
        world.service.render("a/b.jpg", {name: value}, authorized=True)
    assert caught.value.details == [name]


def test_an_invalid_parameter_is_a_bad_request_before_any_read(world: World) -> None:
    with pytest.raises(BadRequest):
        world.service.render("missing.jpg", {"fit": "nope"}, authorized=True)


def test_a_missing_file_is_not_found(world: World) -> None:
    with pytest.raises(MediaFileNotFound):
        world.service.render("a/missing.jpg", {}, authorized=True)


@pytest.mark.parametrize("path", ["../etc/passwd", "a//b.jpg", ".hidden.jpg", "a\\b.jpg"])
def test_a_traversal_path_is_an_invalid_id(world: World, path: str) -> None:
    with pytest.raises(InvalidId):
        world.service.render(path, {}, authorized=True)


def test_a_source_that_is_no_image_is_unsupported_and_not_cached(world: World) -> None:
    with pytest.raises(UnsupportedMediaType):
        world.service.render("t.txt", {}, authorized=True)
    assert world.cache.items == {}


def test_past_the_render_budget_the_service_is_unavailable() -> None:
    world = World(slots=1)
    world.processor.gate = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        busy = pool.submit(world.service.render, "a/b.jpg", {"w": "1"}, authorized=True)
        assert world.processor.started.acquire(timeout=60)
        with pytest.raises(ServiceUnavailable) as caught:
            world.service.render("a/b.jpg", {"w": "2"}, authorized=True)
        world.processor.gate.set()
        busy.result(timeout=60)
    assert caught.value.retry_after == 1
    world.service.render("a/b.jpg", {"w": "2"}, authorized=True)
    assert world.processor.renders == 2


def test_a_cache_hit_needs_no_render_slot() -> None:
    world = World(slots=1)
    world.service.render("a/b.jpg", {"w": "2"}, authorized=True)
    world.processor.gate = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        busy = pool.submit(world.service.render, "a/b.jpg", {"w": "1"}, authorized=True)
        assert world.processor.started.acquire(timeout=60)
        world.service.render("a/b.jpg", {"w": "2"}, authorized=True)
        world.processor.gate.set()
        busy.result(timeout=60)


def test_the_same_cold_render_requested_at_once_is_rendered_once() -> None:
    world = World(slots=1)
    world.processor.gate = threading.Event()
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(world.service.render, "a/b.jpg", {"w": "9"}, authorized=True)
        assert world.processor.started.acquire(timeout=60)
        others = [
            pool.submit(world.service.render, "a/b.jpg", {"w": "9"}, authorized=True)
            for _ in range(3)
        ]
        _wait_for_followers(world, 3)
        world.processor.gate.set()
        results = [f.result(timeout=60) for f in [first, *others]]
    assert world.processor.renders == 1
    assert len({r.data for r in results}) == 1


def _wait_for_followers(world: World, count: int) -> None:
    """Wait until ``count`` requests wait for the render in progress instead of rendering."""
    deadline = time.monotonic() + 60
    while world.service.waiting < count:
        assert time.monotonic() < deadline, f"{world.service.waiting} of {count} followers"
        threading.Event().wait(0.001)


def test_a_failed_render_fails_every_waiter_and_is_retried_later() -> None:
    world = World(slots=1)
    world.processor.gate = threading.Event()
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(world.service.render, "t.txt", {}, authorized=True)
        assert world.processor.started.acquire(timeout=60)
        second = pool.submit(world.service.render, "t.txt", {}, authorized=True)
        _wait_for_followers(world, 1)
        world.processor.gate.set()
        for future in (first, second):
            with pytest.raises(UnsupportedMediaType):
                future.result(timeout=60)
    assert world.processor.renders == 1
    world.processor.gate = None
    with pytest.raises(UnsupportedMediaType):
        world.service.render("t.txt", {}, authorized=True)
    assert world.processor.renders == 2


def test_a_hit_in_memory_is_answered_only_with_a_hash_known_without_io(world: World) -> None:
    query = {"w": "100"}
    assert world.service.known("a/b.jpg", query, authorized=True) is None  # never rendered
    rendered = world.service.render("a/b.jpg", query, authorized=True)
    assert world.service.known("a/b.jpg", query, authorized=True) == rendered
    world.store.hashes_known = False  # the store would need a round trip for the hash
    assert world.service.known("a/b.jpg", query, authorized=True) is None
    world.store.hashes_known = True
    world.store.contents["a/b.jpg"] = b"source-2"  # replaced: another hash, another key
    assert world.service.known("a/b.jpg", query, authorized=True) is None
    with pytest.raises(AccessTokenInvalid):
        world.service.known("a/b.jpg", query, authorized=False)
    assert world.processor.renders == 1


def test_a_url_asked_again_is_checked_against_its_source_each_time(world: World) -> None:
    # The parsed parameters and key of a URL are remembered; the source's hash is not.
    for round_ in range(3):
        world.store.contents["a/b.jpg"] = f"source-{round_}".encode()
        for _ in range(2):
            image = world.service.cached("a/b.jpg", {"w": "100"}, authorized=True)
            if image is None:
                image = world.service.render("a/b.jpg", {"w": "100"}, authorized=True)
            assert f"source-{round_}".encode() in image.data
    world.store.contents.pop("a/b.jpg")
    with pytest.raises(MediaFileNotFound):
        world.service.cached("a/b.jpg", {"w": "100"}, authorized=True)


def test_a_url_asked_with_a_token_still_needs_a_signature_without_one(world: World) -> None:
    query = {"w": "100", "expires": "1000"}
    signed = {**query, "s": sign(KEY, "a/b.jpg", query)}
    world.service.render("a/b.jpg", signed, authorized=True)
    world.clock.advance(1000)  # the signature has expired
    with pytest.raises(AccessTokenInvalid):
        world.service.render("a/b.jpg", signed, authorized=False)


def test_a_crawler_of_many_urls_never_grows_the_remembered_ones(world: World) -> None:
    for n in range(PARSED_KEPT + 10):
        world.service.cached(
            "a/b.jpg", {"w": str(n % 500 + 1), "q": str(n % 90 + 1)}, authorized=True
        )
    assert 0 < len(world.service._parsed) <= PARSED_KEPT
