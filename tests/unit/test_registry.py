"""Registry: dot-path reads over the manifest and the settings, with every secret removed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flextype_core.errors import NotFound, RegistryKeyNotFound
from flextype_core.registry import Registry, is_secret_key

MANIFEST: dict[str, Any] = {"name": "flextype-py", "version": "0.1.0", "author": {"name": "x"}}

SETTINGS: dict[str, Any] = {
    "storage": {"driver": "yaml"},
    "api": {
        "max_body_size": 10_000_000,
        "entries": {"enabled": True},
        "tokens": {"enabled": True},
    },
    "cors": {"allow_origins": ["*", "https://example.com"]},
    "images": {"max_width": 4096, "sign_key": "SECRET-sign"},
    "secret": "SECRET-top",
    "api_secret": "SECRET-api",
    "db": {
        "password": "SECRET-pw",
        "passwd": "SECRET-passwd",
        "user": "admin",
        "nested": {"deeper": {"admin_token": "SECRET-token", "salt": "SECRET-salt", "port": 1}},
    },
    "auth": {"hash": "SECRET-hash", "hash_rounds": 10, "API_KEY": "SECRET-upper"},
    "servers": [{"host": "a", "private_key": "SECRET-list"}, {"host": "b"}],
    "monkey": "banana",
}


@pytest.fixture
def registry() -> Registry:
    return Registry(MANIFEST, SETTINGS)


def test_a_manifest_item_is_read_by_its_dot_path(registry: Registry) -> None:
    assert registry.get("flextype.manifest.name") == "flextype-py"
    assert registry.get("flextype.manifest.version") == "0.1.0"
    assert registry.get("flextype.manifest.author.name") == "x"


def test_a_settings_item_is_read_by_its_dot_path(registry: Registry) -> None:
    assert registry.get("flextype.settings.storage.driver") == "yaml"
    assert registry.get("flextype.settings.api.max_body_size") == 10_000_000
    assert registry.get("flextype.settings.api.entries.enabled") is True


def test_a_subtree_is_returned_whole(registry: Registry) -> None:
    assert registry.get("flextype.settings.storage") == {"driver": "yaml"}
    assert registry.get("flextype.manifest") == MANIFEST


def test_a_list_item_is_read_by_its_index(registry: Registry) -> None:
    assert registry.get("flextype.settings.cors.allow_origins.1") == "https://example.com"
    assert registry.get("flextype.settings.servers.1.host") == "b"


@pytest.mark.parametrize(
    "index",
    [
        "1" + "0" * 5000,
        "\u0661",
        "1" + "0" * 9,
    ],  # past int()'s digits (was a 500); not ASCII; 10 digits
)
def test_a_list_index_no_list_can_have_is_not_found(registry: Registry, index: str) -> None:
    with pytest.raises(RegistryKeyNotFound):
        registry.get(f"flextype.settings.cors.allow_origins.{index}")


@pytest.mark.parametrize(
    "key",
    [
        "nope",
        "flextype.nope",
        "flextype.settings.storage.nope",
        "flextype.settings.storage.driver.deeper",
        "flextype.settings.cors.allow_origins.2",
        "flextype.settings.cors.allow_origins.-1",
        "flextype.settings.cors.allow_origins.x",
        "",
        "flextype.",
        ".flextype",
        "flextype..settings",
    ],
)
def test_a_missing_key_is_not_found_naming_it(registry: Registry, key: str) -> None:
    with pytest.raises(RegistryKeyNotFound) as caught:
        registry.get(key)
    assert isinstance(caught.value, NotFound)
    assert caught.value.code == "NotFound"
    assert caught.value.key == key
    assert f"'{key}'" in caught.value.message


@pytest.mark.parametrize(
    "key",
    [
        "flextype.settings.images.sign_key",
        "flextype.settings.secret",
        "flextype.settings.api_secret",
        "flextype.settings.db.password",
        "flextype.settings.db.passwd",
        "flextype.settings.db.nested.deeper.admin_token",
        "flextype.settings.db.nested.deeper.salt",
        "flextype.settings.auth.hash",
        "flextype.settings.auth.API_KEY",
        "flextype.settings.servers.0.private_key",
    ],
)
def test_a_secret_is_not_found_at_any_depth(registry: Registry, key: str) -> None:
    with pytest.raises(RegistryKeyNotFound):
        registry.get(key)


def test_no_secret_value_appears_anywhere_in_the_registry(registry: Registry) -> None:
    everything = json.dumps(registry.get("flextype"))
    assert "SECRET" not in everything


def test_settings_beside_a_secret_are_kept(registry: Registry) -> None:
    assert registry.get("flextype.settings.images") == {"max_width": 4096}
    assert registry.get("flextype.settings.db.user") == "admin"
    assert registry.get("flextype.settings.db.nested.deeper") == {"port": 1}
    assert registry.get("flextype.settings.auth.hash_rounds") == 10
    assert registry.get("flextype.settings.servers.0") == {"host": "a"}
    assert registry.get("flextype.settings.monkey") == "banana"


def test_the_tokens_api_switch_is_not_mistaken_for_a_secret(registry: Registry) -> None:
    assert registry.get("flextype.settings.api.tokens.enabled") is True


def test_secrets_in_the_manifest_are_removed_too() -> None:
    registry = Registry({"name": "x", "signing_key": "SECRET"}, {})
    assert registry.get("flextype.manifest") == {"name": "x"}


def test_the_registry_keeps_no_reference_to_the_settings_it_was_given() -> None:
    settings: dict[str, Any] = {"cors": {"allow_origins": ["*"]}}
    registry = Registry({}, settings)
    settings["cors"]["allow_origins"].append("https://evil.example")
    settings["cors"]["sign_key"] = "SECRET"
    assert registry.get("flextype.settings.cors") == {"allow_origins": ["*"]}


@pytest.mark.parametrize(
    "name",
    [
        "key",
        "secret",
        "password",
        "passwd",
        "hash",
        "salt",
        "token",
        "sign_key",
        "api_secret",
        "db_password",
        "access_token",
        "SIGN_KEY",
        "url",
        "database_url",
        "access_key_id",
        "secret_access_key",
    ],
)
def test_a_key_whose_last_snake_case_word_names_a_secret_is_secret(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize(
    "name",
    [
        "monkey",
        "hash_rounds",
        "keyboard",
        "tokenizer",
        "passage",
        "driver",
        "key_file_path",
        "curl",
        "id",
        "bucket_id",
        "",
    ],
)
def test_a_key_whose_last_word_names_no_secret_is_not_secret(name: str) -> None:
    assert not is_secret_key(name)
