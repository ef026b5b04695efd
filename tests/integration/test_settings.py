"""Settings: flextype.yaml plus FLEXTYPE_* variables, validated with errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from flextype_entrypoints.settings import Settings, SettingsError, load_settings


def _write(project: Path, text: str) -> Path:
    project.mkdir(parents=True, exist_ok=True)
    (project / "flextype.yaml").write_text(text, encoding="utf-8")
    return project


def test_a_project_without_a_settings_file_gets_the_documented_defaults(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, {})
    assert settings == Settings()
    assert settings.storage.driver == "yaml"
    assert settings.api.max_body_size == 10_000_000
    assert settings.cors.allow_origins == ["*"]
    assert settings.media.max_file_size == 8_000_000
    assert "webm" in settings.media.accept_file_types
    assert (settings.images.max_width, settings.images.max_concurrent_renders) == (4096, 4)
    assert settings.api.max_entry_size == 1_000_000
    assert settings.server.max_header_size == 65_536
    assert (settings.server.header_timeout, settings.server.body_timeout) == (30, 30)


def test_the_file_overrides_defaults_and_keeps_the_rest(tmp_path: Path) -> None:
    _write(tmp_path, "storage:\n  driver: tinydb\napi:\n  tokens: {enabled: false}\n")
    settings = load_settings(tmp_path, {})
    assert settings.storage.driver == "tinydb"
    assert settings.api.tokens.enabled is False
    assert settings.api.entries.enabled is True


def test_environment_variables_override_the_file(tmp_path: Path) -> None:
    _write(tmp_path, "storage:\n  driver: tinydb\n")
    settings = load_settings(
        tmp_path,
        {
            "FLEXTYPE_STORAGE__DRIVER": "yaml",
            "FLEXTYPE_MEDIA__MAX_FILE_SIZE": "1000",
            "FLEXTYPE_CORS__ALLOW_ORIGINS": "[https://a.example, https://b.example]",
            "FLEXTYPE_API__REGISTRY__ENABLED": "false",
            "FLEXTYPE_PROJECT": "/somewhere/else",
            "FLEXTYPE_TEST_DATABASE_URL": "postgresql://tests@127.0.0.1/x",
            "FLEXTYPE_REQUIRE_POSTGRES": "1",
            "HOME": "/root",
        },
    )
    assert settings.storage.driver == "yaml"
    assert settings.media.max_file_size == 1000
    assert settings.cors.allow_origins == ["https://a.example", "https://b.example"]
    assert settings.api.registry.enabled is False


TOP = "unknown setting `{}`; the settings of the top level are: api, changes, cors, "


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        (
            "storage:\n  drive: y\n",
            {},
            "F: unknown setting `storage.drive`; did you mean `storage.driver`?",
        ),
        (
            "storage:\n  titel: x\n",
            {},
            "F: unknown setting `storage.titel`; the settings of `storage` are: driver, postgres.",
        ),
        (
            "images:\n  max_widht: 9\n",
            {},
            "F: unknown setting `images.max_widht`; did you mean `images.max_width`?",
        ),
        ("colour: blue\n", {}, "F: " + TOP.format("colour")),
        ("", {"FLEXTYPE_NOPE": "1"}, "FLEXTYPE_NOPE: " + TOP.format("nope")),
        (
            "",
            {"FLEXTYPE_MEDIA__MAX_FILESIZE": "1"},
            "FLEXTYPE_MEDIA__MAX_FILESIZE: unknown setting `media.max_filesize`;"
            " did you mean FLEXTYPE_MEDIA__MAX_FILE_SIZE?",
        ),
        ("storage: yaml\n", {}, "F: `storage` is a section of settings, not 'yaml'."),
        (
            "storage:\n  driver: sqlite\n",
            {},
            "F: `storage.driver` must be one of: yaml, tinydb, postgres (got 'sqlite').",
        ),
        (
            "storage:\n  driver: yaml\n",
            {"FLEXTYPE_STORAGE__DRIVER": "sqlite"},
            "FLEXTYPE_STORAGE__DRIVER: `storage.driver` must be one of: yaml, tinydb, postgres"
            " (got 'sqlite').",
        ),
        (
            "media:\n  max_file_size: lots\n",
            {},
            "F: `media.max_file_size` must be a whole number (got 'lots').",
        ),
        (
            "",
            {"FLEXTYPE_IMAGES__MAX_WIDTH": "wide"},
            "FLEXTYPE_IMAGES__MAX_WIDTH: `images.max_width` must be a whole number (got 'wide').",
        ),
        (
            "api:\n  tokens: {enabled: maybe}\n",
            {},
            "F: `api.tokens.enabled` must be true or false (got 'maybe').",
        ),
        (
            "cors:\n  allow_origins: [a, 1]\n",
            {},
            "F: `cors.allow_origins.1` must be a string (got 1).",
        ),
        (
            "cors:\n  allow_origins: a\n",
            {"FLEXTYPE_CORS__X": "1"},
            "FLEXTYPE_CORS__X: unknown setting `cors.x`",
        ),
        (
            "server:\n  header_timeout: 0\n",
            {},
            "F: `server.header_timeout` must be a number > 0.0 (got 0).",
        ),
        (
            "",
            {"FLEXTYPE_SERVER__MAX_HEADER_SIZE": "-1"},
            "FLEXTYPE_SERVER__MAX_HEADER_SIZE: `server.max_header_size` must be a whole number"
            " >= 1 (got -1).",
        ),
    ],
)
def test_a_bad_setting_names_its_file_or_variable_and_what_would_do(
    tmp_path: Path, text: str, environ: dict[str, str], message: str
) -> None:
    _write(tmp_path, text)
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path, environ)
    assert str(caught.value).startswith(
        message.replace("F: ", f"{tmp_path / 'flextype.yaml'}: ", 1)
    )


def test_a_broken_settings_file_is_an_error_with_its_line(tmp_path: Path) -> None:
    _write(tmp_path, "storage:\n  driver: [yaml\n")
    with pytest.raises(SettingsError, match=r"not valid YAML \(line \d+\)"):
        load_settings(tmp_path, {})


def test_a_settings_file_that_is_not_a_mapping_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, "- just\n- a list\n")
    with pytest.raises(SettingsError, match="mapping"):
        load_settings(tmp_path, {})


def test_a_variable_below_a_scalar_setting_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"storage\.driver"):
        load_settings(tmp_path, {"FLEXTYPE_STORAGE__DRIVER__X": "1"})


def test_a_variable_with_an_empty_path_segment_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="FLEXTYPE_STORAGE____DRIVER"):
        load_settings(tmp_path, {"FLEXTYPE_STORAGE____DRIVER": "yaml"})


@pytest.mark.parametrize("source", ["file", "variable"])
def test_a_secret_of_the_wrong_type_is_named_but_never_shown(tmp_path: Path, source: str) -> None:
    # YAML reads an all-digit key as a number; the message goes to a terminal or a log.
    if source == "file":
        (tmp_path / "flextype.yaml").write_text("images:\n  sign_key: 20240101987\n")
        environ = {}
    else:
        environ = {"FLEXTYPE_IMAGES__SIGN_KEY": "20240101987"}
    with pytest.raises(SettingsError) as raised:
        load_settings(tmp_path, environ)
    message = str(raised.value)
    assert "`images.sign_key` must be a string" in message
    assert "20240101987" not in message
