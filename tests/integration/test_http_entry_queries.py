"""Queries in a body (api.md section 10): ``POST /api/entries/query`` on every file driver.

Each named query must answer exactly what ``GET /api/entries`` answers for the same id
and options; the request is one read (token alone, counted once), bounded (50 queries),
and one failing query fails it all with that query's status, naming it.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.http_client import ApiClient, Project, assert_error, data_of, serve

B, D, E, P, S = (
    "movies/birds-of-prey",
    "movies/dune",
    "movies/everything-everywhere-all-at-once",
    "movies/parasite",
    "movies/spirited-away",
)


def ask(
    api: ApiClient,
    queries: Any,
    *,
    headers: dict[str, str] | None = None,
    auth: bool = True,
) -> httpx.Response:
    """POST ``queries`` with the token in the body (a read: no access token)."""
    body: dict[str, Any] = {"queries": queries}
    if auth:
        body["token"] = api.token
    return api.request(
        "POST",
        api.url("entries/query"),
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json", **(headers or {})},
    )


def answered(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"data", "meta"}, body
    return body


def ids(items: Any) -> list[str]:
    assert isinstance(items, list), items
    return [item["id"] for item in items]


def new_token(api: ApiClient, data: dict[str, Any]) -> str:
    issued = data_of(api.send("POST", "tokens", {"data": data}))
    token: str = issued["token"]
    return token


# -- what the queries answer -----------------------------------------------------------------


def test_each_query_answers_what_get_answers_for_it(api: ApiClient) -> None:
    recent = [
        ("options[collection]", "true"),
        ("options[filter][where][0][key]", "year"),
        ("options[filter][where][0][operator]", "gte"),
        ("options[filter][where][0][value]", "2020"),
        ("options[filter][sort_by][key]", "rating"),
        ("options[filter][sort_by][direction]", "desc"),
    ]
    queries = {
        "recent": {
            "id": "movies",
            "options": {
                "collection": "true",
                "filter": {
                    "where": {"0": {"key": "year", "operator": "gte", "value": "2020"}},
                    "sort_by": {"key": "rating", "direction": "desc"},
                },
            },
        },
        "blog": {"id": "blog", "options": {"collection": True, "filter": {"only": ["title"]}}},
        "home": {"id": "home"},
    }
    body = answered(ask(api, queries))
    assert list(body["data"]) == ["recent", "blog", "home"]
    assert ids(body["data"]["recent"]) == [D, E, B]

    by_get = api.request(
        "GET", api.url("entries"), params=[("id", "movies"), *recent, ("token", api.token)]
    )
    assert body["data"]["recent"] == by_get.json()["data"]
    assert body["meta"]["recent"] == by_get.json()["meta"]
    blog = api.get(
        "entries", {"id": "blog", "options[collection]": "1", "options[filter][only][]": "title"}
    )
    assert (
        body["data"]["blog"]
        == blog.json()["data"]
        == [{"title": "Hello, world", "id": "blog/hello-world"}]
    )
    assert body["meta"]["blog"] == blog.json()["meta"]
    assert body["data"]["home"] == data_of(api.fetch("home"))
    assert body["meta"]["home"] is None  # an entry has no meta, as GET answers none


def test_json_options_keep_their_types(api: ApiClient) -> None:
    options = {
        "collection": True,
        "find": {"depth": 1},
        "filter": {
            "where": [
                {"key": "year", "operator": "between", "value": [2019, 2021]},
                {"key": "rating", "operator": "gt", "value": 8},
            ],
            "sort_by": [{"key": "year", "direction": "desc"}],
            "offset": 0,
            "limit": 1,
        },
    }
    body = answered(ask(api, {"best": {"id": "movies", "options": options}}))
    assert ids(body["data"]["best"]) == [P]
    assert body["meta"]["best"]["total"] == 1
    assert body["meta"]["best"]["limit"] == 1


def test_a_collection_without_id_is_the_root_and_an_entry_needs_its_id(api: ApiClient) -> None:
    body = answered(ask(api, {"top": {"options": {"collection": 1}}}))
    assert {"movies", "blog", "home"} <= set(ids(body["data"]["top"]))
    response = ask(api, {"top": {"options": {"collection": 1}}, "one": {}})
    error = assert_error(response, 400, "BadRequest")
    assert error["message"] == "Query 'one': The parameter 'id' is required."


def test_every_prefix_serves_the_route(api: ApiClient) -> None:
    for prefix in ("/api/v0", "/api/v1"):
        body = answered(ask(api.at(prefix), {"dune": {"id": D}}))
        assert body["data"]["dune"]["title"] == "Dune"


# -- one failing query fails the request, naming it -------------------------------------------


@pytest.mark.parametrize(
    ("query", "status", "code", "says"),
    [
        ({"id": "movies/nope"}, 404, "NotFound", "Query 'bad': Entry 'movies/nope' was not found."),
        ({"id": "../etc"}, 400, "BadRequest", "Query 'bad': "),
        (
            {
                "id": "movies",
                "options": {"collection": True, "filter": {"where": [{"key": "year"}]}},
            },
            400,
            "BadRequest",
            "Query 'bad': ",
        ),
        (
            {"id": "movies", "options": {"collection": 1, "filter": {"limit": -1}}},
            400,
            "BadRequest",
            "Query 'bad': ",
        ),
        ({"id": "movies", "options": {"method": "nope"}}, 400, "BadRequest", "Query 'bad': "),
        ({"id": "nowhere", "options": {"collection": "yes"}}, 404, "NotFound", "Query 'bad': "),
    ],
)
def test_one_failing_query_makes_the_answer_its_error_naming_it(
    api: ApiClient, query: dict[str, Any], status: int, code: str, says: str
) -> None:
    response = ask(api, {"good": {"id": D}, "bad": query, "after": {"id": "home"}})
    error = assert_error(response, status, code)
    assert error["message"].startswith(says), error["message"]
    assert "ETag" not in response.headers


# -- limits and the body's shape ------------------------------------------------------------


def test_fifty_queries_run_and_fifty_one_are_400(api: ApiClient) -> None:
    fifty = {f"q{i}": {"id": D} for i in range(50)}
    body = answered(ask(api, fifty))
    assert len(body["data"]) == 50
    error = assert_error(ask(api, {**fifty, "q50": {"id": D}}), 400, "BadRequest")
    assert "51" in error["message"] and "50" in error["message"]


@pytest.mark.parametrize(
    ("queries", "says"),
    [
        ({}, "'queries'"),
        ([{"id": D}], "'queries'"),
        ("dune", "'queries'"),
        ({"dune": "movies/dune"}, "'queries.dune'"),
        ({"dune": {"id": D, "option": {"collection": 1}}}, "'queries.dune'"),
        ({"dune": {"id": 7}}, "'queries.dune.id'"),
        ({"dune": {"id": "movies", "options": "collection"}}, "'queries.dune.options'"),
        ({"": {"id": D}}, "query name ''"),
        ({"a b": {"id": D}}, "query name 'a b'"),
        ({"x" * 65: {"id": D}}, "query name"),
    ],
)
def test_a_body_of_the_wrong_shape_is_400_naming_the_part(
    api: ApiClient, queries: Any, says: str
) -> None:
    error = assert_error(ask(api, queries), 400, "BadRequest")
    assert says in error["message"], error["message"]


def test_names_of_64_letters_digits_dashes_and_underscores_are_allowed(api: ApiClient) -> None:
    name = "Recent_movies-2" + "x" * 49
    assert answered(ask(api, {name: {"id": D}}))["data"][name]["title"] == "Dune"


def test_queries_are_required_and_the_body_must_be_json_or_a_form(api: ApiClient) -> None:
    url = api.url("entries/query")
    error = assert_error(api.request("POST", url, params={"token": api.token}), 400, "BadRequest")
    assert "'queries' is required" in error["message"]
    not_json = api.request(
        "POST", url, content=b"{nope", headers={"content-type": "application/json"}
    )
    assert_error(not_json, 400, "BadRequest")
    xml = api.request("POST", url, content=b"<q/>", headers={"content-type": "application/xml"})
    assert_error(xml, 415, "UnsupportedMediaType")


def test_a_form_body_runs_its_queries_with_string_options(api: ApiClient) -> None:
    fields = {
        "token": api.token,
        "queries[old][id]": "movies",
        "queries[old][options][collection]": "true",
        "queries[old][options][filter][where][0][key]": "year",
        "queries[old][options][filter][where][0][operator]": "lt",
        "queries[old][options][filter][where][0][value]": "2010",
    }
    response = api.send_form("POST", "entries/query", fields, auth=False)
    assert ids(answered(response)["data"]["old"]) == [S]


def test_a_body_over_the_size_limit_is_413(project: Project) -> None:
    with serve(project, {"FLEXTYPE_API__MAX_BODY_SIZE": "1000"}) as api:
        big = {f"q{i}": {"id": "movies/" + "x" * 40} for i in range(30)}
        assert_error(ask(api, big), 413, "PayloadTooLarge")


# -- a read: the token alone, counted once -------------------------------------------------------


def test_no_token_or_a_token_for_another_api_is_401(api: ApiClient) -> None:
    assert_error(ask(api, {"dune": {"id": D}}, auth=False), 401, "AccessTokenInvalid")
    registry_only = new_token(api, {"apis": ["registry"]})
    refused = ask(api.as_token(registry_only), {"dune": {"id": D}})
    assert_error(refused, 401, "AccessTokenInvalid")
    disabled = new_token(api, {"state": "disabled"})
    assert_error(ask(api.as_token(disabled), {"dune": {"id": D}}), 401, "AccessTokenInvalid")


def test_the_token_may_travel_in_the_authorization_header_or_the_query(api: ApiClient) -> None:
    bearer = ask(
        api, {"dune": {"id": D}}, auth=False, headers={"authorization": f"Bearer {api.token}"}
    )
    assert answered(bearer)["data"]["dune"]["id"] == D
    in_query = api.request(
        "POST",
        api.url("entries/query"),
        params={"token": api.token},
        json={"queries": {"dune": {"id": D}}},
    )
    assert answered(in_query)["data"]["dune"]["id"] == D


def test_a_request_is_counted_once_whatever_its_number_of_queries(api: ApiClient) -> None:
    limited = new_token(api, {"limit_calls": 2})
    user = api.as_token(limited)
    three = {"a": {"id": D}, "b": {"id": "movies", "options": {"collection": 1}}, "c": {"id": P}}
    answered(ask(user, three))
    assert api.container.tokens().fetch(limited).calls == 1
    answered(ask(user, three))
    assert_error(ask(user, three), 429, "CallLimitExceeded")
    assert api.container.tokens().fetch(limited).calls == 2


# -- caching ------------------------------------------------------------------------------------


def test_the_answer_has_an_etag_and_if_none_match_is_304_until_a_query_changes(
    api: ApiClient,
) -> None:
    queries = {"movies": {"id": "movies", "options": {"collection": 1}}, "dune": {"id": D}}
    first = ask(api, queries)
    etag = first.headers["ETag"]
    assert answered(first) and etag.startswith('"')
    again = ask(api, queries, headers={"if-none-match": etag})
    assert again.status_code == 304, again.text
    assert again.content == b""
    assert again.headers["ETag"] == etag
    data_of(api.send("PATCH", "entries", {"id": D, "data": {"rating": 8.1}}))
    changed = ask(api, queries, headers={"if-none-match": etag})
    assert answered(changed)["data"]["dune"]["rating"] == 8.1
    assert changed.headers["ETag"] != etag


def test_the_answer_carries_the_change_feed_position_read_before_the_queries(
    api: ApiClient,
) -> None:
    listed = api.get("entries", {"id": "movies", "options[collection]": "1"})
    cursor = listed.headers["X-Changes-Cursor"]
    response = ask(api, {"movies": {"id": "movies", "options": {"collection": 1}}})
    assert response.headers["X-Changes-Cursor"] == cursor
    data_of(api.send("PATCH", "entries", {"id": D, "data": {"rating": 8.2}}))
    after = ask(api, {"dune": {"id": D}})
    assert after.headers["X-Changes-Cursor"] != cursor
    changes = api.get("changes", {"since": cursor})
    assert [change["id"] for change in data_of(changes)] == [D]


# -- the richer options of section 10 inside a body (built on other branches) ------------------


def test_a_where_group_in_a_body_reaches_the_query(api: ApiClient) -> None:
    """Needs the groups branch (parsing of ``or``/``and``/``not``)."""
    where = [
        {
            "or": [
                {"key": "year", "operator": "lt", "value": 2010},
                {"not": {"key": "rating", "operator": "lt", "value": 8.4}},
            ]
        }
    ]
    options = {"collection": True, "filter": {"where": where}}
    body = answered(ask(api, {"classics": {"id": "movies", "options": options}}))
    assert ids(body["data"]["classics"]) == [P, S]
