"""Token call counts against If-Match and the store's locks: no deadlock, no spurious 412."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from dependency_injector import providers
from litestar.testing import TestClient

from flextype_adapters.tinydb_store import TinyDBTokenStore, open_tinydb
from flextype_adapters.yaml_tokens import YamlFilesTokenStore
from flextype_core.etags import entity_tag
from flextype_core.model import Token
from flextype_core.tokens import TokensService
from flextype_entrypoints.container import build_container
from flextype_entrypoints.http.app import create_app
from flextype_entrypoints.scaffold import create_project
from tests.unit.fakes import FakeHasher, FixedClock, SequenceIdFactory


class _LinedUpStore(TinyDBTokenStore):
    """Pauses ``get`` so that a verify and a conditional update meet mid-way.

    The verify's first read sees a flush land right after it (so the verify reads again);
    its second read waits until the update holds the database's lock, and the update's
    read (inside that lock) waits until the verify is at its second read.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(open_tinydb(path))
        self.service: TokensService | None = None
        self.verify_reads = 0
        self.verify_rereads = threading.Event()
        self.update_holds_lock = threading.Event()

    def get(self, token_id: str) -> Token:
        name = threading.current_thread().name
        if name == "verify":
            self.verify_reads += 1
            if self.verify_reads == 1:
                read = super().get(token_id)
                assert self.service is not None
                self.service.flush()
                return read
            self.verify_rereads.set()
            self.update_holds_lock.wait(30)
        elif name == "update":
            self.update_holds_lock.set()
            self.verify_rereads.wait(30)
        return super().get(token_id)


def test_a_conditional_token_update_and_a_verify_after_a_flush_never_deadlock(
    tmp_path: Path,
) -> None:
    # The update checks If-Match against the counted calls while it holds the database's
    # lock; the verify reads the token again after a flush. Neither may then wait for a
    # lock the other holds.
    store = _LinedUpStore(tmp_path / "db.json")
    service = TokensService(store, FakeHasher(), FixedClock(), SequenceIdFactory(), autoflush=False)
    store.service = service
    token_id = service.create({"title": "t"}).token.token
    service.verify(token_id, None, "entries", write=False)  # something for the flush
    etag = entity_tag(service.fetch(token_id).to_public())
    threads = [
        threading.Thread(
            name="verify",
            target=lambda: service.verify(token_id, None, "entries", write=False),
            daemon=True,
        ),
        threading.Thread(
            name="update",
            target=lambda: service.update(token_id, {"title": "x"}, if_match=etag),
            daemon=True,
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "deadlock"
    assert service.fetch(token_id).title == "x"


def test_a_flush_does_not_change_a_token_or_its_etag(tmp_path: Path) -> None:
    store = TinyDBTokenStore(open_tinydb(tmp_path / "db.json"))
    clock = FixedClock()
    service = TokensService(store, FakeHasher(), clock, SequenceIdFactory(), autoflush=False)
    token_id = service.create({"title": "t"}).token.token
    service.verify(token_id, None, "entries", write=False)
    clock.advance(30)
    before = service.fetch(token_id)
    service.flush()
    assert service.fetch(token_id) == before
    assert before.calls == 1 and before.last_used_at == clock.now() - 30


def test_a_token_used_before_it_was_read_moves_with_the_etag_of_that_read(
    tmp_path: Path,
) -> None:
    project = tmp_path / "p"
    issued = create_project(project, driver="yaml")
    auth = {"token": issued.token.token, "access_token": issued.access_token}
    with TestClient(create_app(build_container(project, {}))) as client:
        other = "b" * 16
        body = {"id": other, "data": {"title": "b", "apis": ["entries"]}, **auth}
        assert client.post("/api/tokens", json=body).status_code == 200
        client.get("/api/entries", params={"token": other, "id": "movies/dune"})
        etag = client.get("/api/tokens", params={"token": auth["token"], "id": other}).headers[
            "etag"
        ]
        moved = client.put(
            "/api/tokens",
            json={"id": other, "new_id": "c" * 16, **auth},
            headers={"If-Match": etag},
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["data"]["calls"] == 1


class _GatedSpends(YamlFilesTokenStore):
    """Holds every ``spend`` until released, as a lock held by another worker would."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.spending = threading.Event()
        self.release = threading.Event()

    def spend(self, token_id: str, at: int) -> Token:
        self.spending.set()
        self.release.wait(30)
        return super().spend(token_id, at)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/entries", {"id": "movies/dune"}),
        ("/api/registry", {"id": "flextype.manifest.name"}),
        ("/api/images/demo/flextype.png", {"w": "10"}),
    ],
    ids=["entries", "registry", "images"],
)
def test_a_limited_token_waiting_for_the_store_holds_up_no_other_request(
    tmp_path: Path, path: str, params: dict[str, str]
) -> None:
    # These handlers run on the event loop; a limited token's spend waits for a lock
    # the other workers share, so it must wait in a thread, not stall the loop.
    project = tmp_path / "p"
    issued = create_project(project, driver="yaml")
    container = build_container(project, {})
    store = _GatedSpends(project / "tokens")
    container.token_store.override(providers.Object(store))
    limited = container.tokens().create({"limit_calls": 5, "apis": ["*"]}).token.token
    with TestClient(create_app(container)) as client, ThreadPoolExecutor(2) as pool:
        waiting = pool.submit(client.get, path, params={**params, "token": limited})
        assert store.spending.wait(20)
        other = pool.submit(client.get, path, params={**params, "token": issued.token.token})
        try:
            assert other.result(timeout=20).status_code == 200
        finally:
            store.release.set()
        assert waiting.result(timeout=20).status_code == 200
    assert store.get(limited).calls == 1
