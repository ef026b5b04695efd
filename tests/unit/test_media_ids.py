"""Media ids: folder ids, file ids, and the safe names uploads are stored under."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flextype_core import ids
from flextype_core.errors import InvalidId

folder_segments = st.text(alphabet="abcXYZ019_-", min_size=1, max_size=10)
file_names = st.text(alphabet="abcXYZ019_.-", min_size=1, max_size=20).filter(
    lambda n: not n.startswith(".")
)
file_ids = st.builds(
    lambda folders, name: "/".join([*folders, name]),
    st.lists(folder_segments, max_size=5),
    file_names,
).filter(lambda i: len(i) <= ids.MAX_ID_LENGTH)


@pytest.mark.parametrize("raw", ["a.png", "posters/dune.jpg", "a/b/c.tar.gz", "README", "a..b"])
def test_a_file_id_is_accepted_unchanged(raw: str) -> None:
    assert ids.parse_file_id(raw) == raw


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "/a.png",
        "a.png/",
        "a//b.png",
        "../a.png",
        "a/../b.png",
        "a/..",
        "a/.",
        ".hidden.png",
        "a/.b.png.meta.yaml",
        "a\\b.png",
        "a\x00.png",
        "a b.png",
        "a.b/c.png",
        "é.png",
        "x" * 252 + ".png",
        None,
        ["a.png"],
    ],
)
def test_an_invalid_file_id_is_rejected_naming_it(raw: object) -> None:
    with pytest.raises(InvalidId, match="file id"):
        ids.parse_file_id(raw)


@pytest.mark.parametrize("raw", ["", "/"])
def test_an_empty_folder_id_or_a_slash_is_the_root(raw: str) -> None:
    assert ids.parse_folder_id(raw) == ids.ROOT


@pytest.mark.parametrize("raw", ["//", "a.b", "../a", "a/", ".uploads", "a\\b", 7])
def test_an_invalid_folder_id_is_rejected_naming_it(raw: object) -> None:
    with pytest.raises(InvalidId, match="folder id"):
        ids.parse_folder_id(raw)


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("Pixel Test.png", "pixel-test.png"),
        ("PHOTO.JPG", "photo.jpg"),
        ("a  &  b.txt", "a-b.txt"),
        ("..hidden.png", "hidden.png"),
        ("-x.png", "x.png"),
        ("../../etc/passwd", "etc-passwd"),
        ("Grüße.md", "gr-e.md"),
        ("x_y-z.0.tar.gz", "x_y-z.0.tar.gz"),
    ],
)
def test_a_file_name_is_made_safe_as_flextype_does(name: str, safe: str) -> None:
    assert ids.safe_file_name(name) == safe


@pytest.mark.parametrize("name", ["", "...", "-.-", "x" * 300])
def test_a_name_without_a_safe_result_is_rejected(name: str) -> None:
    with pytest.raises(InvalidId):
        ids.safe_file_name(name)


@given(file_ids)
def test_every_accepted_file_id_is_a_safe_relative_path(file_id: str) -> None:
    assert ids.parse_file_id(file_id) == file_id
    assert ".." not in file_id.split("/")
    assert "\x00" not in file_id and "\\" not in file_id
    assert not file_id.startswith("/")


@given(st.text(max_size=300))
def test_any_accepted_file_id_round_trips_and_holds_no_traversal(raw: str) -> None:
    try:
        parsed = ids.parse_file_id(raw)
    except InvalidId:
        return
    assert parsed == raw
    assert all(s not in {"", ".", ".."} for s in parsed.split("/"))
    assert "\x00" not in parsed and "\\" not in parsed and not parsed.startswith("/")


@given(st.text(max_size=300))
def test_a_safe_file_name_always_parses_as_a_file_name(name: str) -> None:
    try:
        safe = ids.safe_file_name(name)
    except InvalidId:
        return
    assert ids.parse_file_id(safe) == safe
    assert safe == safe.lower() and "/" not in safe


@given(st.lists(folder_segments, min_size=1, max_size=5).map("/".join))
def test_every_entry_shaped_id_is_a_folder_id(folder_id: str) -> None:
    if len(folder_id) <= ids.MAX_ID_LENGTH:
        assert ids.parse_folder_id(folder_id) == folder_id
