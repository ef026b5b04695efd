"""Cursors: a keyset signed for its query; edited, forged or foreign ones are BadRequest."""

from __future__ import annotations

import base64
import math
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from flextype_core.entries import EntriesService
from flextype_core.errors import BadRequest
from flextype_core.query import cursor, parse_options
from flextype_core.query.model import Keyset, Query
from tests.unit.fakes import FakeEntryStore, FixedClock, SequenceIdFactory

SECRET = b"k" * 32
SORTED: dict[str, Any] = {"filter": {"sort_by": {"key": "title", "direction": "DESC"}}}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


def _query(options: dict[str, Any]) -> Query:
    return parse_options(options)


@given(value=json_values, entry_id=st.from_regex(r"[a-z0-9/-]{1,40}", fullmatch=True))
@example(value=math.inf, entry_id="0")  # JSON has no infinity: it came back as null (CI)
@example(value=[-math.inf, {"a": math.inf}], entry_id="0")
def test_a_keyset_comes_back_as_it_was_encoded(value: Any, entry_id: str) -> None:
    query = _query(SORTED)
    keyset = Keyset(values=(value,), id=entry_id)
    token = cursor.encode(keyset, "movies", query, SECRET)
    assert token.isascii() and all(c.isalnum() or c in "-_." for c in token)
    assert cursor.decode(token, "movies", query, SECRET) == keyset


def test_a_relevance_keyset_keeps_its_score() -> None:
    query = _query({"search": {"q": "dune"}})
    keyset = Keyset(score=1.25, id="movies/dune")
    token = cursor.encode(keyset, "", query, SECRET)
    assert cursor.decode(token, "", query, SECRET) == keyset


def test_the_page_size_return_and_projection_may_change_between_pages() -> None:
    token = cursor.encode(Keyset(values=("b",), id="m/b"), "m", _query(SORTED), SECRET)
    other = _query({"filter": {**SORTED["filter"], "limit": 5, "only": ["title"]}})
    assert cursor.decode(token, "m", other, SECRET).id == "m/b"


def _flipped(token: str, position: int) -> str:
    """``token`` with one bit changed in the byte at ``position`` of its decoded payload."""
    payload, _, mac = token.partition(".")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[position] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode() + "." + mac


def test_an_edited_byte_anywhere_is_refused() -> None:
    query = _query(SORTED)
    token = cursor.encode(Keyset(values=("Dune",), id="movies/dune"), "movies", query, SECRET)
    length = len(token.partition(".")[0]) * 3 // 4
    for position in range(length):
        with pytest.raises(BadRequest, match=r"options\[filter\]\[after\] is not a cursor"):
            cursor.decode(_flipped(token, position), "movies", query, SECRET)
    payload, _, mac = token.partition(".")
    edited_mac = payload + "." + ("A" if mac[0] != "A" else "B") + mac[1:]
    with pytest.raises(BadRequest):
        cursor.decode(edited_mac, "movies", query, SECRET)


@pytest.mark.parametrize(
    "garbage", ["x", ".", "abc.", ".abc", "!!!.!!!", "a.b.c", "eyJ9.AAAA", "é.é"]
)
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(BadRequest):
        cursor.decode(garbage, "movies", _query(SORTED), SECRET)


@pytest.mark.parametrize(
    ("parent", "options"),
    [
        ("books", SORTED),  # another parent
        ("movies", {**SORTED, "find": {"depth": 2}}),
        ("movies", {"filter": {**SORTED["filter"], "where": {"year": {"gt": 1}}}}),
        ("movies", {"filter": {"sort_by": {"key": "title", "direction": "ASC"}}}),
        ("movies", {"filter": {"sort_by": {"key": "year", "direction": "DESC"}}}),
        ("movies", {**SORTED, "search": {"q": "dune"}}),
    ],
)
def test_a_cursor_of_another_query_is_refused(parent: str, options: dict[str, Any]) -> None:
    token = cursor.encode(
        Keyset(values=("Dune",), id="movies/dune"), "movies", _query(SORTED), SECRET
    )
    with pytest.raises(BadRequest):
        cursor.decode(token, parent, _query(options), SECRET)


