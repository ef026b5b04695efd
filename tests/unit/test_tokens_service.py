"""TokensService over in-memory fakes: issuing, verifying and counting calls."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from functools import partial

import pytest

from flextype_core.errors import (
    AccessTokenInvalid,
    BadRequest,
    CallLimitExceeded,
    Conflict,
    InvalidId,
    TokenNotFound,
    ValidationFailed,
)
from flextype_core.model import DEFAULT_TOKEN_APIS, CallCount, Token
from flextype_core.tokens import IssuedToken, TokensService
from tests.call_limits import passed_calls, together
from tests.unit.fakes import FakeHasher, FakeTokenStore, FixedClock, SequenceIdFactory

T0 = 1_700_000_000
HEX32 = re.compile(r"[0-9a-f]{32}")


class CountingTokenStore(FakeTokenStore):
    """A FakeTokenStore that counts its writes, so tests can see how often counting writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.flushes: list[dict[str, int]] = []

    def create(self, token: Token) -> None:
        self.writes += 1
        super().create(token)

    def update(self, token_id: str, change: Callable[[Token], Token]) -> Token:
        self.writes += 1
        return super().update(token_id, change)

    def move(
        self,
        token_id: str,
        new_id: str,
        modified_at: int,
        *,
        expect: Callable[[Token], None] | None = None,
    ) -> Token:
        self.writes += 1
        return super().move(token_id, new_id, modified_at, expect=expect)

    def delete(self, token_id: str, *, expect: Callable[[Token], None] | None = None) -> None:
        self.writes += 1
        super().delete(token_id, expect=expect)

    def spend(self, token_id: str, at: int) -> Token:
        self.writes += 1
        return super().spend(token_id, at)

    def add_calls(self, counts: Mapping[str, CallCount]) -> None:
        self.writes += 1
        self.flushes.append({token_id: count.calls for token_id, count in counts.items()})
        super().add_calls(counts)


class World:
    """A service with its fakes, so tests can move the clock and look into the store."""

    def __init__(self, *, flush_every: int = 100, flush_interval: int = 5) -> None:
        self.store = CountingTokenStore()
        self.clock = FixedClock(T0)
        self.ids = SequenceIdFactory()
        self.hasher = FakeHasher()
        self.service = TokensService(
            self.store,
            self.hasher,
            self.clock,
            self.ids,
            flush_every=flush_every,
            flush_interval=flush_interval,
        )

    def issue(self, **data: object) -> IssuedToken:
        return self.service.create(data)


@pytest.fixture
def world() -> World:
    return World()


# -- create --------------------------------------------------------------------------


def test_creating_a_token_returns_its_id_and_access_token_once(world: World) -> None:
    issued = world.issue(title="site")
    assert HEX32.fullmatch(issued.token.token)
    assert HEX32.fullmatch(issued.access_token)
    assert issued.token.token != issued.access_token
    assert issued.token.title == "site"


def test_a_created_token_gets_the_defaults(world: World) -> None:
    token = world.issue().token
    assert token.state == "enabled"
    assert token.apis == DEFAULT_TOKEN_APIS
    assert token.limit_calls == 0
    assert token.calls == 0
    assert token.expires_at is None
    assert token.created_at == T0
    assert token.modified_at == T0
    assert token.last_used_at is None


def test_the_stored_token_holds_only_the_hash_of_the_access_token(world: World) -> None:
    issued = world.issue()
    stored = world.store.get(issued.token.token)
    assert stored == issued.token
    assert stored.hashed_access_token != issued.access_token
    assert world.hasher.verify(issued.access_token, stored.hashed_access_token)
    assert issued.access_token not in repr(stored).replace(stored.hashed_access_token, "")


def test_a_token_may_be_created_with_a_chosen_id(world: World) -> None:
    issued = world.service.create({"apis": ["*"]}, "my-site_token-01")
    assert issued.token.token == "my-site_token-01"
    assert world.service.fetch("my-site_token-01").apis == ("*",)


