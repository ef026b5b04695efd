"""``find[depth]`` levels, and the number rules of query values."""

from __future__ import annotations

import pytest

from flextype_core import EntriesService
from flextype_core.errors import BadRequest
from flextype_core.query.depth import parse_depth_range
from flextype_core.query.values import parse_number
from tests.unit.fakes import FakeEntryStore, FixedClock, SequenceIdFactory


@pytest.mark.parametrize(
    ("value", "levels"),
    [
        (None, (1, 1)),
        (3, (1, 3)),
        ("all", (1, None)),
        (">0", (1, None)),
        (">1", (2, None)),
        (">=2", (2, None)),
        (">=0", (1, None)),
        ("<2", (1, 1)),
        ("<=2", (1, 2)),
    ],
)
def test_depth_forms_select_these_levels(value: object, levels: tuple[int, int | None]) -> None:
    assert parse_depth_range(value) == levels


@pytest.mark.parametrize("value", ["<1", "0", 0, "١", "two", True, ">-1"])
def test_depth_forms_that_select_nothing_or_are_not_ascii_numbers_are_bad(value: object) -> None:
    with pytest.raises(BadRequest, match=r"options\[find\]\[depth\]"):
        parse_depth_range(value)


def test_a_depth_after_the_first_level_skips_the_direct_children() -> None:
    service = EntriesService(FakeEntryStore(), FixedClock(), SequenceIdFactory())
    for entry_id in ("m/a", "m/a/b", "m/a/b/c", "m/d"):
        service.create(entry_id, {})
    page = service.query("m", {"find": {"depth": ">1"}})
    assert [item["id"] for item in page.data] == ["m/a/b", "m/a/b/c"]
    assert page.meta is not None and page.meta.total == 2


def test_numbers_beyond_float_range_are_not_numbers() -> None:
    assert parse_number("1e999") is None
    assert parse_number("-1e999") is None
    assert parse_number("1e308") == 1e308
