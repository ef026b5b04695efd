"""Glide parameters are parsed strictly; signatures cover a canonical, order-free string."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flextype_core.errors import BadRequest
from flextype_core.images import (
    Border,
    ImageParams,
    cache_key,
    canonical,
    parse_params,
    sign,
    signed_url,
    verify_signature,
)

VALID = [
    ({"w": "300"}, {"w": 300}),
    ({"h": "1"}, {"h": 1}),
    ({"fit": "contain"}, {"fit": "contain"}),
    ({"fit": "max"}, {"fit": "max"}),
    ({"fit": "fill"}, {"fit": "fill"}),
    ({"fit": "fill-max"}, {"fit": "fill-max"}),
    ({"fit": "stretch"}, {"fit": "stretch"}),
    ({"fit": "crop"}, {"fit": "crop", "focus": (50.0, 50.0, 1.0)}),
    ({"fit": "crop-top-left"}, {"fit": "crop", "focus": (0.0, 0.0, 1.0)}),
    ({"fit": "crop-top"}, {"fit": "crop", "focus": (50.0, 0.0, 1.0)}),
    ({"fit": "crop-top-right"}, {"fit": "crop", "focus": (100.0, 0.0, 1.0)}),
    ({"fit": "crop-left"}, {"fit": "crop", "focus": (0.0, 50.0, 1.0)}),
    ({"fit": "crop-center"}, {"fit": "crop", "focus": (50.0, 50.0, 1.0)}),
    ({"fit": "crop-right"}, {"fit": "crop", "focus": (100.0, 50.0, 1.0)}),
    ({"fit": "crop-bottom-left"}, {"fit": "crop", "focus": (0.0, 100.0, 1.0)}),
    ({"fit": "crop-bottom"}, {"fit": "crop", "focus": (50.0, 100.0, 1.0)}),
    ({"fit": "crop-bottom-right"}, {"fit": "crop", "focus": (100.0, 100.0, 1.0)}),
    ({"fit": "crop-25-75"}, {"fit": "crop", "focus": (25.0, 75.0, 1.0)}),
    ({"fit": "crop-25-75-2.5"}, {"fit": "crop", "focus": (25.0, 75.0, 2.5)}),
    ({"crop": "100,50,10,0"}, {"crop": (100, 50, 10, 0)}),
    ({"dpr": "2"}, {"dpr": 2.0}),
    ({"dpr": "1.5"}, {"dpr": 1.5}),
    ({"or": "auto"}, {"or_": "auto"}),
    ({"or": "0"}, {"or_": "0"}),
    ({"or": "90"}, {"or_": "90"}),
    ({"or": "180"}, {"or_": "180"}),
    ({"or": "270"}, {"or_": "270"}),
    ({"flip": "v"}, {"flip": "v"}),
    ({"flip": "h"}, {"flip": "h"}),
    ({"flip": "both"}, {"flip": "both"}),
    ({"bri": "-100"}, {"bri": -100}),
    ({"con": "100"}, {"con": 100}),
    ({"gam": "0.1"}, {"gam": 0.1}),
    ({"gam": "9.99"}, {"gam": 9.99}),
    ({"sharp": "100"}, {"sharp": 100}),
    ({"blur": "0"}, {"blur": 0}),
    ({"pixel": "1000"}, {"pixel": 1000}),
    ({"filt": "greyscale"}, {"filt": "greyscale"}),
    ({"filt": "sepia"}, {"filt": "sepia"}),
    ({"bg": "fff"}, {"bg": (255, 255, 255, 255)}),
    ({"bg": "5000"}, {"bg": (0, 0, 0, 128)}),
    ({"bg": "00ff80"}, {"bg": (0, 255, 128, 255)}),
    ({"bg": "25FF0000"}, {"bg": (255, 0, 0, 64)}),
    ({"bg": "Navy"}, {"bg": (0, 0, 128, 255)}),
    ({"border": "5"}, {"border": Border(width=5)}),
    (
        {"border": "5,black,expand"},
        {"border": Border(width=5, colour=(0, 0, 0, 255), method="expand")},
    ),
    (
        {"border": "2,f00,shrink"},
        {"border": Border(width=2, colour=(255, 0, 0, 255), method="shrink")},
    ),
    ({"q": "0"}, {"q": 0}),
    ({"fm": "jpg"}, {"fm": "jpg"}),
    ({"fm": "pjpg"}, {"fm": "pjpg"}),
    ({"fm": "png"}, {"fm": "png"}),
    ({"fm": "gif"}, {"fm": "gif"}),
    ({"fm": "webp"}, {"fm": "webp"}),
    ({"s": "abc", "token": "t", "expires": "123"}, {}),
]

INVALID = [
    ("w", "0"),
    ("w", "-5"),
    ("w", "1.5"),
    ("w", ""),
    ("w", " 3"),
    ("w", "1e3"),
    ("w", "9999999999"),
    ("h", "x"),
    ("fit", "cover"),
    ("fit", "crop-middle"),
    ("fit", "crop-101-0"),
    ("fit", "crop-5-5-0"),
    ("fit", "crop-5-5-101"),
    ("crop", "1,2,3"),
    ("crop", "0,2,3,4"),
    ("crop", "1,2,-3,4"),
    ("crop", "a,b,c,d"),
    ("dpr", "0.5"),
    ("dpr", "9"),
    ("dpr", "two"),
    ("or", "45"),
    ("or", "AUTO"),
    ("flip", "x"),
    ("bri", "101"),
    ("bri", "-101"),
    ("con", "200"),
    ("gam", "0"),
    ("gam", "10"),
    ("sharp", "101"),
    ("blur", "-1"),
    ("pixel", "1001"),
    ("filt", "grayscale"),
    ("bg", "ggg"),
    ("bg", "12345"),
    ("bg", "Afff"),
    ("bg", "notacolour"),
    ("border", "0"),
    ("border", "5,red,inset"),
    ("border", "5,red,overlay,x"),
    ("border", "5,zzz"),
    ("q", "101"),
    ("fm", "avif"),
    ("fm", "jpeg"),
    ("expires", "soon"),
]


@pytest.mark.parametrize(("query", "fields"), VALID)
def test_a_valid_parameter_is_parsed_to_its_value(
    query: dict[str, str], fields: dict[str, object]
) -> None:
    assert parse_params(query) == ImageParams(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "value"), INVALID)
def test_an_invalid_value_is_a_bad_request_naming_the_parameter(name: str, value: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_params({name: value})
    assert f"'{name}'" in caught.value.message
    assert caught.value.details == [name]


@pytest.mark.parametrize("name", ["width", "p", "mark", "W", "fit ", ""])
def test_an_unknown_parameter_is_a_bad_request_naming_it(name: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_params({"w": "10", name: "1"})
    assert f"'{name}'" in caught.value.message
    assert caught.value.details == [name]


def test_no_parameter_means_the_defaults() -> None:
    params = parse_params({})
    assert params == ImageParams()
    assert (params.fit, params.q, params.dpr, params.or_, params.fm) == (
        "contain",
        90,
        1.0,
        "auto",
        None,
    )


def test_equal_requests_spelled_differently_share_a_cache_key() -> None:
    a = parse_params({"w": "10", "fit": "crop-center", "dpr": "2"})
    b = parse_params({"dpr": "2.0", "fit": "crop-50-50", "w": "10"})
    assert cache_key("abc", a) == cache_key("abc", b)
    assert cache_key("abc", a) != cache_key("abd", a)
    assert cache_key("abc", a) != cache_key("abc", parse_params({"w": "11"}))
    assert cache_key("abc", a, salt="1") != cache_key("abc", a)


def test_canonical_sorts_encodes_and_leaves_out_the_signature_and_token() -> None:
    query = {"w": "300", "s": "sig", "token": "t", "bg": "a b/c~", "expires": "99"}
    assert canonical("/movies/dune poster.jpg", query) == (
        "movies/dune%20poster.jpg?bg=a%20b%2Fc~&expires=99&w=300"
    )
    assert canonical("a.png", {}) == "a.png?"


names = st.sampled_from(["w", "h", "fit", "q", "fm", "bg", "expires", "x y", "é"])
queries = st.dictionaries(names, st.text(max_size=8), max_size=6)


@given(queries, st.randoms())
def test_canonical_does_not_depend_on_the_order_of_parameters(
    query: dict[str, str], rnd: st.SearchStrategy[object]
) -> None:
    items = list(query.items())
    rnd.shuffle(items)  # type: ignore[attr-defined]
    assert canonical("p/a.jpg", dict(items)) == canonical("p/a.jpg", query)


@given(queries.filter(bool), st.data())
def test_canonical_changes_when_any_value_changes(
    query: dict[str, str], data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(query)))
    other = data.draw(st.text(max_size=8).filter(lambda v: v != query[name]))
    assert canonical("p/a.jpg", {**query, name: other}) != canonical("p/a.jpg", query)


KEY = "secret-key"


def test_a_signature_verifies_whatever_the_order_of_parameters() -> None:
    s = sign(KEY, "a/b.jpg", {"w": "300", "fm": "webp"})
    assert len(s) == 64
    assert s == s.lower()
    assert verify_signature(KEY, "a/b.jpg", {"fm": "webp", "s": s, "w": "300"}, now=0)
    assert verify_signature(KEY, "a/b.jpg", {"fm": "webp", "s": s, "w": "300", "token": "x"}, 0)


@pytest.mark.parametrize(
    "change",
    [
        {"w": "301"},
        {"h": "10"},
        {"fm": "png"},
    ],
)
def test_a_tampered_query_does_not_verify(change: dict[str, str]) -> None:
    query = {"w": "300", "fm": "webp"}
    s = sign(KEY, "a/b.jpg", query)
    assert not verify_signature(KEY, "a/b.jpg", {**query, **change, "s": s}, now=0)


def test_a_signature_for_another_path_or_key_does_not_verify() -> None:
    s = sign(KEY, "a/b.jpg", {"w": "1"})
    assert not verify_signature(KEY, "a/c.jpg", {"w": "1", "s": s}, now=0)
    assert not verify_signature("other", "a/b.jpg", {"w": "1", "s": s}, now=0)
    assert not verify_signature(KEY, "a/b.jpg", {"w": "1", "s": s.upper()}, now=0)
    assert not verify_signature(KEY, "a/b.jpg", {"w": "1"}, now=0)
    assert not verify_signature("", "a/b.jpg", {"w": "1", "s": sign("", "a/b.jpg", {"w": "1"})}, 0)


def test_an_expired_signature_does_not_verify() -> None:
    query = {"w": "1", "expires": "1000"}
    s = sign(KEY, "a.jpg", query)
    assert verify_signature(KEY, "a.jpg", {**query, "s": s}, now=1000)
    assert not verify_signature(KEY, "a.jpg", {**query, "s": s}, now=1001)
    moved = {"w": "1", "expires": "2000", "s": s}
    assert not verify_signature(KEY, "a.jpg", moved, now=1001)


def test_a_malformed_expires_does_not_verify() -> None:
    query = {"expires": "later"}
    assert not verify_signature(KEY, "a.jpg", {**query, "s": sign(KEY, "a.jpg", query)}, now=0)


def test_a_signed_url_carries_its_signature() -> None:
    url = signed_url(KEY, "a/b.jpg", {"w": "300", "fm": "webp"})
    assert (
        url
        == f"/api/images/a/b.jpg?fm=webp&w=300&s={sign(KEY, 'a/b.jpg', {'w': '300', 'fm': 'webp'})}"
    )
    assert signed_url(KEY, "a.jpg", {}).startswith("/api/images/a.jpg?s=")
