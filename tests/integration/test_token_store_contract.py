"""One contract, every TokenStore: the same operations give the same results and errors.

The stores: ``tests.integration.stores.TOKEN_STORES``.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier as BarrierType
from pathlib import Path

import msgspec
import pytest

from flextype_adapters.tinydb_store import TinyDBTokenStore, open_tinydb
from flextype_adapters.yaml_tokens import YamlFilesTokenStore
from flextype_core import CallLimitExceeded, Conflict, Token, TokenNotFound
from flextype_core.model import CallCount
from flextype_core.ports import TokenStore
from tests.call_limits import passed_calls, together
from tests.integration.stores import TOKEN_STORES


@pytest.fixture(params=TOKEN_STORES)
def tokens(request: pytest.FixtureRequest) -> TokenStore:
    token_store: TokenStore = request.getfixturevalue(request.param)
    return token_store


def _token(token_id: str, **changes: object) -> Token:
    token = Token(
        token=token_id,
        hashed_access_token="$2y$10$" + "x" * 53,
        uuid="00000000-0000-4000-8000-000000000001",
        created_at=1_700_000_000,
        modified_at=1_700_000_000,
    )
    return msgspec.structs.replace(token, **changes)


def test_a_created_token_reads_back_equal(tokens: TokenStore) -> None:
    token = _token(
        "a" * 32,
        title="Café ☕",
        apis=("entries", "registry"),
        limit_calls=10,
        expires_at=1_800_000_000,
        state="disabled",
    )
    tokens.create(token)
    assert tokens.get("a" * 32) == token


def test_a_missing_token_is_not_found(tokens: TokenStore) -> None:
    with pytest.raises(TokenNotFound):
        tokens.get("b" * 32)
    with pytest.raises(TokenNotFound):
        tokens.delete("b" * 32)
    with pytest.raises(TokenNotFound):
        tokens.update("b" * 32, lambda t: t)
    with pytest.raises(TokenNotFound):
        tokens.move("b" * 32, "c" * 32, 1)


def test_creating_an_existing_token_conflicts(tokens: TokenStore) -> None:
    tokens.create(_token("a" * 32))
    with pytest.raises(Conflict):
        tokens.create(_token("a" * 32, title="again"))
    assert tokens.get("a" * 32).title == ""


def test_tokens_are_listed_by_id_in_code_point_order(tokens: TokenStore) -> None:
    for token_id in ("b" * 32, "A" * 20, "a" * 32, "_" * 16):
        tokens.create(_token(token_id))
    assert [t.token for t in tokens.list()] == sorted(["b" * 32, "A" * 20, "a" * 32, "_" * 16])


def test_update_replaces_the_token(tokens: TokenStore) -> None:
    tokens.create(_token("a" * 32))
    updated = tokens.update("a" * 32, lambda t: msgspec.structs.replace(t, title="new"))
    assert updated.title == "new"
    assert tokens.get("a" * 32) == updated


def test_move_renames_the_token_and_refuses_a_taken_id(tokens: TokenStore) -> None:
    tokens.create(_token("a" * 32, title="first"))
    tokens.create(_token("b" * 32))
    with pytest.raises(Conflict):
        tokens.move("a" * 32, "b" * 32, 5)
    moved = tokens.move("a" * 32, "c" * 32, 1_700_000_500)
    assert moved == _token("c" * 32, title="first", modified_at=1_700_000_500)
    assert tokens.get("c" * 32) == moved
    assert [t.token for t in tokens.list()] == ["b" * 32, "c" * 32]


def test_delete_removes_the_token(tokens: TokenStore) -> None:
    tokens.create(_token("a" * 32))
    tokens.delete("a" * 32)
    assert tokens.list() == []


class RefusedError(Exception):
    """What the tests' ``expect`` raises: the write must not happen."""


def _refuse(current: Token) -> None:
    raise RefusedError(current.token)


