"""Answers encoded once: the same bytes and ETags as encoding twice gave; a bounded LRU."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from flextype_core.byte_lru import ByteLru
from flextype_core.etags import entity_tag
from flextype_core.model import PageMeta
from flextype_entrypoints.http.answers import data_answer, page_tag, params_key, payload_answer
from flextype_entrypoints.http.responses import Data

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_a_data_answer_is_what_encoding_the_body_and_tagging_the_value_gave(value: Any) -> None:
    answer = data_answer(value)
    assert answer.body == msgspec.json.encode(Data(data=value))
    assert answer.etag == entity_tag(value)


@given(st.lists(json_values, max_size=5), st.integers(0, 100))
def test_a_page_answer_is_tagged_as_its_whole_body(items: list[Any], total: int) -> None:
    payload = Data(data=items, meta=PageMeta(total=total, offset=0, limit=None))
    answer = payload_answer(payload, {"X-Changes-Cursor": "c"}, next="n")
    assert answer.body == msgspec.json.encode(payload)
    assert answer.etag == page_tag(answer.body)
    assert answer.headers == {"X-Changes-Cursor": "c"}
    assert answer.next == "n"


def test_a_page_tag_is_strong_and_changes_with_any_byte() -> None:
    body = b'{"data":[{"id":"a"}],"meta":{"total":1}}'
    tag = page_tag(body)
    assert tag.startswith('"') and tag.endswith('"') and len(tag) == 34
    assert page_tag(body) == tag
    for i in range(len(body)):
        changed = body[:i] + bytes([body[i] ^ 1]) + body[i + 1 :]
        assert page_tag(changed) != tag


def test_the_parameters_key_leaves_out_credentials_and_keeps_the_order_given() -> None:
    one = params_key({"id": "a", "token": "t1", "options": {"b": "1", "a": "2"}})
    assert one == params_key({"id": "a", "access_token": "x", "options": {"b": "1", "a": "2"}})
    # The order given can decide the answer ([01] and [1] are one index): another key.
    assert one != params_key({"options": {"a": "2", "b": "1"}, "id": "a"})
    assert one != params_key({"id": "b", "options": {"b": "1", "a": "2"}})
    assert params_key({"id": object()}) is None  # cannot be a key: never kept


def test_the_lru_keeps_the_most_recent_within_its_bytes() -> None:
    lru: ByteLru[bytes] = ByteLru(10, len)
    lru.put("a", b"aaaa")
    lru.put("b", b"bbbb")
    assert lru.get("a") == b"aaaa"  # now the most recent
    lru.put("c", b"cccc")  # 12 bytes: the least recent ("b") goes
    assert lru.get("b") is None
    assert (lru.get("a"), lru.get("c")) == (b"aaaa", b"cccc")
    assert lru.bytes == 8
    lru.put("a", b"a")  # replaced: its old size is given back
    assert lru.bytes == 5
    lru.put("big", b"x" * 11)  # over the whole budget: never kept, nothing dropped
    assert lru.get("big") is None
    lru.put("big", b"x" * 4, extra=7)  # a long key counts too
    assert lru.get("big") is None
    assert len(lru) == 2
    lru.clear()
    assert (len(lru), lru.bytes) == (0, 0)


def test_a_zero_budget_keeps_nothing() -> None:
    lru: ByteLru[bytes] = ByteLru(0, len)
    lru.put("a", b"a")
    assert lru.get("a") is None
    assert lru.bytes == 0
