"""The Tokens API (api.md section 8) and the Registry API (section 5) over HTTP."""

from __future__ import annotations

import re
import time
from typing import Any

import bcrypt
import pytest
import yaml

import flextype_core
from tests.http_client import (
    PREFIXES,
    ApiClient,
    Project,
    assert_error,
    data_of,
    is_uuid4,
)

HEX32 = re.compile(r"[0-9a-f]{32}")
PUBLIC_FIELDS = {
    "token",
    "title",
    "state",
    "apis",
    "limit_calls",
    "calls",
    "expires_at",
    "uuid",
    "created_at",
    "modified_at",
    "last_used_at",
}
# PHP's own examples (php.net, password_hash and password_verify) for 'rasmuslerdorf'.
PHP_HASHES = [
    "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a",
    "$2y$07$BCryptRequires22Chrcte/VlQH0piJtjXl.0t1XkA8pw9dMXTpOq",
]


@pytest.fixture
def with_demo() -> bool:
    return False


def create_token(api: ApiClient, data: dict[str, Any], token_id: str | None = None) -> Any:
    body: dict[str, Any] = {"data": data}
    if token_id is not None:
        body["id"] = token_id
    return data_of(api.send("POST", "tokens", body))


# -- tokens ----------------------------------------------------------------------------------


def test_a_created_token_has_the_defaults_and_its_access_token_shown_once(api: ApiClient) -> None:
    issued = create_token(api, {"title": "Reader"})
    assert set(issued) == PUBLIC_FIELDS | {"access_token"}
    assert HEX32.fullmatch(issued["token"])
    assert HEX32.fullmatch(issued["access_token"])
    assert issued["title"] == "Reader"
    assert issued["state"] == "enabled"
    assert issued["apis"] == ["entries", "registry", "media", "images"]
    assert issued["limit_calls"] == 0
    assert issued["calls"] == 0
    assert issued["expires_at"] is None
    assert is_uuid4(issued["uuid"])
    assert type(issued["created_at"]) is int

    fetched = data_of(api.get("tokens", {"id": issued["token"]}))
    assert set(fetched) == PUBLIC_FIELDS
    assert fetched == {k: v for k, v in issued.items() if k != "access_token"}


def test_a_token_created_with_an_id_takes_that_id(api: ApiClient) -> None:
    issued = create_token(api, {"title": "Named", "apis": ["entries"]}, "my-site_reader-01")
    assert issued["token"] == "my-site_reader-01"
    assert data_of(api.get("tokens", {"id": "my-site_reader-01"}))["apis"] == ["entries"]
    response = api.send("POST", "tokens", {"id": "my-site_reader-01", "data": {}})
    assert_error(response, 409, "Conflict")


@pytest.mark.parametrize("bad_id", ["short", "x" * 65, "has space in it!", "../../../../etc"])
def test_a_chosen_token_id_outside_the_rules_is_a_bad_request(api: ApiClient, bad_id: str) -> None:
    assert_error(api.send("POST", "tokens", {"id": bad_id, "data": {}}), 400, "BadRequest")


def test_a_token_expiring_in_the_past_is_a_validation_failure(api: ApiClient) -> None:
    response = api.send("POST", "tokens", {"data": {"expires_at": int(time.time()) - 10}})
    assert assert_error(response, 422, "ValidationFailed")["details"] == ["data.expires_at"]
    future = int(time.time()) + 3600
    assert create_token(api, {"expires_at": future})["expires_at"] == future


@pytest.mark.parametrize(
    "data",
    [{"apis": ["nope"]}, {"limit_calls": -1}, {"state": "paused"}, {"colour": "red"}, "x"],
)
def test_invalid_token_data_is_a_validation_failure(api: ApiClient, data: Any) -> None:
    assert_error(api.send("POST", "tokens", {"data": data}), 422, "ValidationFailed")


def test_the_token_collection_lists_every_token_without_hashes(api: ApiClient) -> None:
    other = create_token(api, {"title": "Other"})
    listed = data_of(api.get("tokens", {"options[collection]": "true"}))
    assert [t["token"] for t in listed] == sorted([api.token, other["token"]])
    assert all(set(t) == PUBLIC_FIELDS for t in listed)


def test_a_new_token_reads_and_writes_entries_but_not_tokens(api: ApiClient) -> None:
    issued = create_token(api, {"title": "Editor"})
    editor = api.as_token(issued["token"], issued["access_token"])
    data_of(editor.send("POST", "entries", {"id": "note", "data": {"title": "n"}}))
    assert data_of(editor.fetch("note"))["title"] == "n"
    assert_error(editor.get("tokens", {"id": api.token}), 401, "AccessTokenInvalid")