def test_a_cursor_of_another_server_is_refused() -> None:
    query = _query(SORTED)
    token = cursor.encode(Keyset(values=("Dune",), id="movies/dune"), "movies", query, SECRET)
    with pytest.raises(BadRequest):
        cursor.decode(token, "movies", query, b"o" * 32)


def test_memory_secrets_are_made_once_per_name() -> None:
    store = cursor.MemorySecrets()
    first = store.secret("cursors")
    assert len(first) == 32
    assert store.secret("cursors") == first
    assert store.secret("other") != first


def _service(store: FakeEntryStore, secrets: cursor.MemorySecrets) -> EntriesService:
    return EntriesService(store, FixedClock(), SequenceIdFactory(), secrets=secrets)


def test_next_walks_the_collection_and_ends_on_the_last_page() -> None:
    store = FakeEntryStore()
    service = _service(store, cursor.MemorySecrets())
    for n in range(7):
        service.create(f"m/{n}", {"title": f"t{n % 3}"})
    options: dict[str, Any] = {"filter": {"sort_by": {"key": "title"}, "limit": 3}}
    seen: list[str] = []
    pages = 0
    while True:
        page = service.query("m", options)
        pages += 1
        assert page.meta is not None and page.meta.total == 7
        seen += [item["id"] for item in page.data]
        if page.meta.next is None:
            break
        options = {"filter": {**options["filter"], "after": page.meta.next}}
    assert pages == 3
    assert seen == ["m/0", "m/3", "m/6", "m/1", "m/4", "m/2", "m/5"]


def test_no_next_without_limit_when_the_page_is_whole_or_for_one_item() -> None:
    store = FakeEntryStore()
    service = _service(store, cursor.MemorySecrets())
    for n in range(3):
        service.create(f"m/{n}", {})

    def next_of(filters: dict[str, Any]) -> str | None:
        meta = service.query("m", {"filter": filters}).meta
        assert meta is not None
        return meta.next

    assert next_of({}) is None
    assert next_of({"limit": 3}) is None
    assert next_of({"limit": 2, "offset": 1}) is None
    assert next_of({"limit": 2, "return": "first"}) is None
    assert next_of({"limit": 2, "return": "shuffle"}) is None
    assert next_of({"limit": 2}) is not None
    assert next_of({"limit": 2, "group_by": "title"}) is not None
    assert next_of({"limit": 1, "offset": 1}) is not None


def test_a_cursor_from_another_service_secret_is_400() -> None:
    store = FakeEntryStore()
    first = _service(store, cursor.MemorySecrets())
    for n in range(3):
        first.create(f"m/{n}", {})
    meta = first.query("m", {"filter": {"limit": 1}}).meta
    assert meta is not None and meta.next is not None
    other = _service(store, cursor.MemorySecrets())
    with pytest.raises(BadRequest):
        other.query("m", {"filter": {"limit": 1, "after": meta.next}})
    same = _service(store, first._secrets)  # type: ignore[arg-type]
    assert same.query("m", {"filter": {"limit": 1, "after": meta.next}}).data[0]["id"] == "m/1"


def test_a_walk_comes_back_with_its_keyset_and_none_without_one() -> None:
    query = _query(SORTED)
    keyset = Keyset(values=("Dune",), id="movies/dune")
    walk = cursor.Walk(epoch="k3x9", position=41)
    token = cursor.encode(keyset, "movies", query, SECRET, walk)
    assert cursor.read(token, "movies", query, SECRET) == (keyset, walk)
    assert cursor.read(cursor.encode(keyset, "movies", query, SECRET), "movies", query, SECRET) == (
        keyset,
        None,
    )
