"""The core's search text: one normalisation, the web-search syntax, the reference matcher."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flextype_core.errors import BadRequest
from flextype_core.query.search_match import matches, scan
from flextype_core.query.search_syntax import MAX_PARTS, Phrase, SearchExpr, Word, parse_search
from flextype_core.query.search_text import MAX_WORDS, document, field_texts, tokens


def test_words_lose_case_and_accents() -> None:
    assert tokens("Café CRÈME, Bjørn; Straße Œuvre") == [
        "cafe", "creme", "bjorn", "strasse", "oeuvre",
    ]  # fmt: skip


def test_punctuation_and_underscores_separate_words() -> None:
    assert tokens("sci-fi l'été snake_case 3.14 e-mail@x.org") == [
        "sci", "fi", "l", "ete", "snake", "case", "3", "14", "e", "mail", "x", "org",
    ]  # fmt: skip


@given(st.text())
def test_normalised_words_normalise_to_themselves(text: str) -> None:
    for word in tokens(text):
        assert tokens(word) == [word]


def test_every_field_but_managed_ones_nested_included() -> None:
    item = {
        "id": "movies/dune",
        "slug": "movies/dune",
        "uuid": "u",
        "created_at": "2020",
        "title": "Dune",
        "cast": [{"name": "Zendaya"}, "Rebecca"],
        "year": 2021,
    }
    assert field_texts(item) == [
        ("title", "Dune"),
        ("cast.0.name", "Zendaya"),
        ("cast.1", "Rebecca"),
    ]
    assert field_texts(item, (("cast",), ("title",), ("cast", "1"))) == [
        ("cast.0.name", "Zendaya"),
        ("cast.1", "Rebecca"),
        ("title", "Dune"),
    ]
    assert field_texts(item, (("id",),)) == [("id", "movies/dune")]  # asked for by name


def test_an_entry_is_searched_up_to_max_words() -> None:
    doc = document({"a": "x " * (MAX_WORDS + 5), "b": "late"})
    assert sum(len(words) for _, words in doc) == MAX_WORDS
    assert not matches(parse_search("late"), doc)


def test_syntax_words_phrases_exclusions_or() -> None:
    expr = parse_search('Dune "Spice Melange" -harkonnen sci-fi OR fantasy du')
    assert expr == SearchExpr(
        required=(
            (Word(text="dune", prefix=True),),
            (Phrase(words=("spice", "melange")),),
            (Phrase(words=("sci", "fi")), Word(text="fantasy", prefix=True)),
            (Word(text="du", prefix=False),),
        ),
        excluded=(Word(text="harkonnen", prefix=True),),
    )


def test_or_in_lower_case_or_at_the_edges_is_a_word() -> None:
    assert parse_search("OR dune or").required == (
        (Word(text="or", prefix=False),),
        (Word(text="dune", prefix=True),),
        (Word(text="or", prefix=False),),
    )


@pytest.mark.parametrize("text", ["", "   ", "-dune", '"..." -x', "!!!"])
def test_nothing_to_find_is_a_bad_request(text: str) -> None:
    with pytest.raises(BadRequest, match=r"options\[search\]\[q\]"):
        parse_search(text)


def test_too_many_parts_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="more than"):
        parse_search(" ".join(f"w{i}" for i in range(MAX_PARTS + 1)))


def test_reference_meaning() -> None:
    doc = document({"title": "Dune: Café", "body": "The spice melange", "tags": ["Sci-Fi"]})
    assert matches(parse_search("dun cafe"), doc)  # prefix, accents
    assert not matches(parse_search("du"), doc)  # short words are whole words
    assert matches(parse_search('"spice melange"'), doc)
    assert not matches(parse_search('"melange spice"'), doc)
    assert not matches(parse_search('"cafe the"'), doc)  # a phrase stays in one field
    assert not matches(parse_search("spice -dune"), doc)
    assert matches(parse_search("dragon OR sci-fi"), doc)


def test_scan_scores_every_match_and_nothing_else() -> None:
    items = [
        {"id": "a", "title": "dune dune"},
        {"id": "b", "title": "dune and more words here"},
        {"id": "c", "title": "other"},
    ]
    found = scan(parse_search("dune"), items)
    assert set(found) == {"a", "b"}
    assert found["a"] > found["b"]