def test_updating_a_token_changes_only_the_given_fields(api: ApiClient) -> None:
    issued = create_token(api, {"title": "Before", "apis": ["entries"]})
    updated = data_of(
        api.send(
            "PATCH",
            "tokens",
            {"id": issued["token"], "data": {"title": "After", "limit_calls": 5}},
        )
    )
    assert updated["title"] == "After"
    assert updated["limit_calls"] == 5
    assert updated["apis"] == ["entries"]
    assert updated["uuid"] == issued["uuid"]
    assert "access_token" not in updated
    data_of(api.send("PATCH", "tokens", {"id": issued["token"], "data": {"state": "disabled"}}))
    reader = api.as_token(issued["token"])
    assert_error(reader.fetch("anything"), 401, "AccessTokenInvalid")
    response = api.send("PATCH", "tokens", {"id": issued["token"], "data": {"expires_at": 1}})
    assert_error(response, 422, "ValidationFailed")
    assert_error(api.send("PATCH", "tokens", {"id": "f" * 32, "data": {}}), 404, "NotFound")


def test_moving_a_token_rotates_its_public_id_and_keeps_its_access_token(api: ApiClient) -> None:
    issued = create_token(api, {"title": "Rotating"})
    new_id = "b" * 32
    moved = data_of(api.send("PUT", "tokens", {"id": issued["token"], "new_id": new_id}))
    assert moved["token"] == new_id
    assert moved["uuid"] == issued["uuid"]
    assert "access_token" not in moved
    assert_error(api.get("tokens", {"id": issued["token"]}), 404, "NotFound")
    rotated = api.as_token(new_id, issued["access_token"])
    data_of(rotated.send("POST", "entries", {"id": "rotated", "data": {}}))
    old = api.as_token(issued["token"], issued["access_token"])
    assert_error(old.fetch("rotated"), 401, "AccessTokenInvalid")
    response = api.send("PUT", "tokens", {"id": new_id, "new_id": api.token})
    assert_error(response, 409, "Conflict")


def test_copying_a_token_returns_a_new_access_token_that_works(api: ApiClient) -> None:
    issued = create_token(api, {"title": "Original", "apis": ["entries"]})
    copy_id = "c" * 32
    copy = data_of(api.send("PUT", "tokens/copy", {"id": issued["token"], "new_id": copy_id}))
    assert copy["token"] == copy_id
    assert HEX32.fullmatch(copy["access_token"])
    assert copy["access_token"] != issued["access_token"]
    assert copy["uuid"] != issued["uuid"]
    assert copy["apis"] == ["entries"]
    assert copy["calls"] == 0
    fresh = api.as_token(copy_id, copy["access_token"])
    data_of(fresh.send("POST", "entries", {"id": "by-copy", "data": {}}))
    stale = api.as_token(copy_id, issued["access_token"])
    assert_error(stale.send("POST", "entries", {"id": "no", "data": {}}), 401, "AccessTokenInvalid")
    assert "access_token" not in data_of(api.get("tokens", {"id": copy_id}))


def test_deleting_a_token_answers_204_and_the_token_stops_working(api: ApiClient) -> None:
    issued = create_token(api, {"title": "Doomed"})
    response = api.send("DELETE", "tokens", {"id": issued["token"]})
    assert response.status_code == 204
    assert response.content == b""
    assert_error(api.get("tokens", {"id": issued["token"]}), 404, "NotFound")
    assert_error(api.as_token(issued["token"]).fetch("x"), 401, "AccessTokenInvalid")
    assert_error(api.send("DELETE", "tokens", {"id": issued["token"]}), 404, "NotFound")


def test_generate_answers_a_fresh_token_that_is_not_stored(api: ApiClient) -> None:
    first = data_of(api.send("POST", "tokens/generate", {}))
    second = data_of(api.send("POST", "tokens/generate", {}))
    assert set(first) == {"token"}
    assert HEX32.fullmatch(first["token"])
    assert first != second
    assert_error(api.get("tokens", {"id": first["token"]}), 404, "NotFound")


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(
    ("generate", "verify"),
    [
        ("tokens/generate-hash", "tokens/verify-hash"),
        ("tokens-generate-hash", "tokens-verify-hash"),
    ],
    ids=["paths", "aliases"],
)
def test_generated_hashes_verify_on_every_path_and_prefix(
    api: ApiClient, prefix: str, generate: str, verify: str
) -> None:
    there = api.at(prefix)
    hashed = data_of(there.send("POST", generate, {"string": "s3cret"}))
    assert set(hashed) == {"hashed_token"}
    assert hashed["hashed_token"].startswith("$2y$")
    check = {"string": "s3cret", "hash": hashed["hashed_token"]}
    assert data_of(there.send("POST", verify, check)) == {"verified": True}
    wrong = {"string": "other", "hash": hashed["hashed_token"]}
    assert data_of(there.send("POST", verify, wrong)) == {"verified": False}