def test_what_expect_raises_aborts_a_move_or_delete_with_nothing_written(
    tokens: TokenStore,
) -> None:
    tokens.create(_token("a" * 32))
    with pytest.raises(RefusedError):
        tokens.move("a" * 32, "c" * 32, 5, expect=_refuse)
    with pytest.raises(RefusedError):
        tokens.delete("a" * 32, expect=_refuse)
    assert tokens.list() == [_token("a" * 32)]


def test_expect_sees_the_token_as_it_is_now(tokens: TokenStore) -> None:
    tokens.create(_token("a" * 32))
    tokens.update("a" * 32, lambda t: msgspec.structs.replace(t, title="new"))
    seen: list[Token] = []
    tokens.move("a" * 32, "c" * 32, 1_700_000_500, expect=seen.append)
    tokens.add_calls({"c" * 32: CallCount(calls=2, last_used_at=1_700_000_600)})
    tokens.delete("c" * 32, expect=seen.append)
    assert seen == [
        _token("a" * 32, title="new"),
        _token(
            "c" * 32, title="new", modified_at=1_700_000_500, calls=2, last_used_at=1_700_000_600
        ),
    ]
    assert tokens.list() == []


def test_not_found_and_conflicts_come_before_expect(tokens: TokenStore) -> None:
    tokens.create(_token("a" * 32))
    tokens.create(_token("b" * 32))
    with pytest.raises(TokenNotFound):
        tokens.move("z" * 32, "c" * 32, 5, expect=_refuse)
    with pytest.raises(TokenNotFound):
        tokens.delete("z" * 32, expect=_refuse)
    with pytest.raises(Conflict):
        tokens.move("a" * 32, "b" * 32, 5, expect=_refuse)


@pytest.mark.parametrize("verb", ["move", "delete"])
def test_expect_runs_in_the_same_step_as_the_write(tokens: TokenStore, verb: str) -> None:
    # An update started while expect runs must wait for the write, then find no token.
    tokens.create(_token("a" * 32))
    outcome: list[str] = []

    def rename() -> None:
        try:
            tokens.update("a" * 32, lambda t: msgspec.structs.replace(t, title="late"))
            outcome.append("updated")
        except TokenNotFound:
            outcome.append("gone")

    other = threading.Thread(target=rename)

    def expect(current: Token) -> None:
        other.start()
        other.join(0.3)
        assert other.is_alive()  # held off by the write's lock

    if verb == "move":
        tokens.move("a" * 32, "c" * 32, 5, expect=expect)
    else:
        tokens.delete("a" * 32, expect=expect)
    other.join(60)
    assert outcome == ["gone"]
    assert [t.title for t in tokens.list()] == ([""] if verb == "move" else [])


def test_call_counts_are_added_and_vanished_tokens_skipped(tokens: TokenStore) -> None:
    tokens.create(_token("a" * 32, calls=5))
    tokens.create(_token("b" * 32))
    at_100, at_200 = 1_700_000_100, 1_700_000_200
    tokens.add_calls(
        {
            "a" * 32: CallCount(calls=3, last_used_at=at_100),
            "b" * 32: CallCount(calls=1, last_used_at=at_100),
            "z" * 32: CallCount(calls=9, last_used_at=at_100),
        }
    )
    tokens.add_calls({"a" * 32: CallCount(calls=2, last_used_at=at_200)})
    first, second = tokens.list()
    assert (first.calls, first.last_used_at) == (10, 1_700_000_200)
    assert (second.calls, second.last_used_at) == (1, 1_700_000_100)
    with pytest.raises(TokenNotFound):
        tokens.get("z" * 32)


def test_exclusive_holds_off_other_writers_and_lets_its_own_calls_through(
    tokens: TokenStore,
) -> None:
    tokens.create(_token("a" * 16))
    with tokens.exclusive():
        tokens.update("a" * 16, lambda t: msgspec.structs.replace(t, title="mine"))
        other = threading.Thread(
            target=lambda: tokens.update(
                "a" * 16, lambda t: msgspec.structs.replace(t, title="other")
            )
        )
        other.start()
        other.join(0.3)
        assert other.is_alive()  # waiting for the block to end
        assert tokens.get("a" * 16).title == "mine"
    other.join(60)
    assert tokens.get("a" * 16).title == "other"


