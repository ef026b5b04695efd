"""The container picks adapters from settings, and a project flushes counts when closed."""

from __future__ import annotations

from pathlib import Path

import pytest

from flextype_adapters.indexed_yaml_files import IndexedYamlFilesEntryStore
from flextype_adapters.tinydb_store import TinyDBEntryStore, TinyDBTokenStore
from flextype_adapters.yaml_tokens import YamlFilesTokenStore
from flextype_core import RegistryKeyNotFound
from flextype_entrypoints.container import build_container
from flextype_entrypoints.project import open_project
from flextype_entrypoints.settings import SettingsError


def test_the_yaml_driver_is_the_default_and_never_opens_a_database(tmp_path: Path) -> None:
    container = build_container(tmp_path, {})
    assert isinstance(container.entry_store(), IndexedYamlFilesEntryStore)
    assert isinstance(container.token_store(), YamlFilesTokenStore)
    container.entries().create("a", {"title": "A"})
    container.shutdown_resources()
    assert (tmp_path / "entries" / "a" / "entry.yaml").is_file()
    assert not (tmp_path / "db.json").exists()


def test_the_tinydb_driver_is_chosen_by_environment_without_code_change(tmp_path: Path) -> None:
    container = build_container(tmp_path, {"FLEXTYPE_STORAGE__DRIVER": "tinydb"})
    assert isinstance(container.entry_store(), TinyDBEntryStore)
    assert isinstance(container.token_store(), TinyDBTokenStore)
    container.entries().create("a", {"title": "A"})
    container.shutdown_resources()
    assert (tmp_path / "db.json").is_file()
    assert not (tmp_path / "entries").exists()


def test_services_are_shared_singletons(tmp_path: Path) -> None:
    container = build_container(tmp_path, {})
    assert container.entries() is container.entries()
    assert container.tokens() is container.tokens()


def test_an_unknown_driver_stops_the_build_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"storage\.driver"):
        build_container(tmp_path, {"FLEXTYPE_STORAGE__DRIVER": "sqlite"})


def test_the_registry_serves_the_manifest_and_settings_but_no_secret(tmp_path: Path) -> None:
    (tmp_path / "flextype.yaml").write_text("images:\n  sign_key: s3cret\n", encoding="utf-8")
    registry = build_container(tmp_path, {}).registry()
    assert registry.get("flextype.manifest.name") == "flextype-py"
    assert registry.get("flextype.settings.images.max_width") == 4096
    assert "s3cret" not in repr(registry.get("flextype"))
    with pytest.raises(RegistryKeyNotFound):
        registry.get("flextype.settings.images.sign_key")


@pytest.mark.parametrize("driver", ["yaml", "tinydb"])
def test_closing_a_project_writes_pending_call_counts(tmp_path: Path, driver: str) -> None:
    with open_project(tmp_path, driver=driver, environ={}) as project:
        issued = project.tokens.create({"apis": ["entries"]})
        for _ in range(3):
            project.tokens.verify(issued.token.token, issued.access_token, "entries", write=False)
    with open_project(tmp_path, driver=driver, environ={}) as project:
        assert project.tokens.fetch(issued.token.token).calls == 3
