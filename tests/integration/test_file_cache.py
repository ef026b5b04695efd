"""The parsed-file cache re-reads a file exactly when it changed on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flextype_adapters.file_cache import ParsedFileCache


class CountingParser:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, data: bytes) -> str:
        self.calls += 1
        if data == b"bad":
            raise ValueError("unparsable")
        return data.decode()


def test_an_unchanged_file_is_parsed_once(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_bytes(b"one")
    cache: ParsedFileCache[str] = ParsedFileCache()
    parse = CountingParser()
    assert [cache.get(str(path), parse) for _ in range(5)] == ["one"] * 5
    assert parse.calls == 1


def test_an_edit_in_place_of_the_same_size_is_seen_by_its_time(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_bytes(b"one")
    cache: ParsedFileCache[str] = ParsedFileCache()
    parse = CountingParser()
    assert cache.get(str(path), parse) == "one"
    stat = path.stat()
    with path.open("r+b") as stream:
        stream.write(b"two")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert cache.get(str(path), parse) == "two"


def test_a_replaced_file_is_seen_even_with_the_same_size_and_time(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_bytes(b"one")
    cache: ParsedFileCache[str] = ParsedFileCache()
    parse = CountingParser()
    assert cache.get(str(path), parse) == "one"
    stat = path.stat()
    other = tmp_path / "b.yaml"
    other.write_bytes(b"two")
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    other.replace(path)
    assert cache.get(str(path), parse) == "two"


def test_a_deleted_file_is_none_and_a_parse_error_is_not_remembered(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    cache: ParsedFileCache[str] = ParsedFileCache()
    parse = CountingParser()
    assert cache.get(str(path), parse) is None
    path.write_bytes(b"bad")
    for _ in range(2):
        with pytest.raises(ValueError, match="unparsable"):
            cache.get(str(path), parse)
    assert parse.calls == 2
    path.unlink()
    assert cache.get(str(path), parse) is None


def test_the_least_recently_used_files_are_forgotten_past_the_limit(tmp_path: Path) -> None:
    cache: ParsedFileCache[str] = ParsedFileCache(max_items=2)
    parse = CountingParser()
    paths = [tmp_path / f"{i}.yaml" for i in range(3)]
    for path in paths:
        path.write_bytes(path.name.encode())
        cache.get(str(path), parse)
    cache.get(str(paths[2]), parse)
    assert parse.calls == 3
    cache.get(str(paths[0]), parse)
    assert parse.calls == 4