def test_a_store_holding_tokens_answers_its_health_check(tokens: TokenStore) -> None:
    tokens.create(_token("a" * 32))
    tokens.check()


# -- spending a limited token: one atomic step, exact across threads and processes -------


def test_spend_adds_one_call_and_returns_the_token_as_stored(tokens: TokenStore) -> None:
    tokens.create(_token("a" * 32, limit_calls=3, calls=1, last_used_at=1_700_000_300))
    spent = tokens.spend("a" * 32, 1_700_000_100)
    # last_used_at stays the later of the stored one and the call's, as for add_calls.
    assert (spent.calls, spent.last_used_at) == (2, 1_700_000_300)
    assert tokens.get("a" * 32) == spent
    assert tokens.spend("a" * 32, 1_700_000_400).last_used_at == 1_700_000_400


def test_spend_refuses_a_used_up_token_and_writes_nothing(tokens: TokenStore) -> None:
    tokens.create(_token("a" * 32, limit_calls=2, calls=1))
    tokens.spend("a" * 32, 1_700_000_100)
    before = tokens.get("a" * 32)
    with pytest.raises(CallLimitExceeded, match="2"):
        tokens.spend("a" * 32, 1_700_000_200)
    assert tokens.get("a" * 32) == before
    # A token whose stored count is past its limit (the limit lowered) is refused too.
    tokens.update("a" * 32, lambda t: msgspec.structs.replace(t, limit_calls=1))
    with pytest.raises(CallLimitExceeded):
        tokens.spend("a" * 32, 1_700_000_200)
    assert tokens.get("a" * 32).calls == 2


def test_spend_of_an_unlimited_token_adds_one_and_of_a_missing_one_is_not_found(
    tokens: TokenStore,
) -> None:
    tokens.create(_token("a" * 32, calls=7))
    assert tokens.spend("a" * 32, 1_700_000_100).calls == 8
    with pytest.raises(TokenNotFound):
        tokens.spend("b" * 32, 1_700_000_100)


def test_concurrent_spends_from_threads_pass_the_limit_exactly(tokens: TokenStore) -> None:
    tokens.create(_token("a" * 32, limit_calls=30))

    def client() -> int:
        return passed_calls(lambda: tokens.spend("a" * 32, 1_700_000_100), 10)

    assert sum(together(6, client)) == 30
    assert tokens.get("a" * 32).calls == 30


def _open_store(kind: str, path: Path) -> tuple[TokenStore, Callable[[], None]]:
    """A store of ``kind`` over ``path`` (the ``tokens`` folder or ``db.json``), and its closer."""
    if kind == "yaml":
        return YamlFilesTokenStore(root=path), lambda: None
    db = open_tinydb(path)
    return TinyDBTokenStore(db), db.close


def _spend_in_a_process(
    kind: str, path: Path, start: BarrierType, times: int, passed: Queue[int]
) -> None:
    store, close = _open_store(kind, path)
    start.wait()
    ok = passed_calls(lambda: store.spend("a" * 32, 1_700_000_100), times)
    close()
    passed.put(ok)


@pytest.mark.parametrize("kind", ["yaml", "tinydb"])
def test_concurrent_spends_from_processes_pass_the_limit_exactly(kind: str, tmp_path: Path) -> None:
    path = tmp_path / ("tokens" if kind == "yaml" else "db.json")
    store, close = _open_store(kind, path)
    store.create(_token("a" * 32, limit_calls=25))
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(4)
    passed: Queue[int] = context.Queue()
    workers = [
        context.Process(target=_spend_in_a_process, args=(kind, path, start, 15, passed))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    results = [passed.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0] * 4
    assert sum(results) == 25
    assert store.get("a" * 32).calls == 25
    close()
