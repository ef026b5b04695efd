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
            "HOME": "/root",
        },
    )
    assert settings.storage.driver == "yaml"
    assert settings.media.max_file_size == 1000
    assert settings.cors.allow_origins == ["https://a.example", "https://b.example"]
    assert settings.api.registry.enabled is False


@pytest.mark.parametrize(
    ("text", "environ", "named"),
    [
        ("storage:\n  titel: x\n", {}, "`titel`"),
        ("storage:\n  driver: sqlite\n", {}, "`storage.driver`"),
        ("media:\n  max_file_size: lots\n", {}, "`media.max_file_size`"),
        ("colour: blue\n", {}, "`colour`"),
        ("", {"FLEXTYPE_STORAGE__DRIVER": "sqlite"}, "`storage.driver`"),
        ("", {"FLEXTYPE_NOPE": "1"}, "`nope`"),
        ("", {"FLEXTYPE_IMAGES__MAX_WIDTH": "wide"}, "`images.max_width`"),
        ("server:\n  header_timeout: 0\n", {}, "`server.header_timeout`"),
        ("", {"FLEXTYPE_SERVER__MAX_HEADER_SIZE": "-1"}, "`server.max_header_size`"),
    ],
)
def test_an_unknown_key_or_wrong_type_is_an_error_naming_it(
    tmp_path: Path, text: str, environ: dict[str, str], named: str
) -> None:
    _write(tmp_path, text)
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path, environ)
    assert named in str(caught.value)


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
