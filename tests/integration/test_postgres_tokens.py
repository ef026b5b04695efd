"""The PostgreSQL token store beyond the shared contract: atomic spends, expect, the log."""

from __future__ import annotations

import threading

import pytest

from flextype_adapters.postgres.database import PostgresDatabase
from flextype_adapters.postgres.tokens import PostgresTokenStore
from flextype_core import CallLimitExceeded, Conflict, PreconditionFailed, TokenNotFound
from flextype_core.model import CallCount, Token
from flextype_core.ports import TokenStore


def _as_port(store: PostgresTokenStore) -> TokenStore:
    return store  # mypy --strict checks the adapter against the port here


def _token(token_id: str, **changes: object) -> Token:
    fields: dict[str, object] = {
        "token": token_id,
        "hashed_access_token": "$2b$04$" + "x" * 53,
        "uuid": "6f1c2a52-0b7e-4c8e-9a51-3f3d5a0d2b11",
        "created_at": 1,
        "modified_at": 1,
        **changes,
    }
    return Token(**fields)  # type: ignore[arg-type]


def _token_changes(db: PostgresDatabase) -> list[tuple[str, str]]:
    rows = db.run(
        lambda tx: tx.execute(
            "SELECT id, op FROM changes WHERE kind = 'tokens' ORDER BY seq"
        ).fetchall()
    )
    return [(row[0], row[1]) for row in rows]


def test_spends_of_a_limited_token_from_many_threads_and_two_servers_pass_exactly_n(
    pg_database: PostgresDatabase, postgres_url: str
) -> None:
    second = PostgresDatabase(postgres_url, schema=pg_database.schema, pool_size=6)
    stores = [PostgresTokenStore(pg_database), PostgresTokenStore(second)]
    stores[0].create(_token("limited-token-0001", limit_calls=25))
    passed: list[int] = []
    refused: list[int] = []
    start = threading.Barrier(8)

    def spend(store: PostgresTokenStore) -> None:
        start.wait()
        for _ in range(10):
            try:
                passed.append(store.spend("limited-token-0001", 100).calls)
            except CallLimitExceeded:
                refused.append(1)

    threads = [threading.Thread(target=spend, args=(stores[i % 2],)) for i in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert sorted(passed) == list(range(1, 26))
        assert len(refused) == 80 - 25
        assert stores[1].get("limited-token-0001").calls == 25
    finally:
        second.close()


def test_spend_counts_and_keeps_the_later_time(pg_token_store: PostgresTokenStore) -> None:
    pg_token_store.create(_token("plain-token-00001", last_used_at=50))
    assert pg_token_store.spend("plain-token-00001", 40).last_used_at == 50
    spent = pg_token_store.spend("plain-token-00001", 60)
    assert (spent.calls, spent.last_used_at) == (2, 60)
    with pytest.raises(TokenNotFound):
        pg_token_store.spend("missing-token-0001", 60)


def test_add_calls_adds_to_what_is_stored_and_skips_deleted_tokens(
    pg_token_store: PostgresTokenStore, pg_database: PostgresDatabase
) -> None:
    pg_token_store.create(_token("counted-token-001", calls=5))
    pg_token_store.add_calls(
        {
            "counted-token-001": CallCount(calls=3, last_used_at=7),
            "deleted-token-001": CallCount(calls=1, last_used_at=7),
        }
    )
    pg_token_store.add_calls({"counted-token-001": CallCount(calls=2, last_used_at=3)})
    token = pg_token_store.get("counted-token-001")
    assert (token.calls, token.last_used_at) == (10, 7)
    assert _token_changes(pg_database) == [
        ("counted-token-001", op) for op in ("create", "update", "update")
    ]


def test_move_runs_expect_after_the_checks_and_a_refusal_moves_nothing(
    pg_token_store: PostgresTokenStore, pg_database: PostgresDatabase
) -> None:
    pg_token_store.create(_token("first-token-0001"))
    pg_token_store.create(_token("taken-token-0001"))

    def refuse(_token: Token) -> None:
        raise PreconditionFailed("The token has changed.")

    with pytest.raises(Conflict):
        pg_token_store.move("first-token-0001", "taken-token-0001", 9, expect=refuse)
    with pytest.raises(PreconditionFailed):
        pg_token_store.move("first-token-0001", "other-token-0001", 9, expect=refuse)
    seen: list[Token] = []
    moved = pg_token_store.move("first-token-0001", "other-token-0001", 9, expect=seen.append)
    assert seen == [_token("first-token-0001")]
    assert (moved.token, moved.modified_at) == ("other-token-0001", 9)
    assert [t.token for t in pg_token_store.list()] == ["other-token-0001", "taken-token-0001"]
    assert _token_changes(pg_database)[2:] == [
        ("first-token-0001", "delete"),
        ("other-token-0001", "create"),
    ]


def test_delete_runs_expect_and_a_refusal_deletes_nothing(
    pg_token_store: PostgresTokenStore,
) -> None:
    pg_token_store.create(_token("doomed-token-0001"))

    def refuse(_token: Token) -> None:
        raise PreconditionFailed("The token has changed.")

    with pytest.raises(PreconditionFailed):
        pg_token_store.delete("doomed-token-0001", expect=refuse)
    seen: list[Token] = []
    pg_token_store.delete("doomed-token-0001", expect=seen.append)
    assert [t.token for t in seen] == ["doomed-token-0001"]
    with pytest.raises(TokenNotFound):
        pg_token_store.delete("doomed-token-0001", expect=seen.append)


def test_a_damaged_token_row_is_named_not_fatal_to_the_list(
    pg_token_store: PostgresTokenStore, pg_database: PostgresDatabase
) -> None:
    pg_token_store.create(_token("good-token-00001"))
    pg_token_store.create(_token("bad-token-000001"))
    pg_database.run(
        lambda tx: tx.execute("UPDATE tokens SET body = %s WHERE id = 'bad-token-000001'", [b"{}"])
    )
    assert [t.token for t in pg_token_store.list()] == ["good-token-00001"]
    assert pg_token_store.unreadable() == ["bad-token-000001"]