@pytest.mark.parametrize("bad_id", ["short", "x" * 65, "has space in it!", "../../../../etc/p", 7])
def test_a_chosen_token_id_outside_16_to_64_slug_characters_is_rejected(
    world: World, bad_id: object
) -> None:
    with pytest.raises(InvalidId):
        world.service.create({}, bad_id)
    assert world.store.list() == []


def test_creating_a_token_whose_id_exists_is_a_conflict(world: World) -> None:
    world.service.create({"title": "first"}, "a" * 16)
    with pytest.raises(Conflict):
        world.service.create({"title": "second"}, "a" * 16)
    assert world.service.fetch("a" * 16).title == "first"


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        ({"state": "paused"}, "data.state"),
        ({"apis": ["entries", "nope"]}, "data.apis"),
        ({"apis": []}, "data.apis"),
        ({"limit_calls": -1}, "data.limit_calls"),
        ({"limit_calls": "10"}, "data.limit_calls"),
        ({"limit_calls": True}, "data.limit_calls"),
        ({"title": 5}, "data.title"),
        ({"expires_at": T0}, "data.expires_at"),
        ({"expires_at": T0 - 1}, "data.expires_at"),
        ({"calls": 0}, "data"),
        ({"hashed_access_token": "x"}, "data"),
        ([], "data"),
    ],
)
def test_invalid_token_data_fails_validation_naming_the_field(
    world: World, data: object, detail: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        world.service.create(data)
    assert caught.value.details == [detail]
    assert world.store.list() == []


def test_a_token_may_expire_in_the_future(world: World) -> None:
    assert world.issue(expires_at=T0 + 1).token.expires_at == T0 + 1


# -- verify --------------------------------------------------------------------------


def test_a_valid_token_and_access_token_verify_for_an_allowed_api(world: World) -> None:
    issued = world.issue()
    token = world.service.verify(issued.token.token, issued.access_token, "entries", write=True)
    assert token.token == issued.token.token
    assert token.calls == 1
    assert token.last_used_at == T0


def test_a_read_needs_no_access_token(world: World) -> None:
    issued = world.issue()
    assert world.service.verify(issued.token.token, None, "entries", write=False).calls == 1


@pytest.mark.parametrize("access_token", [None, "", "wrong", 123])
def test_a_write_with_a_missing_or_wrong_access_token_is_refused(
    world: World, access_token: object
) -> None:
    issued = world.issue()
    with pytest.raises(AccessTokenInvalid):
        world.service.verify(issued.token.token, access_token, "entries", write=True)
    world.service.flush()
    assert world.service.fetch(issued.token.token).calls == 0


def test_the_access_token_of_another_token_is_refused(world: World) -> None:
    first, second = world.issue(), world.issue()
    world.service.verify(second.token.token, second.access_token, "entries", write=True)
    with pytest.raises(AccessTokenInvalid):
        world.service.verify(first.token.token, second.access_token, "entries", write=True)


def test_a_disabled_token_is_refused(world: World) -> None:
    issued = world.issue(state="disabled")
    with pytest.raises(AccessTokenInvalid, match="disabled"):
        world.service.verify(issued.token.token, issued.access_token, "entries", write=False)


def test_a_token_is_refused_from_the_moment_it_expires(world: World) -> None:
    issued = world.issue(expires_at=T0 + 10)
    world.clock.advance(9)
    world.service.verify(issued.token.token, None, "entries", write=False)
    world.clock.advance(1)
    with pytest.raises(AccessTokenInvalid, match="expired"):
        world.service.verify(issued.token.token, None, "entries", write=False)


def test_a_token_is_refused_for_an_api_it_is_not_allowed(world: World) -> None:
    issued = world.issue(apis=["entries"])
    with pytest.raises(AccessTokenInvalid):
        world.service.verify(issued.token.token, issued.access_token, "tokens", write=True)


def test_the_default_apis_do_not_include_tokens(world: World) -> None:
    issued = world.issue()
    with pytest.raises(AccessTokenInvalid):
        world.service.verify(issued.token.token, None, "tokens", write=False)


@pytest.mark.parametrize("api", ["entries", "registry", "tokens", "media", "images"])
def test_a_star_token_is_allowed_every_api(world: World, api: str) -> None:
    issued = world.issue(apis=["*"])
    verified = world.service.verify(issued.token.token, issued.access_token, api, write=True)
    assert verified.calls == 1


@pytest.mark.parametrize("token_id", [None, "", "0" * 32, "short", "../../x/y/z/w/v/u", 42])
def test_an_unknown_missing_or_malformed_token_is_refused(world: World, token_id: object) -> None:
    world.issue()
    with pytest.raises(AccessTokenInvalid) as caught:
        world.service.verify(token_id, None, "entries", write=False)
    assert caught.value.code == "AccessTokenInvalid"


def test_a_token_stops_at_its_call_limit(world: World) -> None:
    issued = world.issue(limit_calls=3)
    for n in range(1, 4):
        assert world.service.verify(issued.token.token, None, "entries", write=False).calls == n
    with pytest.raises(CallLimitExceeded) as caught:
        world.service.verify(issued.token.token, None, "entries", write=False)
    assert caught.value.code == "CallLimitExceeded"
    world.service.flush()
    assert world.service.fetch(issued.token.token).calls == 3


def test_the_call_limit_counts_flushed_and_pending_calls(world: World) -> None:
    issued = world.issue(limit_calls=3)
    world.service.verify(issued.token.token, None, "entries", write=False)
    world.service.verify(issued.token.token, None, "entries", write=False)
    world.service.flush()
    world.service.verify(issued.token.token, None, "entries", write=False)
    with pytest.raises(CallLimitExceeded):
        world.service.verify(issued.token.token, None, "entries", write=False)


def test_a_refused_call_is_not_counted(world: World) -> None:
    issued = world.issue(apis=["entries"])
    with pytest.raises(AccessTokenInvalid):
        world.service.verify(issued.token.token, None, "media", write=False)
    world.service.flush()
    assert world.store.get(issued.token.token).calls == 0


# -- counting ------------------------------------------------------------------------


def test_counting_calls_writes_nothing_until_a_flush(world: World) -> None:
    issued = world.issue()
    writes_after_create = world.store.writes
    for _ in range(99):
        world.service.verify(issued.token.token, issued.access_token, "entries", write=True)
    assert world.store.writes == writes_after_create
    assert world.store.get(issued.token.token).calls == 0
    assert world.service.fetch(issued.token.token).calls == 99


def test_calls_are_flushed_every_flush_every_calls() -> None:
    world = World(flush_every=10, flush_interval=3600)
    issued = world.issue()
    token_id = issued.token.token
    writes_after_create = world.store.writes
    for _ in range(25):
        world.service.verify(token_id, None, "entries", write=False)
    assert world.store.flushes == [{token_id: 10}, {token_id: 10}]
    assert world.store.writes == writes_after_create + 2
    assert world.store.get(token_id).calls == 20
    assert world.service.fetch(token_id).calls == 25


def test_calls_are_flushed_once_the_flush_interval_has_passed() -> None:
    world = World(flush_every=1000, flush_interval=5)
    token_id = world.issue().token.token
    world.service.verify(token_id, None, "entries", write=False)
    world.clock.advance(4)
    world.service.verify(token_id, None, "entries", write=False)
    assert world.store.flushes == []
    world.clock.advance(1)
    world.service.verify(token_id, None, "entries", write=False)
    assert world.store.flushes == [{token_id: 3}]
    stored = world.store.get(token_id)
    assert stored.calls == 3
    assert stored.last_used_at == T0 + 5


def test_flushing_writes_the_pending_counts_once(world: World) -> None:
    first, second = world.issue().token.token, world.issue().token.token
    for _ in range(3):
        world.service.verify(first, None, "entries", write=False)
    world.service.verify(second, None, "entries", write=False)
    world.service.flush()
    world.service.flush()
    assert world.store.flushes == [{first: 3, second: 1}]
    assert world.store.get(first).calls == 3
    assert world.store.get(second).calls == 1


def test_a_flush_adds_to_the_stored_count_rather_than_overwriting_it(world: World) -> None:
    token_id = world.issue().token.token
    world.store.add_calls(
        {token_id: CallCount(calls=40, last_used_at=T0)}
    )  # another process flushed its own count
    world.service.verify(token_id, None, "entries", write=False)
    world.service.flush()
    assert world.store.get(token_id).calls == 41


def test_concurrent_verifies_count_every_call_exactly_once() -> None:
    world = World(flush_every=37, flush_interval=3600)
    issued = world.issue()
    token_id, access_token = issued.token.token, issued.access_token

    def client() -> None:
        for _ in range(200):
            world.service.verify(token_id, access_token, "entries", write=True)

    together(8, client)  # raises what any thread raised
    world.service.flush()

    assert world.store.get(token_id).calls == 1600
    assert sum(f[token_id] for f in world.store.flushes) == 1600
    assert len(world.store.flushes) <= 1600 // 37 + 1


def test_concurrent_verifies_never_pass_the_call_limit() -> None:
    world = World(flush_every=5, flush_interval=3600)
    token_id = world.issue(limit_calls=500).token.token

    read = partial(world.service.verify, token_id, None, "entries", write=False)
    passed = together(8, lambda: passed_calls(read, 200))
    world.service.flush()

    assert sum(passed) == 500
    assert world.store.get(token_id).calls == 500


def test_a_limited_token_is_spent_in_the_store_at_each_call(world: World) -> None:
    token_id = world.issue(limit_calls=3).token.token
    for n in (1, 2):
        world.clock.advance(1)
        assert world.service.verify(token_id, None, "entries", write=False).calls == n
        stored = world.store.get(token_id)
        assert (stored.calls, stored.last_used_at) == (n, world.clock.now())
    assert world.store.flushes == []  # spent one by one, never batched


def test_two_workers_over_one_store_share_a_limit_exactly() -> None:
    # Two services over one store are two server workers: neither sees the other's
    # memory, so only the store can keep the count.
    store = FakeTokenStore()
    workers = [
        TokensService(store, FakeHasher(), FixedClock(T0), SequenceIdFactory(), flush_every=1000)
        for _ in range(2)
    ]
    token_id = workers[0].create({"limit_calls": 5}).token.token
    turns = itertools.cycle(workers)  # the workers take turns
    passed = passed_calls(lambda: next(turns).verify(token_id, None, "entries", write=False), 20)
    for worker in workers:
        worker.flush()
    assert passed == 5
    assert store.get(token_id).calls == 5


def test_calls_counted_before_a_limit_was_set_count_against_it(world: World) -> None:
    token_id = world.issue().token.token
    for _ in range(3):
        world.service.verify(token_id, None, "entries", write=False)
    assert world.store.get(token_id).calls == 0  # pending in memory
    world.service.update(token_id, {"limit_calls": 5})
    read = partial(world.service.verify, token_id, None, "entries", write=False)
    assert passed_calls(read, 5) == 2
    world.service.flush()
    assert world.service.fetch(token_id).calls == world.store.get(token_id).calls == 5


def test_a_limit_lifted_goes_back_to_batched_counting(world: World) -> None:
    token_id = world.issue(limit_calls=2).token.token
    world.service.verify(token_id, None, "entries", write=False)
    world.service.update(token_id, {"limit_calls": 0})
    writes = world.store.writes
    for _ in range(5):
        world.service.verify(token_id, None, "entries", write=False)
    assert world.store.writes == writes
    assert world.service.fetch(token_id).calls == 6


class FlushOnReadTokenStore(FakeTokenStore):
    """A FakeTokenStore where, after each read, another thread's flush lands (``on_read``)."""

    def __init__(self) -> None:
        super().__init__()
        self.on_read: Callable[[], None] = lambda: None

    def get(self, token_id: str) -> Token:
        token = super().get(token_id)
        self.on_read()
        return token


def test_a_flush_between_reading_a_token_and_counting_its_call_keeps_the_call_limit() -> None:
    store = FlushOnReadTokenStore()
    service = TokensService(
        store, FakeHasher(), FixedClock(T0), SequenceIdFactory(), flush_every=1000
    )
    token_id = service.create({"limit_calls": 2}).token.token
    store.on_read = service.flush
    passed = passed_calls(lambda: service.verify(token_id, None, "entries", write=False), 4)
    service.flush()
    assert passed == 2
    assert store.get(token_id).calls == 2


# -- update, move, copy, delete ------------------------------------------------------


def test_updating_a_token_changes_the_given_fields_and_modified_at(world: World) -> None:
    issued = world.issue(title="old", apis=["entries"])
    world.clock.advance(30)
    updated = world.service.update(
        issued.token.token, {"title": "new", "state": "disabled", "limit_calls": 9}
    )
    assert updated == Token(
        token=issued.token.token,
        hashed_access_token=issued.token.hashed_access_token,
        uuid=issued.token.uuid,
        created_at=T0,
        modified_at=T0 + 30,
        title="new",
        state="disabled",
        apis=("entries",),
        limit_calls=9,
    )
    assert world.store.get(issued.token.token) == updated


def test_updating_a_token_can_remove_its_expiry(world: World) -> None:
    issued = world.issue(expires_at=T0 + 10)
    assert world.service.update(issued.token.token, {"expires_at": None}).expires_at is None


def test_updating_a_token_with_a_past_expiry_fails_validation(world: World) -> None:
    issued = world.issue()
    world.clock.advance(100)
    with pytest.raises(ValidationFailed) as caught:
        world.service.update(issued.token.token, {"expires_at": T0})
    assert caught.value.details == ["data.expires_at"]
    assert world.store.get(issued.token.token) == issued.token


def test_updating_a_missing_token_is_not_found(world: World) -> None:
    with pytest.raises(TokenNotFound):
        world.service.update("0" * 32, {"title": "x"})


def test_updating_a_token_shows_its_pending_calls(world: World) -> None:
    token_id = world.issue().token.token
    world.service.verify(token_id, None, "entries", write=False)
    assert world.service.update(token_id, {"title": "x"}).calls == 1


def test_moving_a_token_keeps_its_access_token_and_calls(world: World) -> None:
    issued = world.issue()
    old_id = issued.token.token
    world.service.verify(old_id, None, "entries", write=False)
    world.clock.advance(7)
    moved = world.service.move(old_id, "rotated-token-0001")
    assert moved.token == "rotated-token-0001"
    assert moved.calls == 1
    assert moved.uuid == issued.token.uuid
    assert moved.modified_at == T0 + 7
    with pytest.raises(TokenNotFound):
        world.service.fetch(old_id)
    verified = world.service.verify(
        "rotated-token-0001", issued.access_token, "entries", write=True
    )
    assert verified.calls == 2


def test_moving_a_token_onto_an_existing_one_is_a_conflict(world: World) -> None:
    first, second = world.issue().token.token, world.issue().token.token
    with pytest.raises(Conflict):
        world.service.move(first, second)
    assert {t.token for t in world.service.list()} == {first, second}


def test_moving_a_missing_token_is_not_found(world: World) -> None:
    with pytest.raises(TokenNotFound):
        world.service.move("0" * 32, "1" * 32)


def test_copying_a_token_gives_a_new_access_token_and_no_calls(world: World) -> None:
    issued = world.issue(title="t", apis=["entries", "media"], limit_calls=10)
    world.service.verify(issued.token.token, None, "entries", write=False)
    world.service.flush()
    world.clock.advance(50)
    copied = world.service.copy(issued.token.token, "copied-token-0001")
    assert copied.token.token == "copied-token-0001"
    assert copied.token.title == "t"
    assert copied.token.apis == ("entries", "media")
    assert copied.token.limit_calls == 10
    assert copied.token.calls == 0
    assert copied.token.last_used_at is None
    assert copied.token.created_at == T0 + 50
    assert copied.token.uuid != issued.token.uuid
    assert copied.access_token != issued.access_token
    assert world.store.get("copied-token-0001") == copied.token
    world.service.verify("copied-token-0001", copied.access_token, "entries", write=True)
    with pytest.raises(AccessTokenInvalid):
        world.service.verify("copied-token-0001", issued.access_token, "entries", write=True)
    assert world.service.fetch(issued.token.token).calls == 1


def test_copying_onto_an_existing_token_is_a_conflict(world: World) -> None:
    first, second = world.issue().token.token, world.issue().token
    with pytest.raises(Conflict):
        world.service.copy(first, second.token)
    assert world.store.get(second.token) == second


def test_deleting_a_token_removes_it_and_refuses_it(world: World) -> None:
    issued = world.issue()
    world.service.verify(issued.token.token, None, "entries", write=False)
    world.service.delete(issued.token.token)
    assert world.service.list() == []
    with pytest.raises(AccessTokenInvalid):
        world.service.verify(issued.token.token, None, "entries", write=False)
    world.service.flush()
    assert world.store.flushes == []


def test_deleting_a_missing_token_is_not_found(world: World) -> None:
    with pytest.raises(TokenNotFound):
        world.service.delete("0" * 32)


def test_listing_tokens_orders_them_by_id_with_their_pending_calls(world: World) -> None:
    world.service.create({}, "b" * 16)
    world.service.create({}, "a" * 16)
    world.service.verify("b" * 16, None, "entries", write=False)
    listed = world.service.list()
    assert [t.token for t in listed] == ["a" * 16, "b" * 16]
    assert [t.calls for t in listed] == [0, 1]


def test_listing_tokens_leaves_out_the_unreadable_ones_and_names_them(world: World) -> None:
    world.service.create({}, "b" * 16)
    world.service.create({}, "a" * 16)
    world.store.damaged.add("a" * 16)
    assert [t.token for t in world.service.list()] == ["b" * 16]
    assert world.service.unreadable() == ["a" * 16]


def test_an_unreadable_token_can_be_deleted(world: World) -> None:
    world.service.create({}, "a" * 16)
    world.store.damaged.add("a" * 16)
    world.service.delete("a" * 16)
    assert world.service.unreadable() == []


# -- helpers -------------------------------------------------------------------------


def test_generating_a_token_returns_32_hex_and_stores_nothing(world: World) -> None:
    generated = {world.service.generate() for _ in range(3)}
    assert len(generated) == 3
    assert all(HEX32.fullmatch(t) for t in generated)
    assert world.store.list() == []
    assert world.store.writes == 0


def test_a_generated_hash_verifies_its_secret_and_nothing_else(world: World) -> None:
    hashed = world.service.generate_hash("s3cret")
    assert hashed != "s3cret"
    assert hashed.startswith("$2y$")
    assert world.service.verify_hash("s3cret", hashed)
    assert not world.service.verify_hash("other", hashed)
    assert not world.service.verify_hash("s3cret", "not a hash")


def test_a_hash_costlier_than_ours_plus_the_margin_is_refused_unchecked(world: World) -> None:
    # The fake hasher makes hashes of cost 4: 6 is still checked, 7 is refused.
    assert not world.service.verify_hash("s3cret", "$2y$06$fakes3cret")
    with pytest.raises(BadRequest, match="cost 7 is over 6"):
        world.service.verify_hash("s3cret", "$2y$07$fakes3cret")
