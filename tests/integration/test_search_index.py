"""Full-text search on the file drivers through their SQLite FTS5 index (real files).

Syntax, accents, prefixes, fields and highlights on each file store; the index kept
current from the change log (another process's write, a hand edit), and rebuilt when
its file is deleted or damaged, or by ``flextype search reindex``.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flextype_adapters.indexed_yaml_files import IndexedYamlFilesEntryStore
from flextype_adapters.sqlite_search import SEARCH_FILE
from flextype_adapters.yaml_files import ENTRY_FILE
from flextype_core.errors import BadRequest, StorageError
from flextype_entrypoints.cli import main
from tests.integration.search_support import FILE_KINDS, Searched, searched, unlogged

ENTRIES: dict[str, dict[str, Any]] = {
    "books/dune": {"title": "Dune", "body": "A desert planet, spice and sandworms."},
    "books/dunkirk": {"title": "Dunkirk", "body": "Soldiers on a beach."},
    "books/cafe": {"title": "Café society", "body": "Coffee in Paris."},
    "books/shout": {"title": "CAFE IN CAPITALS", "body": "Loud coffee."},
    "books/nested": {
        "title": "Plain",
        "meta": {"review": {"text": "A hidden gem about lighthouses."}},
        "tags": ["sailing", "north sea"],
    },
    "books/split": {"title": "spice", "body": "harvest"},
    "books/script": {"title": "<script>alert('dune')</script> & more"},
}


@pytest.fixture(params=FILE_KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def books(kind: str, tmp_path: Path) -> Iterator[Searched]:
    with searched(kind, tmp_path / "project") as found:
        found.store.create(ENTRIES)
        yield found


def test_a_phrase_matches_its_words_in_order_within_one_field(books: Searched) -> None:
    assert books.ids('"spice and sandworms"') == ["books/dune"]
    assert books.ids('"sandworms and spice"') == []
    # "spice" ends a title and "harvest" starts the next field: no phrase across them.
    assert books.ids('"spice harvest"') == []
    assert books.ids("spice harvest") == ["books/split"]


def test_exclusion_or_and_words_together(books: Searched) -> None:
    assert sorted(books.ids("dun -dunkirk")) == ["books/dune", "books/script"]
    assert sorted(books.ids("beach OR sandworms")) == ["books/dune", "books/dunkirk"]
    assert books.ids("coffee paris") == ["books/cafe"]
    assert books.ids('coffee -"in paris"') == ["books/shout"]


def test_prefixes_of_three_characters_or_more(books: Searched) -> None:
    assert sorted(books.ids("dun")) == ["books/dune", "books/dunkirk", "books/script"]
    assert books.ids("du") == []
    assert books.ids("dunk") == ["books/dunkirk"]


def test_accents_and_case_are_ignored_both_ways(books: Searched) -> None:
    assert sorted(books.ids("cafe")) == ["books/cafe", "books/shout"]
    assert sorted(books.ids("café")) == ["books/cafe", "books/shout"]
    assert sorted(books.ids("CAFÉ")) == ["books/cafe", "books/shout"]


def test_nested_fields_and_lists_are_searched(books: Searched) -> None:
    assert books.ids("lighthouses") == ["books/nested"]
    assert books.ids('"north sea"') == ["books/nested"]
    assert books.ids("lighthouses", fields=["meta.review"]) == ["books/nested"]
    assert books.ids("lighthouses", fields=["title"]) == []


def test_fields_limit_the_search_and_exclusions_in_other_fields_do_not_count(
    books: Searched,
) -> None:
    assert books.ids("coffee", fields=["title"]) == []
    assert sorted(books.ids("cafe", fields=["title"])) == ["books/cafe", "books/shout"]
    # "loud" is in the body of books/shout only: excluding it from titles keeps it.
    assert sorted(books.ids("cafe -loud", fields=["title"])) == ["books/cafe", "books/shout"]
    assert books.ids("cafe -loud") == ["books/cafe"]


def test_score_and_highlight_come_escaped_and_survive_only(books: Searched) -> None:
    options = {
        "find": {"depth": "all"},
        "search": {"q": "dune", "score": "true", "highlight": "true"},
        "filter": {"only": ["body"]},
    }
    items = {item["id"]: item for item in books.entries.query("", options).data}
    assert set(items) == {"books/dune", "books/script"}
    script = items["books/script"]
    assert script["_highlight"] == {
        "title": "&lt;script&gt;alert(&#x27;<mark>dune</mark>&#x27;)&lt;/script&gt; &amp; more"
    }
    assert items["books/dune"]["_highlight"] == {"title": "<mark>Dune</mark>"}
    assert set(script) == {"id", "_score", "_highlight"}
    assert all(isinstance(i["_score"], float) and i["_score"] > 0 for i in items.values())
    # The store's items were not changed: a plain query shows no _score.
    plain = books.entries.query("books", {"search": {"q": "dune"}}).data
    assert all("_score" not in item and "_highlight" not in item for item in plain)


def test_relevance_orders_without_sort_keys(books: Searched) -> None:
    books.store.create({"books/more": {"title": "Spice spice spice", "body": "spice"}})
    assert books.ids("spice")[0] == "books/more"


def test_empty_or_blank_text_is_a_bad_request(books: Searched) -> None:
    for blank in ("", "   ", "\t"):
        with pytest.raises(BadRequest):
            books.entries.query("", {"search": {"q": blank}})


def test_updates_moves_and_deletes_are_found_at_once(books: Searched) -> None:
    books.entries.update("books/dune", {"title": "Arrakis"})
    assert books.ids("arrakis") == ["books/dune"]
    books.entries.move("books/dune", "books/arrakis")
    assert books.ids("arrakis") == ["books/arrakis"]
    books.entries.delete("books/arrakis")
    assert books.ids("arrakis") == []


def test_a_hand_edit_of_a_yaml_file_is_found(tmp_path: Path) -> None:
    with searched("indexed_yaml", tmp_path / "project") as books:
        books.store.create(ENTRIES)
        assert books.ids("zeppelin") == []
        (books.folder / "entries" / "books/dune" / ENTRY_FILE).write_text(
            "title: Zeppelin\n", encoding="utf-8"
        )
        assert isinstance(books.store, IndexedYamlFilesEntryStore)
        books.store.sweep_now()  # what the server's sweep does within its interval
        assert books.ids("zeppelin") == ["books/dune"]
        assert books.ids("desert") == []


def test_a_write_by_another_process_is_found(kind: str, tmp_path: Path) -> None:
    folder = tmp_path / "project"
    with searched(kind, folder) as books:
        books.store.create(ENTRIES)
        assert books.ids("zeppelin") == []
        program = f"""
            from pathlib import Path
            from tests.integration.search_support import searched
            with searched({kind!r}, Path({str(folder)!r})) as other:
                other.store.create({{"books/new": {{"title": "Zeppelin"}}}})
        """
        subprocess.run([sys.executable, "-c", textwrap.dedent(program)], check=True)
        if kind == "tinydb":
            books.store.version()  # TinyDB reads the file again when it changed
        assert books.ids("zeppelin") == ["books/new"]


def test_a_deleted_index_file_is_rebuilt(books: Searched) -> None:
    assert books.ids("spice") != []
    for name in (SEARCH_FILE, f"{SEARCH_FILE}-wal", f"{SEARCH_FILE}-shm"):
        (books.folder / name).unlink(missing_ok=True)
    books.store.create({"books/after": {"title": "Spice route"}})
    assert sorted(books.ids("spice")) == ["books/after", "books/dune", "books/split"]
    assert (books.folder / SEARCH_FILE).is_file()


@pytest.mark.parametrize(
    "damage",
    [
        b"this is not a database at all" * 100,
        b"SQLite format 3\x00" + b"\xff" * 4000,
    ],
    ids=["garbage", "broken-header"],
)
def test_a_damaged_index_file_is_rebuilt(books: Searched, damage: bytes) -> None:
    assert books.ids("dunk") == ["books/dunkirk"]
    books.search_index.close()
    for name in (f"{SEARCH_FILE}-wal", f"{SEARCH_FILE}-shm"):
        (books.folder / name).unlink(missing_ok=True)
    (books.folder / SEARCH_FILE).write_bytes(damage)
    assert books.ids("dunk") == ["books/dunkirk"]
    assert books.ids("lighthouses") == ["books/nested"]


def test_an_index_of_another_schema_is_rebuilt(books: Searched) -> None:
    books.search_index.close()
    for name in (SEARCH_FILE, f"{SEARCH_FILE}-wal", f"{SEARCH_FILE}-shm"):
        (books.folder / name).unlink(missing_ok=True)
    (books.folder / SEARCH_FILE).parent.mkdir(exist_ok=True)
    other = sqlite3.connect(books.folder / SEARCH_FILE)
    other.execute("CREATE TABLE something (other TEXT)")
    other.commit()
    other.close()
    assert books.ids("lighthouses") == ["books/nested"]


def test_a_new_change_log_rebuilds_the_index(kind: str, tmp_path: Path) -> None:
    folder = tmp_path / "project"
    with searched(kind, folder) as books:
        books.store.create(ENTRIES)
        assert books.ids("dunk") == ["books/dunkirk"]
    # What an import does: the entries change without the old log, and a new log begins.
    with unlogged(kind, folder) as store:
        store.update("books/dunkirk", lambda fields: {**fields, "title": "Zeppelin"})
    for name in ("changes.sqlite3", "changes.sqlite3-wal", "changes.sqlite3-shm"):
        (folder / name).unlink(missing_ok=True)
    with searched(kind, folder) as books:
        assert books.ids("zeppelin") == ["books/dunkirk"]
        assert books.ids("dunk") == []


def test_a_cache_folder_that_cannot_be_written_falls_back_to_a_scan(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "cache").write_text("a file where the cache folder should be")
    with searched("indexed_yaml", folder, strict=False) as books:
        books.store.create(ENTRIES)
        assert books.ids("dunk") == ["books/dunkirk"]
    with searched("indexed_yaml", folder) as books, pytest.raises(StorageError):
        books.ids("dunk")


def test_reindex_rebuilds_and_says_how_many(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "site"
    assert main(["init", str(project), "--no-demo"]) == 0
    with searched("indexed_yaml", project) as books:
        books.store.create(ENTRIES)
    capsys.readouterr()
    assert main(["--project", str(project), "search", "reindex"]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"Search index rebuilt: {len(ENTRIES)} entries in ")
    assert said.rstrip().endswith(" s.")
    assert (project / SEARCH_FILE).is_file()
