"""load_mapping builds plain documents by its own walk: always the values PyYAML builds."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from flextype_adapters import yaml_codec

# Strings that YAML 1.1 or 1.2 might read as something else than a string.
_TRICKY = [
    "yes", "no", "on", "off", "y", "n", "~", "null", "Null", "NULL", "true", "False",
    "0x1F", "0o17", "017", "0b101", "1_000", "1:20", "190:20:30", "2020-01-01",
    "2001-12-14t21:59:43.10-05:00", ".inf", "-.Inf", ".nan", "+1", "1e3", "1.5e-3",
    "-0", "+.5", "<<", "=", "&a", "*a", "!tag", "", " ", "- x", "a: b", "#c",
]  # fmt: skip

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.sampled_from(_TRICKY)
)
_KEYS = st.text() | st.sampled_from(_TRICKY) | st.integers() | st.booleans()
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=25,
)


def _reference(text: str) -> Any:
    """What PyYAML's own constructor builds from the same loader's node graph."""
    loader = yaml_codec._Loader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same types all the way down (True is not 1, NaN is NaN).

    By their repr, which shows types, order and NaN, and stops at a value that holds
    itself (a YAML alias can make one).
    """
    return repr(a) == repr(b)


def _assert_built_alike(text: str) -> None:
    try:
        expected = _reference(text)
    except Exception as exc:
        with pytest.raises(type(exc)):
            yaml_codec.load_mapping(text)
        return
    if expected is None:  # an empty document: an entry with no fields yet
        assert yaml_codec.load_mapping(text) == {}
        return
    if not isinstance(expected, dict):
        with pytest.raises(yaml_codec.MalformedFileError):
            yaml_codec.load_mapping(text)
        return
    assert _same(yaml_codec.load_mapping(text), expected), text


@settings(max_examples=300, deadline=None)
@given(fields=st.dictionaries(_KEYS, _VALUES, max_size=6), flow=st.booleans())
def test_any_dumped_mapping_is_built_as_pyyaml_builds_it(
    fields: dict[Any, Any], flow: bool
) -> None:
    text = yaml.dump(fields, Dumper=yaml.SafeDumper, default_flow_style=flow, allow_unicode=True)
    _assert_built_alike(text)


@settings(max_examples=200, deadline=None)
@given(words=st.lists(st.sampled_from([*_TRICKY, "k", "v", "1", "[", "]", "{", "}", ",", ": ",
                                       "\n", "\n  ", "- ", "&x ", "*x", "!!str ", "!!int ",
                                       "<<: ", "? ", "'q'", '"d"']), max_size=14))  # fmt: skip
def test_any_text_is_built_or_refused_as_pyyaml_does(words: list[str]) -> None:
    _assert_built_alike("".join(words))


@pytest.mark.parametrize(
    "text",
    [
        "a: &x [1, 2]\nb: *x\n",  # an anchor used twice
        "base: &b {x: 1}\nmine:\n  <<: *b\n  y: 2\n",  # a merge key
        "s: !!set {a, b}\n",
        "bin: !!binary aGVsbG8=\n",
        "when: !!timestamp 2001-12-14\n",
        "o: !!omap [a: 1, b: 2]\n",
        "n: !!int '12'\nf: !!float '1'\nz: !!null ''\nt: !!bool 'true'\n",
        "? [a, b]\n: unhashable\n",
        "a: " + "[" * 80 + "]" * 80 + "\n",  # deeper than the direct walk goes
        "a: 1\na: 2\n",  # a key twice: the last wins, as PyYAML has it
        "1: int key\n1.5: float key\ntrue: bool key\n~: null key\n",
        "r: &r [*r]\n",  # a list that holds itself
        "- not\n- a mapping\n",
        "",
    ],
)
def test_documents_beyond_the_plain_ones_are_built_as_pyyaml_builds_them(text: str) -> None:
    _assert_built_alike(text)
