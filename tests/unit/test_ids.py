"""Entry and token ids: which forms are accepted, and how ids relate to each other."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flextype_core import ids
from flextype_core.errors import BadRequest, InvalidId, shown

SEGMENT_ALPHABET = "abcXYZ019_-"

segments = st.text(alphabet=SEGMENT_ALPHABET, min_size=1, max_size=12)
valid_ids = (
    st.lists(segments, min_size=1, max_size=6)
    .map("/".join)
    .filter(lambda i: len(i) <= ids.MAX_ID_LENGTH)
)
no_database = settings(database=None)


# -- examples ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "movies",
        "movies/2019/the-platform",
        "A_b-9",
        "a/b/c/d/e/f/g",
        "x" * ids.MAX_ID_LENGTH,
        "/".join(["ab"] * 85),
    ],
)
def test_a_slug_path_is_accepted_unchanged(raw: str) -> None:
    assert ids.parse_entry_id(raw) == raw


@pytest.mark.parametrize(
    "raw",
    [
        "..",
        ".",
        "movies/..",
        "../etc/passwd",
        "movies/./x",
        "movies/../..",
        "/movies",
        "movies/",
        "/",
        "movies//x",
        "",
        "movies\x00x",
        "\x00",
        "movies\\x",
        "..\\..\\windows",
        "x" * (ids.MAX_ID_LENGTH + 1),
        "/".join(["ab"] * 86),
        "movies/the platform",
        "movies/é",
        "movies/file.txt",
        "movies:x",
        "~/x",
    ],
)
def test_an_id_that_is_not_a_slug_path_is_rejected_with_a_message_naming_it(raw: str) -> None:
    with pytest.raises(InvalidId) as caught:
        ids.parse_entry_id(raw)
    assert shown(raw) in caught.value.message
    assert str(caught.value) == caught.value.message


@pytest.mark.parametrize("raw", ["../etc/passwd", "a/../../b", "a\\..\\b", "/etc/shadow"])
def test_a_rejected_id_message_names_no_path_on_disk(raw: str) -> None:
    with pytest.raises(InvalidId) as caught:
        ids.parse_entry_id(raw)
    message = caught.value.message
    assert "entry.yaml" not in message
    assert "/work" not in message
    assert "entries/" not in message


def test_an_invalid_id_is_a_bad_request() -> None:
    with pytest.raises(BadRequest) as caught:
        ids.parse_entry_id("..")
    assert caught.value.code == "BadRequest"


def test_a_message_for_a_very_long_id_stays_short() -> None:
    with pytest.raises(InvalidId) as caught:
        ids.parse_entry_id("y" * 10_000)
    assert len(caught.value.message) < 300
    assert "yyyy" in caught.value.message


def test_a_nul_in_an_id_is_escaped_in_the_message() -> None:
    with pytest.raises(InvalidId) as caught:
        ids.parse_entry_id("a\x00b")
    assert "\x00" not in caught.value.message
    assert "a\\x00b" in caught.value.message


@pytest.mark.parametrize("raw", [None, 42, 4.2, b"movies", ["movies"], {"id": "movies"}, True])
def test_an_entry_id_that_is_not_a_string_is_rejected(raw: object) -> None:
    with pytest.raises(InvalidId, match="expected a string"):
        ids.parse_entry_id(raw)


@pytest.mark.parametrize("raw", ["", "/"])
def test_an_empty_parent_id_or_a_slash_names_the_root(raw: str) -> None:
    assert ids.parse_parent_id(raw) == ids.ROOT


def test_a_parent_id_may_be_any_entry_id() -> None:
    assert ids.parse_parent_id("movies/2019") == "movies/2019"


@pytest.mark.parametrize("raw", ["..", "/movies", "movies/", "a//b", "a\\b"])
def test_an_invalid_parent_id_is_rejected(raw: str) -> None:
    with pytest.raises(InvalidId):
        ids.parse_parent_id(raw)


@pytest.mark.parametrize("raw", [None, 42, b"/", ["movies"], {"id": "x"}, {"a", "b"}])
def test_a_parent_id_that_is_not_a_string_is_an_invalid_id(raw: object) -> None:
    with pytest.raises(InvalidId):
        ids.parse_parent_id(raw)


@pytest.mark.parametrize(
    "raw", ["a" * 16, "A-z_09" * 10 + "abcd", "0123456789abcdef0123456789abcdef"]
)
def test_a_token_id_of_16_to_64_slug_characters_is_accepted(raw: str) -> None:
    assert ids.parse_token_id(raw) == raw


@pytest.mark.parametrize(
    "raw", ["a" * 15, "a" * 65, "", "a" * 15 + "/", "a" * 15 + ".", "../" * 6, "a" * 15 + "\x00"]
)
def test_a_token_id_outside_16_to_64_slug_characters_is_rejected(raw: str) -> None:
    with pytest.raises(InvalidId) as caught:
        ids.parse_token_id(raw)
    assert shown(raw) in caught.value.message


@pytest.mark.parametrize("raw", [None, 1234567890123456, b"a" * 16])
def test_a_token_id_that_is_not_a_string_is_rejected(raw: object) -> None:
    with pytest.raises(InvalidId, match="expected a string"):
        ids.parse_token_id(raw)


def test_the_parent_of_a_top_level_entry_is_the_root() -> None:
    assert ids.parent_of("movies") == ids.ROOT


def test_the_parent_of_a_nested_entry_drops_its_last_segment() -> None:
    assert ids.parent_of("movies/2019/the-platform") == "movies/2019"


def test_an_id_is_within_itself_and_its_ancestors_but_not_a_sibling_with_a_common_prefix() -> None:
    assert ids.is_within("movies/x", "movies/x")
    assert ids.is_within("movies/x", "movies")
    assert ids.is_within("movies/x", ids.ROOT)
    assert not ids.is_within("movies-old/x", "movies")
    assert not ids.is_within("movies", "movies/x")


def test_child_depth_counts_the_levels_below_an_ancestor() -> None:
    assert ids.child_depth("a", "a") == 0
    assert ids.child_depth("a/b", "a") == 1
    assert ids.child_depth("a/b/c", "a") == 2
    assert ids.child_depth("a", ids.ROOT) == 1
    assert ids.child_depth("a/b/c", ids.ROOT) == 3


def test_rebase_moves_an_id_from_one_root_to_another() -> None:
    assert ids.rebase("movies/2019/x", "movies", "films") == "films/2019/x"
    assert ids.rebase("movies", "movies", "archive/movies") == "archive/movies"


# -- properties ----------------------------------------------------------------------


@no_database
@given(valid_ids)
def test_every_valid_id_round_trips(entry_id: str) -> None:
    assert ids.parse_entry_id(entry_id) == entry_id
    assert ids.parse_parent_id(entry_id) == entry_id


@no_database
@given(st.text())
def test_no_accepted_id_holds_a_traversal_a_nul_a_backslash_or_a_leading_slash(raw: str) -> None:
    try:
        accepted = ids.parse_entry_id(raw)
    except InvalidId:
        return
    assert accepted == raw
    assert ".." not in accepted
    assert "\x00" not in accepted
    assert "\\" not in accepted
    assert not accepted.startswith("/")
    assert not accepted.endswith("/")
    assert "//" not in accepted
    assert 0 < len(accepted) <= ids.MAX_ID_LENGTH


@no_database
@given(st.text(alphabet="ab/.\\\x00-", max_size=12))
def test_no_accepted_id_from_a_hostile_alphabet_holds_a_dot_segment(raw: str) -> None:
    try:
        accepted = ids.parse_entry_id(raw)
    except InvalidId:
        return
    assert all(segment not in {"", ".", ".."} for segment in accepted.split("/"))
    assert "." not in accepted


@no_database
@given(st.text())
def test_parsing_any_text_either_returns_it_or_raises_invalid_id(raw: str) -> None:
    try:
        assert ids.parse_entry_id(raw) == raw
    except InvalidId as exc:
        assert exc.code == "BadRequest"


@no_database
@given(valid_ids, segments)
def test_a_child_lies_one_level_below_its_parent(parent: str, segment: str) -> None:
    child = f"{parent}/{segment}"
    assert ids.parent_of(child) == parent
    assert ids.is_within(child, parent)
    assert not ids.is_within(parent, child)
    assert ids.child_depth(child, parent) == 1


@no_database
@given(valid_ids)
def test_every_id_lies_within_its_parent_and_the_root(entry_id: str) -> None:
    parent = ids.parent_of(entry_id)
    assert ids.is_within(entry_id, parent)
    assert ids.is_within(entry_id, ids.ROOT)
    assert ids.child_depth(entry_id, parent) == 1
    assert ids.child_depth(entry_id, ids.ROOT) == entry_id.count("/") + 1
    if parent != ids.ROOT:
        assert ids.parse_entry_id(parent) == parent


@no_database
@given(valid_ids, st.lists(segments, max_size=4), valid_ids)
def test_rebase_keeps_the_path_below_the_old_root(
    old_root: str, below: list[str], new_root: str
) -> None:
    entry_id = "/".join([old_root, *below])
    moved = ids.rebase(entry_id, old_root, new_root)
    assert ids.is_within(moved, new_root)
    assert ids.child_depth(moved, new_root) == ids.child_depth(entry_id, old_root)
    assert ids.rebase(moved, new_root, old_root) == entry_id


@no_database
@given(valid_ids, valid_ids)
def test_is_within_agrees_with_comparing_segments(entry_id: str, ancestor: str) -> None:
    expected = entry_id.split("/")[: ancestor.count("/") + 1] == ancestor.split("/")
    assert ids.is_within(entry_id, ancestor) == expected
