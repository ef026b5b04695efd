"""Fixtures that give every storage adapter, real and fake, for the contract suites."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flextype_adapters.indexed_yaml_files import IndexedYamlFilesEntryStore
from flextype_adapters.tinydb_store import TinyDBEntryStore, TinyDBTokenStore, open_tinydb
from flextype_adapters.yaml_files import YamlFilesEntryStore
from flextype_adapters.yaml_tokens import YamlFilesTokenStore
from tests.unit.fakes import FakeEntryStore, FakeTokenStore


@pytest.fixture
def fake_store() -> FakeEntryStore:
    return FakeEntryStore()


@pytest.fixture
def yaml_store(tmp_path: Path) -> YamlFilesEntryStore:
    return YamlFilesEntryStore(root=tmp_path / "entries")


@pytest.fixture
def indexed_yaml_store(tmp_path: Path) -> IndexedYamlFilesEntryStore:
    return IndexedYamlFilesEntryStore(root=tmp_path / "entries")


@pytest.fixture
def tinydb_store(tmp_path: Path) -> Iterator[TinyDBEntryStore]:
    db = open_tinydb(tmp_path / "db.json")
    yield TinyDBEntryStore(db)
    db.close()


@pytest.fixture
def fake_token_store() -> FakeTokenStore:
    return FakeTokenStore()


@pytest.fixture
def yaml_token_store(tmp_path: Path) -> YamlFilesTokenStore:
    return YamlFilesTokenStore(root=tmp_path / "tokens")


@pytest.fixture
def tinydb_token_store(tmp_path: Path) -> Iterator[TinyDBTokenStore]:
    db = open_tinydb(tmp_path / "db.json")
    yield TinyDBTokenStore(db)
    db.close()
