"""Entry files parsed in worker processes: what a read in this process would have found.

An index build over enough entries parses them on every core; the entries, the broken
ones it leaves out and the links it refuses must be those of plain reads.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flextype_adapters.indexed_yaml_files import IndexedYamlFilesEntryStore
from flextype_adapters.parallel_parse import (
    PARALLEL_FROM,
    parse_entry_files,
    parse_in_processes,
)
from flextype_adapters.yaml_codec import dump
from flextype_adapters.yaml_files import YamlFilesEntryStore

MANY = PARALLEL_FROM + 100


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _write(root: Path, entry_id: str, name: str, text: bytes) -> None:
    folder = root / entry_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(text)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """MANY entries, and among them a malformed one, a Flextype entry.md, a link out."""
    entries = tmp_path / "entries"
    for n in range(MANY):
        fields = {"title": f"Entry {n}", "n": n, "tags": ["a", str(n % 7)], "on": n % 2 == 0}
        _write(entries, f"many/e{n:05}", "entry.yaml", dump(fields))
    _write(entries, "many/broken", "entry.yaml", b"title: [unclosed\n")
    _write(entries, "many/legacy", "entry.md", b"---\ntitle: Old\n---\nBody text\n")
    outside = tmp_path / "secret.yaml"
    outside.write_bytes(b"password: hunter2\n")
    (entries / "many" / "leak").mkdir()
    (entries / "many" / "leak" / "entry.yaml").symlink_to(outside)
    return entries


def test_workers_parse_what_a_read_here_parses_and_leave_out_the_rest(root: Path) -> None:
    ids = sorted(f"many/{p.name}" for p in (root / "many").iterdir())
    here = [found for found in parse_entry_files(str(root), ids) if found is not None]
    assert len(here) == MANY + 1  # the broken file and the link are left to the reads
    workers = list(parse_in_processes(str(root), ids))
    if _cores() < 2:
        assert workers == []  # one core: nothing gained by processes
    else:
        assert sorted(workers) == sorted(here)


def test_too_few_entries_are_not_worth_the_workers(root: Path) -> None:
    ids = [f"many/e{n:05}" for n in range(PARALLEL_FROM - 1)]
    assert list(parse_in_processes(str(root), ids)) == []


def test_an_index_built_on_every_core_equals_reads_one_by_one(root: Path) -> None:
    indexed = IndexedYamlFilesEntryStore(root)
    plain = YamlFilesEntryStore(root)
    assert indexed.descendants("many", None) == plain.descendants("many", None)
    assert indexed.unreadable("many", None) == ["many/broken"]
    legacy = indexed.get("many/legacy").fields  # with Flextype's dates, from the mtime
    assert (legacy["title"], legacy["content"]) == ("Old", "Body text")
    assert not indexed.exists("many/leak")
