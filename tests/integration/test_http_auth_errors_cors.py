"""Authentication, call counting, the error statuses and CORS (api.md sections 1-3)."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from dependency_injector import providers

from flextype_entrypoints.container import build_container
from tests.http_client import (
    ApiClient,
    Project,
    assert_error,
    data_of,
    serve,
)
from tests.unit.fakes import FixedClock


def basic(token: str, access_token: str) -> str:
    return "Basic " + base64.b64encode(f"{token}:{access_token}".encode()).decode()


def new_token(api: ApiClient, data: dict[str, Any]) -> tuple[str, str]:
    issued = data_of(api.send("POST", "tokens", {"data": data}))
    return issued["token"], issued["access_token"]


# -- where credentials travel -----------------------------------------------------------------


def test_a_token_in_the_query_string_reads(api: ApiClient) -> None:
    assert data_of(api.get("entries", {"id": "movies"}))["id"] == "movies"


def test_a_token_and_access_token_in_a_json_body_write(api: ApiClient) -> None:
    data_of(api.send("POST", "entries", {"id": "json-auth", "data": {"title": "j"}}))


def test_a_token_and_access_token_in_a_form_body_write(api: ApiClient) -> None:
    data_of(api.send_form("POST", "entries", {"id": "form-auth", "data[title]": "f"}))


def test_a_token_and_access_token_in_the_query_string_write(api: ApiClient) -> None:
    params = {"token": api.token, "access_token": api.access_token, "id": "query-auth"}
    response = api.request("POST", "/api/entries", params=params, json={"data": {"title": "q"}})
    data_of(response)


@pytest.mark.parametrize("scheme", ["Bearer ", "bearer ", ""], ids=["bearer", "lower", "bare"])
def test_an_authorization_header_with_the_token_reads(api: ApiClient, scheme: str) -> None:
    headers = {"Authorization": scheme + api.token}
    response = api.get("entries", {"id": "movies"}, auth=False, headers=headers)
    assert data_of(response)["id"] == "movies"


def test_a_bearer_token_alone_cannot_write(api: ApiClient) -> None:
    response = api.send(
        "POST",
        "entries",
        {"id": "nope", "data": {}},
        auth=False,
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert_error(response, 401, "AccessTokenInvalid")


def test_basic_authorization_carries_token_and_access_token_for_writes(api: ApiClient) -> None:
    headers = {"Authorization": basic(api.token, api.access_token)}
    body = {"id": "basic-auth", "data": {"title": "b"}}
    data_of(api.send("POST", "entries", body, auth=False, headers=headers))
    response = api.request("DELETE", "/api/entries", params={"id": "basic-auth"}, headers=headers)
    assert response.status_code == 204
    wrong = {"Authorization": basic(api.token, "0" * 32)}
    response = api.send("POST", "entries", body, auth=False, headers=wrong)
    assert_error(response, 401, "AccessTokenInvalid")


def test_a_basic_header_that_is_not_base64_is_a_bad_request(api: ApiClient) -> None:
    headers = {"Authorization": "Basic %%%not-base64%%%"}
    assert_error(
        api.get("entries", {"id": "movies"}, auth=False, headers=headers), 400, "BadRequest"
    )


# -- refused credentials ----------------------------------------------------------------------


def test_a_missing_token_is_refused_for_reads_and_writes(api: ApiClient) -> None:
    assert_error(api.get("entries", {"id": "movies"}, auth=False), 401, "AccessTokenInvalid")
    response = api.send("POST", "entries", {"id": "x", "data": {}}, auth=False)
    assert_error(response, 401, "AccessTokenInvalid")
    response = api.send("POST", "entries", {"id": "x", "data": {}, "token": api.token}, auth=False)
    assert_error(response, 401, "AccessTokenInvalid")


@pytest.mark.parametrize("token", ["0" * 32, "not a token", "x" * 300])
def test_an_unknown_token_is_refused(api: ApiClient, token: str) -> None:
    assert_error(api.as_token(token).fetch("movies"), 401, "AccessTokenInvalid")


def test_a_wrong_access_token_is_refused(api: ApiClient) -> None:
    wrong = api.as_token(api.token, "f" * 32)
    assert_error(
        wrong.send("PATCH", "entries", {"id": "movies", "data": {}}), 401, "AccessTokenInvalid"
    )
    assert data_of(wrong.fetch("movies"))["id"] == "movies"  # reads need no access token


def test_a_disabled_token_is_refused(api: ApiClient) -> None:
    token, access = new_token(api, {"state": "disabled"})
    assert_error(api.as_token(token, access).fetch("movies"), 401, "AccessTokenInvalid")


def test_an_expired_token_is_refused(project: Project) -> None:
    container = build_container(project.path, {})
    clock = FixedClock(2_000_000_000)
    container.clock.override(providers.Object(clock))
    with serve(project, container=container) as api:
        token, access = new_token(api, {"expires_at": clock.now() + 60})
        user = api.as_token(token, access)
        assert data_of(user.fetch("movies"))["id"] == "movies"
        clock.advance(60)
        assert_error(user.fetch("movies"), 401, "AccessTokenInvalid")


def test_a_token_not_allowed_for_the_api_is_refused(api: ApiClient) -> None:
    token, access = new_token(api, {"apis": ["registry"]})
    registry_only = api.as_token(token, access)
    assert_error(registry_only.fetch("movies"), 401, "AccessTokenInvalid")
    data_of(registry_only.get("registry", {"id": "flextype.manifest.version"}))


def test_a_token_at_its_call_limit_gets_call_limit_exceeded(api: ApiClient) -> None:
    token, access = new_token(api, {"limit_calls": 2})
    limited = api.as_token(token, access)
    data_of(limited.fetch("movies"))
    data_of(limited.send("PATCH", "entries", {"id": "movies", "data": {"n": 1}}))
    assert_error(limited.fetch("movies"), 429, "CallLimitExceeded")
    response = limited.send("PATCH", "entries", {"id": "movies", "data": {"n": 2}})
    assert_error(response, 429, "CallLimitExceeded")
    assert api.container.tokens().fetch(token).calls == 2
    assert data_of(api.fetch("movies"))["n"] == 1


# -- call counting ----------------------------------------------------------------------------


def test_concurrent_requests_are_each_counted_exactly_once(project: Project) -> None:
    environ = {"FLEXTYPE_TOKENS__FLUSH_EVERY": "7"}
    with serve(project, environ) as api:
        tokens = api.container.tokens()
        before = tokens.fetch(api.token).calls

        def read(i: int) -> int:
            return api.get("entries", {"id": "movies" if i % 2 else "home"}).status_code

        with ThreadPoolExecutor(max_workers=10) as pool:
            statuses = list(pool.map(read, range(50)))
        assert statuses == [200] * 50
        assert_error(api.get("entries", {"id": "movies"}, auth=False), 401, "AccessTokenInvalid")
        assert tokens.fetch(api.token).calls == before + 50
        tokens.flush()
        assert api.container.token_store().get(api.token).calls == before + 50


def test_calls_are_counted_once_per_request_and_refused_requests_not_at_all(
    api: ApiClient,
) -> None:
    token, access = new_token(api, {})
    user = api.as_token(token, access)
    data_of(user.fetch("movies"))
    data_of(user.send("POST", "entries", {"id": "counted", "data": {}}))
    assert_error(user.fetch("nope"), 404, "NotFound")  # authenticated, so counted
    assert_error(
        api.as_token(token, "0" * 32).send("DELETE", "entries", {"id": "x"}),
        401,
        "AccessTokenInvalid",
    )
    assert api.container.tokens().fetch(token).calls == 3


# -- every status of section 2 ----------------------------------------------------------------


def test_400_names_a_missing_parameter(api: ApiClient) -> None:
    body = assert_error(api.get("entries"), 400, "BadRequest")
    assert "id" in body["message"]
    assert_error(api.send("POST", "entries", {"data": {}}), 400, "BadRequest")


def test_400_for_a_malformed_json_body(api: ApiClient) -> None:
    for content in (b"{not json", b"[1, 2]", b'"text"'):
        response = api.request(
            "POST", "/api/entries", content=content, headers={"content-type": "application/json"}
        )
        assert_error(response, 400, "BadRequest")


def test_401_for_a_missing_token(api: ApiClient) -> None:
    assert_error(api.get("registry", {"id": "flextype"}, auth=False), 401, "AccessTokenInvalid")


BEARER = 'Bearer realm="flextype"'
INVALID = 'Bearer realm="flextype", error="invalid_token"'


def _refused(response: httpx.Response, challenge: str) -> str:
    message: str = assert_error(response, 401, "AccessTokenInvalid")["message"]
    assert response.headers["www-authenticate"] == challenge
    return message


def test_401_without_a_token_says_how_to_send_one_and_get_one(api: ApiClient) -> None:
    for response in (
        api.get("registry", {"id": "flextype"}, auth=False),
        api.send("POST", "entries", {"id": "x", "data": {}}, auth=False),
        api.request("GET", "/api/images/demo/flextype.png", params={"w": "10"}),
    ):
        assert _refused(response, BEARER) == (
            "A token is required. Send it as the 'token' parameter or an 'Authorization:"
            " Bearer TOKEN' header; `flextype tokens create` prints a new one."
        )


def test_401_for_refused_credentials_says_what_to_do(api: ApiClient) -> None:
    disabled, _ = new_token(api, {"state": "disabled"})
    registry_only, _ = new_token(api, {"apis": ["registry"]})
    cases = [
        (api.as_token("0" * 32).fetch("movies"), "Check it, or create one with `flextype"),
        (api.as_token(disabled).fetch("movies"), "Enable it with `flextype tokens enable"),
        (api.as_token(registry_only).fetch("movies"), "Add this API to the token's apis"),
        (
            api.as_token(api.token, "f" * 32).send(
                "PATCH", "entries", {"id": "movies", "data": {}}
            ),
            "Writes need the token and its access token: Basic authorization (curl -u",
        ),
    ]
    for response, hint in cases:
        assert hint in _refused(response, INVALID)


def test_401_for_a_bad_image_signature_names_the_signing_command(api: ApiClient) -> None:
    response = api.request("GET", "/api/images/demo/flextype.png", params={"w": "10", "s": "0"})
    assert "`flextype images sign`" in _refused(response, BEARER)


def test_404_for_a_missing_entry_names_it(api: ApiClient) -> None:
    body = assert_error(api.fetch("movies/nope"), 404, "NotFound")
    assert body["message"] == "Entry 'movies/nope' was not found."


@pytest.mark.parametrize("path", ["/api/nope", "/api/v1/entries/nope", "/api/v2/entries", "/nope"])
def test_404_for_an_unknown_route(api: ApiClient, path: str) -> None:
    assert_error(api.request("GET", path, params={"token": api.token}), 404, "NotFound")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/registry"), ("DELETE", "/api/tokens/generate"), ("GET", "/api/entries/copy")],
)
def test_405_for_a_wrong_method_on_a_known_path(api: ApiClient, method: str, path: str) -> None:
    assert_error(api.request(method, path, params={"token": api.token}), 405, "MethodNotAllowed")


def test_409_for_creating_an_existing_entry(api: ApiClient) -> None:
    response = api.send("POST", "entries", {"id": "movies", "data": {"title": "again"}})
    assert_error(response, 409, "Conflict")


def test_413_for_a_body_over_the_configured_limit(project: Project) -> None:
    with serve(project, {"FLEXTYPE_API__MAX_BODY_SIZE": "1000"}) as api:
        big = {"id": "big", "data": {"text": "x" * 2000}}
        assert_error(api.send("POST", "entries", big), 413, "PayloadTooLarge")
        assert_error(api.fetch("big"), 404, "NotFound")
        data_of(api.send("POST", "entries", {"id": "small", "data": {"text": "x" * 100}}))


def test_415_for_a_text_body(api: ApiClient) -> None:
    response = api.request(
        "POST",
        "/api/entries",
        params={"token": api.token, "access_token": api.access_token, "id": "t"},
        content=b"id=t",
        headers={"content-type": "text/plain"},
    )
    assert_error(response, 415, "UnsupportedMediaType")


JSON_BODY = b'{"id": "hinted", "data": {"title": "t"}}'


@pytest.mark.parametrize(
    ("content_type", "status", "code"),
    [
        ("application/x-www-form-urlencoded", 400, "BadRequest"),  # what curl -d sends
        ("text/plain;charset=UTF-8", 415, "UnsupportedMediaType"),  # what fetch() sends
    ],
)
def test_json_sent_as_another_type_gets_a_hint_naming_the_header(
    api: ApiClient, content_type: str, status: int, code: str
) -> None:
    response = api.request(
        "POST",
        "/api/entries",
        params={"token": api.token, "access_token": api.access_token},
        content=JSON_BODY,
        headers={"content-type": content_type},
    )
    message = assert_error(response, status, code)["message"]
    media_type = content_type.split(";")[0]
    assert message == (
        f"The body looks like JSON but was sent as {media_type}:"
        " add the header 'Content-Type: application/json'."
    )
    assert_error(api.fetch("hinted"), 404, "NotFound")


def test_a_form_sent_without_a_type_gets_a_hint_naming_the_header(api: ApiClient) -> None:
    response = api.request(
        "POST",
        "/api/entries",
        content=f"id=hinted&token={api.token}&access_token={api.access_token}".encode(),
        headers={"content-type": ""},
    )
    message = assert_error(response, 400, "BadRequest")["message"]
    assert message.startswith("The body is not valid JSON")
    assert message.endswith(
        "; it looks like a form: add the header 'Content-Type: application/x-www-form-urlencoded'."
    )


def test_422_lists_the_invalid_fields(api: ApiClient) -> None:
    response = api.send(
        "POST", "entries", {"id": "bad", "data": {"routable": "yes", "uuid": "mine"}}
    )
    body = assert_error(response, 422, "ValidationFailed")
    assert body["details"] == ["data.uuid"]


def test_429_when_the_call_limit_is_reached(api: ApiClient) -> None:
    token, _ = new_token(api, {"limit_calls": 1})
    data_of(api.as_token(token).fetch("movies"))
    assert_error(api.as_token(token).fetch("movies"), 429, "CallLimitExceeded")


class Broken:
    """An entries service whose every method fails with internals in the message."""

    def __getattr__(self, name: str) -> Any:
        def fail(*args: object, **kwargs: object) -> Any:
            raise RuntimeError("secret /abs/path/entries/movies/entry.yaml")

        return fail


def test_500_hides_the_internals_of_an_unexpected_error(api: ApiClient) -> None:
    api.container.entries.override(providers.Object(Broken()))
    try:
        for response in (
            api.fetch("movies"),
            api.fetch("movies", collection="true"),
            api.send("POST", "entries", {"id": "x", "data": {}}),
            api.send("DELETE", "entries", {"id": "x"}),
        ):
            body = assert_error(response, 500, "InternalError")
            assert "secret" not in response.text
            assert "/abs/path" not in response.text
            assert "RuntimeError" not in response.text
            assert body["message"]
            assert response.headers["access-control-allow-origin"] == "*"
    finally:
        api.container.entries.reset_override()
    assert data_of(api.fetch("movies"))["id"] == "movies"


# -- CORS -------------------------------------------------------------------------------------


def test_an_origin_is_echoed_with_vary_origin(api: ApiClient) -> None:
    response = api.get("entries", {"id": "movies"}, headers={"Origin": "https://site.example"})
    assert response.headers["access-control-allow-origin"] == "https://site.example"
    assert "Origin" in response.headers["vary"]


def test_without_an_origin_any_origin_is_allowed(api: ApiClient) -> None:
    response = api.get("entries", {"id": "movies"})
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    "path", ["/api/entries", "/api/v0/tokens/copy", "/api/v1/registry/", "/api/nope"]
)
def test_a_preflight_answers_204_with_the_allowed_headers_methods_and_max_age(
    api: ApiClient, path: str
) -> None:
    response = api.request(
        "OPTIONS",
        path,
        headers={
            "Origin": "https://site.example",
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == "https://site.example"
    assert response.headers["access-control-allow-headers"] == (
        "Accept, Content-Type, Content-Length, Accept-Encoding, Authorization,"
        " If-Match, If-None-Match, Last-Event-ID"
    )
    assert (
        response.headers["access-control-allow-methods"] == "GET, POST, PUT, PATCH, DELETE, OPTIONS"
    )
    assert response.headers["access-control-max-age"] == "300"


def test_cors_headers_are_on_not_found_and_error_responses(api: ApiClient) -> None:
    origin = {"Origin": "https://site.example"}
    for response in (
        api.request("GET", "/api/nope", headers=origin),
        api.get("entries", {"id": "movies/nope"}, headers=origin),
        api.get("entries", {"id": "movies"}, auth=False, headers=origin),
        api.request("POST", "/api/registry", headers=origin),
        api.send("POST", "entries", {"id": "movies", "data": {}}, headers=origin),
    ):
        assert response.status_code >= 400
        assert response.headers["access-control-allow-origin"] == "https://site.example"
        assert "Origin" in response.headers["vary"]
    assert api.request("GET", "/api/nope").headers["access-control-allow-origin"] == "*"


def test_a_page_on_another_origin_may_read_the_etag_and_the_reasons_of_an_answer(
    api: ApiClient,
) -> None:
    origin = {"Origin": "https://site.example"}
    for response in (
        api.get("entries", {"id": "movies/dune"}, headers=origin),
        api.get("entries", {"id": "movies"}, auth=False, headers=origin),
    ):
        exposed = {
            h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
        }
        assert {"etag", "www-authenticate", "retry-after", "location"} <= exposed
        assert "x-changes-cursor" in exposed  # collection answers carry it


def test_configured_origins_are_the_only_ones_allowed(project: Project) -> None:
    with serve(project, {"FLEXTYPE_CORS__ALLOW_ORIGINS": "[https://a.example]"}) as api:
        allowed = api.get("entries", {"id": "movies"}, headers={"Origin": "https://a.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://a.example"
        other = api.get("entries", {"id": "movies"}, headers={"Origin": "https://b.example"})
        assert other.status_code == 200
        assert "access-control-allow-origin" not in other.headers
        preflight = api.request(
            "OPTIONS",
            "/api/entries",
            headers={"Origin": "https://b.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in preflight.headers
