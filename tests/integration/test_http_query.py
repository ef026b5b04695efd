"""Collection queries over HTTP (api.md section 4), from query strings built by hand.

Every URL here is written as a browser sends it: bracket keys either literal
(``options[filter][where][0][key]=year``) or percent-encoded
(``options%5Bfilter%5D%5Bwhere%5D%5B0%5D%5Bkey%5D=year``), values percent-encoded only
where a browser would. The queries run on both storage drivers against the demo movies
and a few entries written with JSON-typed fields.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.http_client import (
    DRIVERS,
    ApiClient,
    Project,
    ProjectFactory,
    assert_error,
    data_of,
    serve,
)

B, D, E, P, S = (
    "movies/birds-of-prey",
    "movies/dune",
    "movies/everything-everywhere-all-at-once",
    "movies/parasite",
    "movies/spirited-away",
)
MOVIES = [B, D, E, P, S]
TA, TB, TC, TD, TE = (f"things/{name}" for name in "abcde")
THINGS = [TA, TB, TC, TD, TE]

THINGS_DATA: dict[str, dict[str, Any]] = {
    TA: {
        "name": "Alpha",
        "n": 1,
        "x": 1.5,
        "flag": True,
        "tags": ["red", "green"],
        "author": {"name": "Ada", "age": 36},
        "when": "2024-01-15T10:00:00Z",
        "stamp": 1_700_000_000,
    },
    TB: {
        "name": "beta",
        "n": 2,
        "x": 2.25,
        "flag": False,
        "tags": ["blue"],
        "author": {"name": "bob"},
        "when": "2023-06-01",
        "stamp": 1_600_000_000,
    },
    TC: {
        "name": "Gamma ünï",
        "n": 10,
        "x": -0.5,
        "flag": True,
        "tags": [],
        "author": {"name": "Cyd"},
        "when": "2025-03-01T00:00:00+02:00",
        "stamp": 1_800_000_000,
    },
    TD: {"name": "delta"},
    TE: {"name": "echo", "n": None, "flag": None, "when": None, "x": "text"},
}
TREE = ["tree/x", "tree/x/y", "tree/x/y/z"]
LONG_A = "a" * 9_000 + "!"


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=DRIVERS)
def project(
    request: pytest.FixtureRequest,
    projects: ProjectFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Project:
    folder: Path = tmp_path_factory.mktemp(f"query-{request.param}") / "project"
    return projects(folder, request.param)


@pytest.fixture(scope="module")
def api(project: Project) -> Iterator[ApiClient]:
    """One app per driver: the demo, the ``things`` above, a ``tree`` and a long string.

    The queries only read, so the module shares it.
    """
    with serve(project) as client:
        extra: dict[str, dict[str, Any]] = {
            **THINGS_DATA,
            **{entry_id: {"title": entry_id} for entry_id in TREE},
            "long/one": {"text": LONG_A},
        }
        for entry_id, data in extra.items():
            data_of(client.send("POST", "entries", {"id": entry_id, "data": data}))
        yield client


# -- building URLs by hand -----------------------------------------------------------------


def encode_name(name: str) -> str:
    """Percent-encode the brackets of a key, as a form submission does."""
    return name.replace("[", "%5B").replace("]", "%5D")


def encode_value(value: str) -> str:
    """Percent-encode a value as a browser does for a form (space as ``+``)."""
    return quote(value, safe="").replace("%20", "+")


def where(index: int, key: str, operator: str, value: str | list[str]) -> list[tuple[str, str]]:
    """The pairs of one clause; a list value becomes ``value[]=a&value[]=b``."""
    base = f"options[filter][where][{index}]"
    pairs = [(f"{base}[key]", key), (f"{base}[operator]", operator)]
    if isinstance(value, list):
        pairs += [(f"{base}[value][]", item) for item in value]
    else:
        pairs.append((f"{base}[value]", value))
    return pairs


def url(api: ApiClient, parent: str, pairs: list[tuple[str, str]], *, encoded: bool = False) -> str:
    """``/api/entries?id=..&options[collection]=true&..&token=..`` written out by hand.

    Plain: names literal, values percent-encoded as a form would (``<``, ``=``, spaces,
    ``+``, non-ASCII). Encoded: the brackets of the names are percent-encoded too.
    """
    everything = [("id", parent), ("options[collection]", "true"), *pairs, ("token", api.token)]
    parts = [
        f"{encode_name(name) if encoded else name}={encode_value(value)}"
        for name, value in everything
    ]
    return "/api/entries?" + "&".join(parts)


def get(api: ApiClient, raw_url: str) -> httpx.Response:
    return api.request("GET", raw_url)


def body(api: ApiClient, raw_url: str) -> dict[str, Any]:
    response = get(api, raw_url)
    data_of(response)
    result: dict[str, Any] = response.json()
    return result


def ids_of(items: Any) -> list[str]:
    assert isinstance(items, list), items
    return [item["id"] for item in items]


def query_ids(
    api: ApiClient, parent: str, pairs: list[tuple[str, str]], *, encoded: bool = False
) -> list[str]:
    return ids_of(data_of(get(api, url(api, parent, pairs, encoded=encoded))))


def sort(index: int, key: str, direction: str | None = None) -> list[tuple[str, str]]:
    pairs = [(f"options[filter][sort_by][{index}][key]", key)]
    if direction is not None:
        pairs.append((f"options[filter][sort_by][{index}][direction]", direction))
    return pairs


def option(name: str, value: str) -> list[tuple[str, str]]:
    return [(f"options[filter][{name}]", value)]


# -- the URL really is sent as written -----------------------------------------------------


def test_a_hand_built_url_reaches_the_server_with_literal_brackets(api: ApiClient) -> None:
    raw = url(api, "movies", where(0, "year", "eq", "2020"))
    assert "options[filter][where][0][key]=year" in raw
    response = get(api, raw)
    assert ids_of(data_of(response)) == [B]
    sent = response.request.url.raw_path.decode()
    assert "where" in sent


def test_the_issue_s_example_url_filters_the_movies_of_2020(api: ApiClient) -> None:
    raw = (
        "/api/entries?id=movies&options[collection]=true"
        "&options[filter][where][0][key]=year&options[filter][where][0][operator]=eq"
        f"&options[filter][where][0][value]=2020&token={api.token}"
    )
    assert ids_of(data_of(get(api, raw))) == [B]
    encoded = (
        "/api/entries?id=movies&options%5Bcollection%5D=true"
        "&options%5Bfilter%5D%5Bwhere%5D%5B0%5D%5Bkey%5D=year"
        "&options%5Bfilter%5D%5Bwhere%5D%5B0%5D%5Boperator%5D=eq"
        f"&options%5Bfilter%5D%5Bwhere%5D%5B0%5D%5Bvalue%5D=2020&token={api.token}"
    )
    assert ids_of(data_of(get(api, encoded))) == [B]


# -- every operator and alias --------------------------------------------------------------

OPERATOR_CASES: list[tuple[str, str, str, str | list[str], list[str]]] = [
    # (parent, key, operator, value, expected ids in id order)
    ("movies", "year", "eq", "2020", [B]),
    ("movies", "year", "=", "2020", [B]),
    ("movies", "year", "EQ", "2020", [B]),
    ("movies", "year", "Eq", "2020", [B]),
    ("movies", "director", "eq", "Cathy Yan", [B]),
    ("movies", "director", "eq", "cathy yan", []),
    ("movies", "year", "neq", "2020", [D, E, P, S]),
    ("movies", "year", "!=", "2020", [D, E, P, S]),
    ("movies", "year", "<>", "2020", [D, E, P, S]),
    ("movies", "year", "NEQ", "2020", [D, E, P, S]),
    ("movies", "year", "lt", "2020", [P, S]),
    ("movies", "year", "<", "2020", [P, S]),
    ("movies", "year", "gt", "2020", [D, E]),
    ("movies", "year", ">", "2020", [D, E]),
    ("movies", "year", "lte", "2020", [B, P, S]),
    ("movies", "year", "<=", "2020", [B, P, S]),
    ("movies", "year", "gte", "2020", [B, D, E]),
    ("movies", "year", ">=", "2020", [B, D, E]),
    ("movies", "rating", "gt", "8", [P, S]),
    ("movies", "rating", "gte", "8.0", [D, P, S]),
    ("movies", "year", "in", ["2019", "2022"], [E, P]),
    ("movies", "year", "in", "2019,2022", [E, P]),
    ("movies", "year", "IN", "2019", [P]),
    ("movies", "year", "nin", ["2019", "2022"], [B, D, S]),
    ("movies", "year", "nin", "2019,2022", [B, D, S]),
    ("movies", "genre", "contains", "action", [B, E]),
    ("movies", "genre", "like", "action", [B, E]),
    ("movies", "genre", "Contains", "action", [B, E]),
    ("movies", "director", "contains", "Dan", [E]),
    ("movies", "director", "contains", "dan", []),
    ("movies", "genre", "ncontains", "action", [D, P, S]),
    ("movies", "genre", "nlike", "action", [D, P, S]),
    ("movies", "genre", "NLIKE", "action", [D, P, S]),
    ("movies", "director", "ncontains", "Dan", [B, D, P, S]),
    ("movies", "title", "starts_with", "Dun", [D]),
    ("movies", "title", "starts_with", "dun", []),
    ("movies", "director", "ends_with", "ho", [P]),
    ("movies", "rating", "between", ["7.8", "8.5"], [D, E, P]),
    ("movies", "rating", "between", "7.8,8.5", [D, E, P]),
    ("movies", "year", "BETWEEN", "2019,2020", [B, P]),
    ("movies", "rating", "nbetween", ["7.8", "8.5"], [B, S]),
    ("movies", "rating", "nbetween", "7.8,8.5", [B, S]),
    ("movies", "title", "regexp", "^d", [D]),
    ("movies", "title", "regexp", "ed a", [S]),
    ("movies", "title", "REGEXP", "RIT", [S]),
    ("movies", "title", "nregexp", "^[a-d]", [E, P, S]),
    ("movies", "genre.0", "eq", "action", [B, E]),
    ("movies", "genre.1", "eq", "adventure", [E]),
    ("movies", "genre.5", "eq", "action", []),
    # typed fields written as JSON
    ("things", "flag", "eq", "true", [TA, TC]),
    ("things", "flag", "eq", "TRUE", [TA, TC]),
    ("things", "flag", "eq", "1", [TA, TC]),
    ("things", "flag", "eq", "false", [TB]),
    ("things", "flag", "eq", "0", [TB]),
    ("things", "flag", "eq", "yes", []),
    ("things", "flag", "neq", "true", [TB]),
    ("things", "n", "neq", "1", [TB, TC]),
    ("things", "n", "gt", "2", [TC]),
    ("things", "n", "lt", "10", [TA, TB]),
    ("things", "n", "eq", "abc", []),
    ("things", "n", "nin", "1,2", [TC]),
    ("things", "tags", "eq", "red", []),
    ("things", "tags", "neq", "red", [TA, TB, TC]),
    ("things", "tags", "nin", ["red", "blue"], [TA, TB, TC]),
    ("things", "author", "neq", "Ada", [TA, TB, TC]),
    ("things", "x", "neq", "text", [TA, TB, TC]),
    ("things", "x", "nin", ["1.5", "text"], [TB, TC]),
    ("things", "n", "between", ["2", "10"], [TB, TC]),
    ("things", "x", "eq", "1.50", [TA]),
    ("things", "x", "eq", "2.25", [TB]),
    ("things", "x", "lt", "0", [TC]),
    ("things", "x", "nbetween", ["0", "2"], [TB, TC, TE]),
    ("things", "x", "eq", "text", [TE]),
    ("things", "author.name", "eq", "Ada", [TA]),
    ("things", "author.name", "regexp", "^[ab]", [TA, TB]),
    ("things", "author.age", "gte", "30", [TA]),
    ("things", "tags.0", "eq", "red", [TA]),
    ("things", "tags", "contains", "green", [TA]),
    ("things", "tags", "ncontains", "red", [TB, TC]),
    ("things", "name", "in", ["Alpha", "delta"], [TA, TD]),
    ("things", "name", "starts_with", "Gam", [TC]),
    ("things", "name", "ends_with", "ünï", [TC]),
    ("things", "name", "regexp", "ÜNÏ$", [TC]),
    ("things", "name", "contains", "a", [TA, TB, TC, TD]),
    ("things", "name", "contains", "A", [TA]),
    # an operator that does not apply to a field's type matches nothing, never fails
    ("things", "n", "contains", "1", []),
    ("things", "n", "starts_with", "1", []),
    ("things", "author", "lt", "z", []),
    ("things", "tags", "gt", "a", []),
    ("things", "flag", "lt", "true", []),
    ("things", "author", "regexp", ".", []),
    # dates: ISO 8601 strings and Unix ints, either way round; no zone means UTC
    ("things", "when", "newer", "2024-01-01", [TA, TC]),
    ("things", "when", "older", "2024-01-01", [TB]),
    ("things", "when", "older", "1704067200", [TB]),
    ("things", "stamp", "newer", "1650000000", [TA, TC]),
    ("things", "stamp", "older", "1650000000", [TB]),
    ("things", "stamp", "newer", "2023-11-14T22:13:20Z", [TC]),
    ("things", "stamp", "newer", "2023-11-14T22:13:19Z", [TA, TC]),
    ("things", "when", "newer", "2025-02-28T21:00:00", [TC]),
    ("things", "when", "older", "2025-02-28T23:00:00", [TA, TB, TC]),
    ("things", "when", "NEWER", "2025-02-28T23:00:00+02:00", [TC]),
    ("things", "name", "newer", "2000-01-01", []),
]


@pytest.mark.parametrize("encoded", [False, True], ids=["brackets", "percent-encoded"])
@pytest.mark.parametrize(
    ("parent", "key", "operator", "value", "expected"),
    OPERATOR_CASES,
    ids=[f"{c[1]} {c[2]} {c[3]}" for c in OPERATOR_CASES],
)
def test_each_operator_and_alias_filters_as_the_spec_says(
    api: ApiClient,
    parent: str,
    key: str,
    operator: str,
    value: str | list[str],
    expected: list[str],
    encoded: bool,
) -> None:
    found = query_ids(api, parent, where(0, key, operator, value), encoded=encoded)
    assert found == expected


def test_all_eighteen_operators_and_nine_aliases_are_covered() -> None:
    used = {case[2].lower() for case in OPERATOR_CASES}
    canonical = {
        "eq", "neq", "lt", "gt", "lte", "gte", "in", "nin", "contains", "ncontains",
        "starts_with", "ends_with", "between", "nbetween", "regexp", "nregexp", "newer", "older",
    }  # fmt: skip
    aliases = {"=", "!=", "<>", "<", ">", "<=", ">=", "like", "nlike"}
    assert canonical | aliases <= used


def test_operators_sent_raw_as_typed_in_an_address_bar_still_work(api: ApiClient) -> None:
    # ``=`` inside a value, unencoded: the pair splits at the first ``=`` only.
    for operator, expected in (("=", [B]), ("!=", [D, E, P, S]), ("<>", [D, E, P, S])):
        raw = (
            f"/api/entries?id=movies&options[collection]=1"
            f"&options[filter][where][0][key]=year&options[filter][where][0][operator]={operator}"
            f"&options[filter][where][0][value]=2020&token={api.token}"
        )
        assert ids_of(data_of(get(api, raw))) == expected, operator


def test_a_value_with_spaces_sent_as_plus_or_percent_20_is_the_same(api: ApiClient) -> None:
    for space in ("+", "%20"):
        raw = (
            f"/api/entries?id=movies&options[collection]=true"
            f"&options[filter][where][0][key]=director&options[filter][where][0][operator]=eq"
            f"&options[filter][where][0][value]=Cathy{space}Yan&token={api.token}"
        )
        assert ids_of(data_of(get(api, raw))) == [B]


def test_clauses_are_anded_in_index_order(api: ApiClient) -> None:
    pairs = where(0, "genre", "contains", "action") + where(1, "year", "gte", "2021")
    assert query_ids(api, "movies", pairs) == [E]
    # indexes out of order in the query string mean the same clauses
    assert query_ids(
        api, "movies", where(1, "year", "gte", "2021") + where(0, "genre", "like", "action")
    ) == [E]


def test_a_repeated_key_keeps_the_last_value_as_php_does(api: ApiClient) -> None:
    pairs = [*where(0, "year", "eq", "2019"), ("options[filter][where][0][value]", "2020")]
    assert query_ids(api, "movies", pairs) == [B]


def test_missing_and_null_fields_match_no_clause_not_even_neq_or_nin(api: ApiClient) -> None:
    assert query_ids(api, "things", where(0, "n", "neq", "999")) == [TA, TB, TC]
    assert query_ids(api, "things", where(0, "n", "nin", ["999"])) == [TA, TB, TC]
    assert query_ids(api, "things", where(0, "nothing", "neq", "x")) == []
    assert query_ids(api, "things", where(0, "when", "nregexp", "zzz")) == [TA, TB, TC]


def test_a_regexp_with_catastrophic_backtracking_answers_promptly(api: ApiClient) -> None:
    started = time.monotonic()
    response = get(api, url(api, "long", where(0, "text", "regexp", "(a+)+$")))
    elapsed = time.monotonic() - started
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert data_of(response) == []
    assert elapsed < 5.0
    started = time.monotonic()
    other = get(api, url(api, "long", where(0, "text", "regexp", "(a|aa)*b")))
    assert other.status_code in (200, 400)
    assert time.monotonic() - started < 5.0


def test_an_invalid_regular_expression_is_a_bad_request_naming_the_value(api: ApiClient) -> None:
    response = get(api, url(api, "movies", where(0, "title", "regexp", "(")))
    message = assert_error(response, 400, "BadRequest")["message"]
    assert "options[filter][where][0][value]" in message


# -- find[depth] ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("depth", "expected"),
    [
        (None, TREE[:1]),
        ("1", TREE[:1]),
        ("2", TREE[:2]),
        ("all", TREE),
        ("ALL", TREE),
        (">0", TREE),
        (">=1", TREE),
        ("<2", TREE[:1]),
        ("<=2", TREE[:2]),
        ("<3", TREE[:2]),
    ],
)
def test_find_depth_reaches_as_deep_as_asked(
    api: ApiClient, depth: str | None, expected: list[str]
) -> None:
    pairs = [] if depth is None else [("options[find][depth]", depth)]
    assert query_ids(api, "tree", pairs) == expected
    assert query_ids(api, "tree", pairs, encoded=True) == expected


@pytest.mark.parametrize("depth", ["0", "-1", "<1", "deep", "1.5"])
def test_a_depth_that_selects_no_level_or_is_no_depth_is_a_bad_request(
    api: ApiClient, depth: str
) -> None:
    response = get(api, url(api, "tree", [("options[find][depth]", depth)]))
    assert "options[find][depth]" in assert_error(response, 400, "BadRequest")["message"]


def test_depth_and_a_filter_combine(api: ApiClient) -> None:
    pairs = [("options[find][depth]", "all"), *where(0, "title", "ends_with", "/y/z")]
    assert query_ids(api, "tree", pairs) == ["tree/x/y/z"]


# -- sort_by -------------------------------------------------------------------------------


def test_without_sort_by_items_come_in_id_order(api: ApiClient) -> None:
    assert query_ids(api, "movies", []) == MOVIES
    assert query_ids(api, "things", []) == THINGS


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        (sort(0, "year"), [S, P, B, D, E]),
        (sort(0, "year", "asc"), [S, P, B, D, E]),
        (sort(0, "year", "desc"), [E, D, B, P, S]),
        (sort(0, "year", "DESC"), [E, D, B, P, S]),
        (sort(0, "rating", "desc"), [S, P, D, E, B]),
        (sort(0, "title"), [B, D, E, P, S]),
        (sort(0, "genre.0") + sort(1, "year", "desc"), [E, B, D, S, P]),
    ],
)
def test_sort_by_orders_the_movies(
    api: ApiClient, pairs: list[tuple[str, str]], expected: list[str]
) -> None:
    assert query_ids(api, "movies", pairs) == expected
    assert query_ids(api, "movies", pairs, encoded=True) == expected


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        # numbers numerically (10 after 2), missing and null last in both directions
        (sort(0, "n"), [TA, TB, TC, TD, TE]),
        (sort(0, "n", "desc"), [TC, TB, TA, TD, TE]),
        # strings case-insensitively
        (sort(0, "name"), [TA, TB, TD, TE, TC]),
        (sort(0, "name", "desc"), [TC, TE, TD, TB, TA]),
        # several keys, the first most significant; stable
        (sort(0, "flag", "desc") + sort(1, "n"), [TA, TC, TB, TD, TE]),
        (sort(0, "flag", "desc") + sort(1, "n", "desc"), [TC, TA, TB, TD, TE]),
        (sort(0, "author.name"), [TA, TB, TC, TD, TE]),
        (sort(0, "nothing", "desc"), THINGS),
        # the single-key map form
        (
            [
                ("options[filter][sort_by][key]", "stamp"),
                ("options[filter][sort_by][direction]", "desc"),
            ],
            [TC, TA, TB, TD, TE],
        ),
    ],
)
def test_sort_by_puts_missing_values_last_and_compares_by_type(
    api: ApiClient, pairs: list[tuple[str, str]], expected: list[str]
) -> None:
    assert query_ids(api, "things", pairs) == expected


def test_a_sort_direction_other_than_asc_or_desc_is_a_bad_request(api: ApiClient) -> None:
    response = get(api, url(api, "movies", sort(0, "year", "up")))
    message = assert_error(response, 400, "BadRequest")["message"]
    assert "options[filter][sort_by][0][direction]" in message


# -- offset, limit, meta -------------------------------------------------------------------


def test_offset_and_limit_page_the_sorted_result_and_meta_tells_the_total(
    api: ApiClient,
) -> None:
    pairs = sort(0, "year") + option("offset", "1") + option("limit", "2")
    answer = body(api, url(api, "movies", pairs))
    assert ids_of(answer["data"]) == [P, B]
    assert answer["meta"] == {"total": 5, "offset": 1, "limit": 2}


def test_meta_total_counts_the_filtered_items_before_the_page(api: ApiClient) -> None:
    pairs = where(0, "year", "gte", "2020") + option("limit", "1")
    answer = body(api, url(api, "movies", pairs))
    assert ids_of(answer["data"]) == [B]
    assert answer["meta"]["total"] == 3
    assert answer["meta"]["offset"] == 0
    assert answer["meta"]["limit"] == 1


def test_meta_without_a_limit(api: ApiClient) -> None:
    answer = body(api, url(api, "movies", []))
    assert answer["meta"]["total"] == 5
    assert answer["meta"]["offset"] == 0
    assert answer["meta"].get("limit") is None


def test_a_zero_limit_or_an_offset_past_the_end_gives_an_empty_page(api: ApiClient) -> None:
    zero = body(api, url(api, "movies", option("limit", "0")))
    assert zero["data"] == []
    assert zero["meta"]["total"] == 5
    past = body(api, url(api, "movies", option("offset", "9")))
    assert past["data"] == []
    assert past["meta"]["total"] == 5


def test_an_empty_result_of_an_existing_parent_is_an_empty_list(api: ApiClient) -> None:
    answer = body(api, url(api, "movies", where(0, "year", "eq", "1900")))
    assert answer["data"] == []
    assert answer["meta"]["total"] == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("limit", "-1"),
        ("offset", "-1"),
        ("limit", "ten"),
        ("limit", "1.5"),
        ("offset", ""),
    ],
)
def test_a_negative_or_non_integer_offset_or_limit_is_a_bad_request(
    api: ApiClient, name: str, value: str
) -> None:
    response = get(api, url(api, "movies", option(name, value)))
    message = assert_error(response, 400, "BadRequest")["message"]
    assert f"options[filter][{name}]" in message


# -- return ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("first", S), ("last", E), ("next", P), ("FIRST", S)],
)
def test_return_picks_one_item_of_the_sorted_result(
    api: ApiClient, mode: str, expected: str
) -> None:
    pairs = sort(0, "year") + option("return", mode)
    item = data_of(get(api, url(api, "movies", pairs)))
    assert isinstance(item, dict)
    assert item["id"] == expected


def test_return_applies_after_offset_and_limit(api: ApiClient) -> None:
    pairs = sort(0, "year") + option("offset", "2") + option("limit", "2")
    first = data_of(get(api, url(api, "movies", [*pairs, *option("return", "first")])))
    last = data_of(get(api, url(api, "movies", [*pairs, *option("return", "last")])))
    assert (first["id"], last["id"]) == (B, D)


def test_return_random_gives_one_of_the_matching_items(api: ApiClient) -> None:
    pairs = where(0, "year", "gte", "2020") + option("return", "random")
    for _ in range(10):
        item = data_of(get(api, url(api, "movies", pairs)))
        assert isinstance(item, dict)
        assert item["id"] in {B, D, E}


def test_return_shuffle_gives_a_permutation(api: ApiClient) -> None:
    seen: set[tuple[str, ...]] = set()
    for _ in range(30):
        found = query_ids(api, "movies", option("return", "shuffle"))
        assert sorted(found) == MOVIES
        seen.add(tuple(found))
    assert len(seen) > 1


def test_return_all_is_the_default_list(api: ApiClient) -> None:
    assert query_ids(api, "movies", option("return", "all")) == MOVIES


@pytest.mark.parametrize("mode", ["first", "last", "next", "random"])
def test_a_single_item_return_of_an_empty_result_is_null(api: ApiClient, mode: str) -> None:
    pairs = where(0, "year", "eq", "1900") + option("return", mode)
    answer = body(api, url(api, "movies", pairs))
    assert answer["data"] is None


def test_return_next_of_a_single_item_is_null(api: ApiClient) -> None:
    pairs = where(0, "year", "eq", "2020") + option("return", "next")
    assert body(api, url(api, "movies", pairs))["data"] is None


def test_an_unknown_return_mode_is_a_bad_request(api: ApiClient) -> None:
    response = get(api, url(api, "movies", option("return", "second")))
    assert "options[filter][return]" in assert_error(response, 400, "BadRequest")["message"]


# -- group_by ---------------------------------------------------------------------------------


def test_group_by_groups_by_a_dot_path_in_order_of_first_item(api: ApiClient) -> None:
    groups = data_of(get(api, url(api, "movies", option("group_by", "genre.0"))))
    assert isinstance(groups, dict)
    assert list(groups) == ["action", "adventure", "drama", "animation"]
    assert {name: ids_of(items) for name, items in groups.items()} == {
        "action": [B, E],
        "adventure": [D],
        "drama": [P],
        "animation": [S],
    }


def test_group_by_keys_non_strings_by_json_text_and_missing_under_empty(
    api: ApiClient,
) -> None:
    groups = data_of(get(api, url(api, "things", option("group_by", "flag"))))
    assert {name: ids_of(items) for name, items in groups.items()} == {
        "true": [TA, TC],
        "false": [TB],
        "": [TD, TE],
    }
    assert list(groups) == ["true", "false", ""]
    by_year = data_of(get(api, url(api, "movies", sort(0, "year") + option("group_by", "year"))))
    assert list(by_year) == ["2001", "2019", "2020", "2021", "2022"]


def test_group_by_follows_where_sort_and_limit(api: ApiClient) -> None:
    pairs = (
        where(0, "genre", "contains", "action")
        + sort(0, "year", "desc")
        + option("limit", "5")
        + option("group_by", "genre.0")
    )
    groups = data_of(get(api, url(api, "movies", pairs)))
    assert {name: ids_of(items) for name, items in groups.items()} == {"action": [E, B]}


# -- only / except ----------------------------------------------------------------------------


def test_only_keeps_the_named_fields_and_always_the_id(api: ApiClient) -> None:
    pairs = [("options[filter][only][]", "title"), ("options[filter][only][]", "year")]
    items = data_of(get(api, url(api, "movies", pairs)))
    assert items[0] == {"id": B, "title": "Birds of Prey", "year": 2020}
    assert all(set(item) == {"id", "title", "year"} for item in items)
    comma = data_of(get(api, url(api, "movies", option("only", "title,year"))))
    assert comma == items


def test_only_with_a_dot_path_keeps_the_nested_part(api: ApiClient) -> None:
    items = data_of(get(api, url(api, "things", [("options[filter][only][]", "author.name")])))
    assert items[0] == {"id": TA, "author": {"name": "Ada"}}
    assert items[3] == {"id": TD}


def test_except_drops_the_named_fields_but_never_the_id(api: ApiClient) -> None:
    pairs = [
        ("options[filter][except][]", "genre"),
        ("options[filter][except][]", "rating"),
        ("options[filter][except][]", "id"),
    ]
    items = data_of(get(api, url(api, "movies", pairs)))
    for item in items:
        assert "genre" not in item
        assert "rating" not in item
        assert item["id"] in MOVIES
        assert "title" in item


def test_projection_comes_last_so_filter_and_sort_see_every_field(api: ApiClient) -> None:
    pairs = (
        where(0, "genre", "contains", "action")
        + sort(0, "year", "desc")
        + [("options[filter][only][]", "title")]
    )
    items = data_of(get(api, url(api, "movies", pairs)))
    assert items == [
        {"id": E, "title": "Everything Everywhere All at Once"},
        {"id": B, "title": "Birds of Prey"},
    ]
    one = data_of(get(api, url(api, "movies", [*pairs, *option("return", "first")])))
    assert one == {"id": E, "title": "Everything Everywhere All at Once"}


# -- options[method] ----------------------------------------------------------------------------


def test_a_method_registered_from_python_answers_the_seed_s_method_url(api: ApiClient) -> None:
    calls: list[tuple[str, Mapping[str, Any]]] = []

    def fetch_from_other_db(parent: str, options: Mapping[str, Any]) -> Any:
        calls.append((parent, options))
        return [{"id": "elsewhere/1", "parent": parent}]

    api.container.entries().register_method("fetchFromOtherDB", fetch_from_other_db)
    raw = f"/api/entries?id=movies&options[method]=fetchFromOtherDB&token={api.token}"
    assert data_of(get(api, raw)) == [{"id": "elsewhere/1", "parent": "movies"}]
    assert calls[-1][0] == "movies"
    assert calls[-1][1]["method"] == "fetchFromOtherDB"
    encoded = f"/api/entries?id=movies&options%5Bmethod%5D=fetchFromOtherDB&token={api.token}"
    assert data_of(get(api, encoded)) == [{"id": "elsewhere/1", "parent": "movies"}]


def test_an_unknown_method_is_a_bad_request(api: ApiClient) -> None:
    raw = f"/api/entries?id=movies&options[method]=noSuchMethod&token={api.token}"
    message = assert_error(get(api, raw), 400, "BadRequest")["message"]
    assert "noSuchMethod" in message


# -- malformed options ------------------------------------------------------------------------


def test_the_seed_s_typo_url_is_a_bad_request_naming_the_incomplete_clause(
    api: ApiClient,
) -> None:
    raw = (
        "/api/entries?id=movies&options[collection]=true"
        "&options[filter][where][0][key]=director&options[filter][where][9][operator]=eq"
        f"&options[filter][where][0][value]=Cathy+Yan&token={api.token}"
    )
    message = assert_error(get(api, raw), 400, "BadRequest")["message"]
    assert "options[filter][where][0]" in message or "options[filter][where][9]" in message


def test_the_seed_s_multi_clause_example_is_a_bad_request_naming_clause_two(
    api: ApiClient,
) -> None:
    # As written in the seed: clause 1 gets its operator and value twice (the last wins),
    # clause 2 has a key only.
    raw = (
        "/api/entries?id=movies&options[collection]=true"
        "&options[filter][where][0][key]=director&options[filter][where][0][operator]=eq"
        "&options[filter][where][0][value]=Cathy+Yan&options[filter][where][1][key]=year"
        "&options[filter][where][1][operator]=eq&options[filter][where][1][value]=2020"
        "&options[filter][where][2][key]=genre&options[filter][where][1][operator]=contains"
        f"&options[filter][where][1][value]=drama&token={api.token}"
    )
    message = assert_error(get(api, raw), 400, "BadRequest")["message"]
    assert "options[filter][where][2]" in message


def test_the_seed_s_multi_clause_example_corrected_finds_birds_of_prey(api: ApiClient) -> None:
    pairs = (
        where(0, "director", "eq", "Cathy Yan")
        + where(1, "year", "eq", "2020")
        + where(2, "genre", "contains", "crime")
    )
    assert query_ids(api, "movies", pairs) == [B]
    pairs = [*pairs[:-1], ("options[filter][where][2][value]", "drama")]
    assert query_ids(api, "movies", pairs) == []


@pytest.mark.parametrize("missing", ["key", "operator", "value"])
def test_a_clause_missing_a_part_is_a_bad_request_naming_it(api: ApiClient, missing: str) -> None:
    pairs = [p for p in where(0, "year", "eq", "2020") if not p[0].endswith(f"[{missing}]")]
    message = assert_error(get(api, url(api, "movies", pairs)), 400, "BadRequest")["message"]
    assert f"options[filter][where][0][{missing}]" in message


@pytest.mark.parametrize("operator", ["eqq", "===", "like%", "regex", "between "])
def test_an_unknown_operator_is_a_bad_request_naming_its_parameter(
    api: ApiClient, operator: str
) -> None:
    for encoded in (False, True):
        response = get(api, url(api, "movies", where(0, "year", operator, "2020"), encoded=encoded))
        message = assert_error(response, 400, "BadRequest")["message"]
        assert "options[filter][where][0][operator]" in message


@pytest.mark.parametrize(
    ("operator", "value"),
    [("between", "2019"), ("between", "2019,2020,2021"), ("nbetween", ["1"])],
)
def test_between_needs_exactly_two_bounds(
    api: ApiClient, operator: str, value: str | list[str]
) -> None:
    response = get(api, url(api, "movies", where(0, "year", operator, value)))
    message = assert_error(response, 400, "BadRequest")["message"]
    assert "options[filter][where][0][value]" in message


@pytest.mark.parametrize("value", ["yesterday", "2024-13-45", ""])
def test_newer_with_no_date_is_a_bad_request(api: ApiClient, value: str) -> None:
    response = get(api, url(api, "things", where(0, "when", "newer", value)))
    message = assert_error(response, 400, "BadRequest")["message"]
    assert "options[filter][where][0][value]" in message


def test_an_unknown_filter_option_is_a_bad_request_naming_it(api: ApiClient) -> None:
    response = get(api, url(api, "movies", option("wher", "x")))
    assert "options[filter][wher]" in assert_error(response, 400, "BadRequest")["message"]


def test_a_collection_of_an_id_that_names_nothing_is_not_found_even_filtered(
    api: ApiClient,
) -> None:
    response = get(api, url(api, "nothing-here", where(0, "year", "eq", "2020")))
    assert_error(response, 404, "NotFound")


def test_group_by_a_list_or_float_value_keys_it_by_its_json_text(api: ApiClient) -> None:
    groups = data_of(get(api, url(api, "movies", option("group_by", "genre"))))
    assert next(iter(groups)) == '["action","crime"]'
    assert ids_of(groups['["action","crime"]']) == [B]
    ratings = data_of(get(api, url(api, "movies", option("group_by", "rating"))))
    assert ids_of(ratings["8.0"]) == [D]


def test_except_with_a_dot_path_drops_only_the_nested_field(api: ApiClient) -> None:
    items = data_of(get(api, url(api, "things", [("options[filter][except][]", "author.name")])))
    assert items[0]["author"] == {"age": 36}
    assert items[0]["name"] == "Alpha"


def test_the_root_collection_can_be_filtered_too(api: ApiClient) -> None:
    for root in ("", "/"):
        assert query_ids(api, root, where(0, "title", "eq", "Movies")) == ["movies"]


# -- groups: or, and, not ------------------------------------------------------------------


def clause_at(base: str, key: str, operator: str, value: str) -> list[tuple[str, str]]:
    """The pairs of one clause at ``base`` (a group member: ``...[where][0][or][1]``)."""
    return [(f"{base}[key]", key), (f"{base}[operator]", operator), (f"{base}[value]", value)]


W0 = "options[filter][where][0]"


def test_an_or_group_from_a_bracket_query_string(api: ApiClient) -> None:
    pairs = clause_at(f"{W0}[or][0]", "year", "lt", "2010")
    pairs += clause_at(f"{W0}[or][1]", "genre", "contains", "drama")
    for encoded in (False, True):
        assert query_ids(api, "movies", pairs, encoded=encoded) == [P, S]


def test_not_and_nested_groups_combine_with_clauses(api: ApiClient) -> None:
    pairs = clause_at(f"{W0}[not]", "genre", "contains", "action")
    pairs += clause_at("options[filter][where][1][not][or][0]", "year", "eq", "2001")
    pairs += clause_at("options[filter][where][1][not][or][1]", "year", "eq", "2019")
    assert query_ids(api, "movies", pairs) == [D]
    both = clause_at(f"{W0}[and][0]", "genre", "contains", "adventure")
    both += clause_at(f"{W0}[and][1][not]", "year", "gte", "2022")
    assert query_ids(api, "movies", both + sort(0, "year", "desc")) == [D]


def test_not_of_a_clause_matches_the_missing_and_null_fields(api: ApiClient) -> None:
    assert query_ids(api, "things", clause_at(f"{W0}[not]", "n", "gte", "2")) == [TA, TD, TE]
    assert query_ids(api, "things", clause_at(f"{W0}[not]", "n", "neq", "2")) == [TB, TD, TE]


@pytest.mark.parametrize(
    ("pairs", "start"),
    [
        ([(f"{W0}[or]", "")], f"{W0}[or] must be a list"),
        (
            [*clause_at(f"{W0}[or][0]", "year", "eq", "1"), (f"{W0}[key]", "year")],
            f"{W0} mixes [or] with [key]",
        ),
        (clause_at(f"{W0}[or][0]", "year", "eqq", "1"), f"{W0}[or][0][operator]: unknown operator"),
        (clause_at(f"{W0}[not][0]", "year", "eq", "1"), f"{W0}[not] holds one clause or group"),
        (
            clause_at(W0 + "[not]" * 9, "year", "eq", "1"),
            W0 + "[not]" * 9 + ": groups nest at most 8 levels deep.",
        ),
    ],
)
def test_a_malformed_group_is_a_bad_request_naming_its_parameter(
    api: ApiClient, pairs: list[tuple[str, str]], start: str
) -> None:
    message = assert_error(get(api, url(api, "movies", pairs)), 400, "BadRequest")["message"]
    assert message.startswith(start), message
