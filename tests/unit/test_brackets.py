"""The one parser of bracket keys: PHP's parse_str semantics, round trips, and limits."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flextype_core.errors import BadRequest
from flextype_entrypoints.http.brackets import (
    MAX_DEPTH,
    MAX_FIELDS,
    _pairs,
    encode_brackets,
    parse_brackets,
)


def test_the_seed_filter_query_nests_into_options() -> None:
    raw = (
        "id=movies&options[collection]=true&options[filter][where][0][key]=director"
        "&options[filter][where][0][operator]=eq&options[filter][where][0][value]=Cathy+Yan"
        "&token=6f047babd1894064fbf7662080a9a2f0"
    )
    assert parse_brackets(raw) == {
        "id": "movies",
        "options": {
            "collection": "true",
            "filter": {"where": [{"key": "director", "operator": "eq", "value": "Cathy Yan"}]},
        },
        "token": "6f047babd1894064fbf7662080a9a2f0",
    }


def test_empty_brackets_append_and_a_repeated_key_keeps_the_last_value() -> None:
    assert parse_brackets("value[]=a&value[]=b&x=1&x=2") == {"value": ["a", "b"], "x": "2"}


def test_a_map_with_gaps_in_its_indexes_stays_a_map() -> None:
    parsed = parse_brackets("where[0][key]=a&where[9][operator]=eq")
    assert parsed == {"where": {"0": {"key": "a"}, "9": {"operator": "eq"}}}


def test_percent_encoding_and_plus_are_decoded_in_names_and_values() -> None:
    assert parse_brackets(b"data%5Btitle%5D=Caf%C3%A9+au+lait") == {
        "data": {"title": "Café au lait"}
    }


def test_a_name_without_a_value_is_an_empty_string_and_empty_pieces_are_skipped() -> None:
    assert parse_brackets("a&&b=") == {"a": "", "b": ""}


def test_bytes_that_are_not_utf8_are_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="UTF-8"):
        parse_brackets(b"a=%ff")
    with pytest.raises(BadRequest, match="UTF-8"):
        parse_brackets(b"a=\xff")


def test_too_many_fields_or_too_deep_nesting_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="Too many parameters"):
        parse_brackets("&".join(f"a{i}=1" for i in range(MAX_FIELDS + 1)))
    with pytest.raises(BadRequest, match="deeper"):
        parse_brackets("a" + "[x]" * (MAX_DEPTH + 1) + "=1")


_names = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="[]"), min_size=1)
_leaves = st.text(st.characters(exclude_categories=["Cs"]))
_nested: st.SearchStrategy[Any] = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, min_size=1, max_size=4)
        | st.dictionaries(_names.filter(lambda n: not n.isdigit()), inner, min_size=1, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(_names, _nested, max_size=5))
def test_nested_data_round_trips_through_a_bracket_query_string(data: dict[str, Any]) -> None:
    assert parse_brackets(encode_brackets(data)) == data


@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=80))
def test_pairs_are_split_as_the_standard_library_splits_them(text: str) -> None:
    assert _pairs(text) == parse_qsl(text, keep_blank_values=True)


def test_appending_after_a_non_ascii_digit_key_is_not_a_crash() -> None:
    # Found by schemathesis: '¹'.isdigit() is True, int('¹') raises.
    assert parse_brackets("a[%C2%B9]=x&a[]=y") == {"a": {"¹": "x", "0": "y"}}