@pytest.mark.parametrize("php_hash", PHP_HASHES)
def test_a_php_2y_hash_verifies(api: ApiClient, php_hash: str) -> None:
    right = {"string": "rasmuslerdorf", "hash": php_hash}
    assert data_of(api.send("POST", "tokens/verify-hash", right)) == {"verified": True}
    wrong = {"string": "rasmus", "hash": php_hash}
    assert data_of(api.send("POST", "tokens-verify-hash", wrong)) == {"verified": False}


def test_a_malformed_hash_does_not_verify_and_does_not_fail(api: ApiClient) -> None:
    for bad in ("", "$2y$", "plain", "$1$abc"):
        check = {"string": "x", "hash": bad}
        assert data_of(api.send("POST", "tokens/verify-hash", check)) == {"verified": False}
    assert_error(api.send("POST", "tokens/verify-hash", {"string": "x"}), 400, "BadRequest")
    assert_error(api.send("POST", "tokens/generate-hash", {}), 400, "BadRequest")


def _costly(cost: int) -> str:
    """A well-formed bcrypt hash of cost ``cost`` (checking it would take 2**cost rounds)."""
    return f"$2y${cost:02d}$" + PHP_HASHES[0][7:]


@pytest.mark.parametrize("path", ["tokens/verify-hash", "tokens-verify-hash"])
@pytest.mark.parametrize("cost", [13, 14, 31])
def test_a_hash_costlier_than_ours_plus_two_is_refused_unchecked(
    api: ApiClient, path: str, cost: int
) -> None:
    # Our hashes cost 10 (tokens.hash_rounds): 13 takes 8 times as long, 31 a day and more.
    started = time.monotonic()
    response = api.send("POST", path, {"string": "rasmuslerdorf", "hash": _costly(cost)})
    body = assert_error(response, 400, "BadRequest")
    assert f"cost {cost}" in body["message"] and "12" in body["message"]
    assert time.monotonic() - started < 5


def test_a_hash_of_our_cost_plus_two_is_still_checked(api: ApiClient) -> None:
    hashed = "$2y$" + bcrypt.hashpw(b"s3cret", bcrypt.gensalt(12)).decode()[4:]
    check = {"string": "s3cret", "hash": hashed}
    assert data_of(api.send("POST", "tokens/verify-hash", check)) == {"verified": True}


@pytest.mark.parametrize(
    "bad",
    [
        "$2y$10$" + "!" * 53,  # characters outside bcrypt's alphabet
        "$2y$10$" + "é" * 53,
        PHP_HASHES[0] + "x",  # one character too many
        PHP_HASHES[0][:-1],
        "$2y$03$" + PHP_HASHES[0][7:],  # below bcrypt's least cost
        "$2y$1a$" + PHP_HASHES[0][7:],
        "$2x$10$" + PHP_HASHES[0][7:],
        "$2y$10$" + "a" * 100_000,
    ],
)
def test_a_malformed_bcrypt_hash_is_not_verified(api: ApiClient, bad: str) -> None:
    check = {"string": "rasmuslerdorf", "hash": bad}
    assert data_of(api.send("POST", "tokens/verify-hash", check)) == {"verified": False}
    assert data_of(api.send("POST", "tokens-verify-hash", check)) == {"verified": False}


@pytest.mark.parametrize("path", ["tokens/verify-hash", "tokens-verify-hash"])
def test_a_hash_or_string_of_the_wrong_type_is_a_bad_request(api: ApiClient, path: str) -> None:
    for body in ({"string": "x", "hash": 5}, {"string": ["x"], "hash": PHP_HASHES[0]}):
        assert_error(api.send("POST", path, body), 400, "BadRequest")


def test_secrets_over_bcrypts_72_bytes_hash_and_verify_as_php_does(api: ApiClient) -> None:
    # PHP's password_hash uses the first 72 bytes; so do we, both ways.
    secret = "é" * 50  # 100 bytes
    hashed = data_of(api.send("POST", "tokens/generate-hash", {"string": secret}))
    check = {"string": secret, "hash": hashed["hashed_token"]}
    assert data_of(api.send("POST", "tokens/verify-hash", check)) == {"verified": True}
    same_start = {"string": "é" * 36 + "other", "hash": hashed["hashed_token"]}
    assert data_of(api.send("POST", "tokens/verify-hash", same_start)) == {"verified": True}
    other = {"string": "é" * 35 + "x", "hash": hashed["hashed_token"]}
    assert data_of(api.send("POST", "tokens/verify-hash", other)) == {"verified": False}


def test_the_hash_helpers_need_a_token_for_the_tokens_api_and_its_access_token(
    api: ApiClient,
) -> None:
    issued = create_token(api, {"apis": ["entries", "registry"]})
    outsider = api.as_token(issued["token"], issued["access_token"])
    for path in ("tokens/generate", "tokens/generate-hash", "tokens-verify-hash"):
        body = {"string": "x", "hash": PHP_HASHES[0]}
        assert_error(outsider.send("POST", path, body), 401, "AccessTokenInvalid")
        assert_error(api.send("POST", path, body, auth=False), 401, "AccessTokenInvalid")


def test_no_token_response_ever_carries_a_hash(api: ApiClient) -> None:
    issued = create_token(api, {"title": "Seen"}, "seen-token-0123456789")
    api.get("tokens", {"id": issued["token"]})
    api.get("tokens", {"options[collection]": "true"})
    api.send("PATCH", "tokens", {"id": issued["token"], "data": {"title": "t"}})
    api.send("PUT", "tokens/copy", {"id": issued["token"], "new_id": "seen-token-copy-000"})
    api.send("PUT", "tokens", {"id": issued["token"], "new_id": "seen-token-moved-000"})
    api.send("POST", "tokens", {"id": "seen-token-moved-000", "data": {}})
    assert len(api.responses) >= 7
    for response in api.responses:
        assert "hashed_access_token" not in response.text
        assert "$2y$" not in response.text
        assert "$2b$" not in response.text


# -- registry -------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_the_registry_serves_the_flextype_version_as_the_seed_shows(
    api: ApiClient, prefix: str
) -> None:
    response = api.at(prefix).get("registry", {"id": "flextype.manifest.version"})
    assert data_of(response) == {
        "key": "flextype.manifest.version",
        "value": flextype_core.__version__,
    }


def test_the_registry_serves_a_subtree(api: ApiClient, project: Project) -> None:
    manifest = data_of(api.get("registry", {"id": "flextype.manifest"}))
    assert manifest["key"] == "flextype.manifest"
    assert manifest["value"]["version"] == flextype_core.__version__
    assert manifest["value"]["name"] == "flextype-py"
    settings = yaml.safe_load((project.path / "flextype.yaml").read_text())
    storage = data_of(api.get("registry", {"id": "flextype.settings.storage"}))
    # storage.postgres.url is a secret: the section is served without it.
    assert storage["value"] == {
        "driver": settings["storage"]["driver"],
        "postgres": {
            "schema": "flextype",
            "pool_size": 10,
            "pool_timeout": 5.0,
            "statement_timeout": 30.0,
            "indexes": [],
        },
    }
    cors = data_of(api.get("registry", {"id": "flextype.settings.cors.allow_origins"}))
    assert cors["value"] == ["*"]


@pytest.mark.parametrize("key", ["flextype.nope", "nope", "flextype.manifest.version.x"])
def test_a_missing_registry_key_is_not_found(api: ApiClient, key: str) -> None:
    assert_error(api.get("registry", {"id": key}), 404, "NotFound")


def test_a_registry_request_without_an_id_is_a_bad_request(api: ApiClient) -> None:
    assert_error(api.get("registry"), 400, "BadRequest")


def test_the_image_signing_key_is_never_served(api: ApiClient, project: Project) -> None:
    sign_key = yaml.safe_load((project.path / "flextype.yaml").read_text())["images"]["sign_key"]
    assert len(sign_key) >= 32
    images = data_of(api.get("registry", {"id": "flextype.settings.images"}))
    assert "sign_key" not in images["value"]
    assert_error(api.get("registry", {"id": "flextype.settings.images.sign_key"}), 404, "NotFound")
    for key in ("flextype", "flextype.settings"):
        assert sign_key not in api.get("registry", {"id": key}).text
    for response in api.responses:
        assert sign_key not in response.text


def test_the_registry_needs_a_token_allowed_for_it(api: ApiClient) -> None:
    issued = create_token(api, {"apis": ["entries"]})
    entries_only = api.as_token(issued["token"])
    response = entries_only.get("registry", {"id": "flextype.manifest.version"})
    assert_error(response, 401, "AccessTokenInvalid")
    response = api.get("registry", {"id": "flextype.manifest.version"}, auth=False)
    assert_error(response, 401, "AccessTokenInvalid")
