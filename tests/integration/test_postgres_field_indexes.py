"""Declared field indexes (``storage.postgres.indexes``): created, used, answers unchanged."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql

from flextype_adapters.postgres.database import PostgresDatabase
from flextype_adapters.postgres.entries import PostgresEntryStore
from flextype_adapters.postgres.entry_queries import select
from flextype_adapters.postgres.field_columns import column_of
from flextype_adapters.postgres.plan_rows import Scope
from flextype_adapters.postgres.pushed_plan import _pushed_statement
from flextype_adapters.postgres.query_sql import compile_sort, compile_where
from flextype_core.errors import EntryNotFound
from flextype_core.query.model import Eq, Query, SortKey
from flextype_entrypoints.settings import SettingsError, load_settings
from tests.integration.query_cases import (
    EXAMPLES,
    Fields,
    collections,
    fill,
    reference,
    same,
)
from tests.integration.test_entry_queries_db import queries
from tests.postgres_cluster import drop_schema

# Every key the random queries read at least once: top-level, nested, list index.
DECLARED = ("a", "b", "A", "a.k", "a.0", "b.m.k", "c.K.0")


@pytest.fixture
def indexed(postgres_url: str) -> Iterator[PostgresDatabase]:
    schema = f"test_{uuid.uuid4().hex[:12]}"
    database = PostgresDatabase(postgres_url, schema=schema, indexes=DECLARED)
    try:
        database.migrate()
        yield database
    finally:
        database.close()
        drop_schema(postgres_url, schema)


def _indexes(db: PostgresDatabase) -> set[str]:
    rows = db.run(
        lambda tx: tx.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'entries'")
    ).fetchall()
    return {row[0] for row in rows}


def test_migrate_creates_a_column_and_index_per_path_once(indexed: PostgresDatabase) -> None:
    columns = indexed.run(lambda tx: indexed.indexed_columns(tx.conn))
    assert set(columns) == {tuple(p.split(".")) for p in DECLARED}
    assert {"entries_" + c for c in columns.values()} <= _indexes(indexed)
    assert indexed.ensure_field_indexes() == 0  # in place already
    assert indexed.migrate()[0] == indexed.migrate()[1]


def test_a_column_holds_what_data_holds_at_its_path_whoever_writes(
    indexed: PostgresDatabase,
) -> None:
    PostgresEntryStore(indexed).create({"m/1": {"a": {"k": 3, "0": "zero"}, "b": [1]}})
    indexed.run(lambda tx: tx.execute("UPDATE entries SET data = data || '{\"A\": null}'"))
    paths = ("a", "a.k", "a.0", "A", "b")
    columns = [
        sql.SQL("{}::text").format(sql.Identifier(column_of(tuple(p.split("."))))) for p in paths
    ]
    statement = sql.SQL("SELECT {} FROM entries").format(sql.SQL(", ").join(columns))
    row = indexed.run(lambda tx: tx.execute(statement).fetchone())
    assert row == ('{"0": "zero", "k": 3}', "3", '"zero"', "null", "[1]")


def test_a_path_added_later_is_created_at_the_next_start(postgres_url: str) -> None:
    schema = f"test_{uuid.uuid4().hex[:12]}"
    first = PostgresDatabase(postgres_url, schema=schema)
    try:
        first.migrate()
        PostgresEntryStore(first).create({"m/1": {"year": 1999}})
        later = PostgresDatabase(postgres_url, schema=schema, indexes=["year"])
        try:
            assert later.run(lambda tx: later.indexed_columns(tx.conn)) == {}
            assert later.ensure_field_indexes() == 1
            assert later.run(lambda tx: later.indexed_columns(tx.conn)) == {
                ("year",): column_of(("year",))
            }
            assert "entries_" + column_of(("year",)) in _indexes(later)
        finally:
            later.close()
    finally:
        first.close()
        drop_schema(postgres_url, schema)


@EXAMPLES
@given(collections, queries(), st.sampled_from(["", "c", "c/p", "nope"]))
def test_select_with_declared_indexes_is_the_cores_pipeline(
    indexed: PostgresDatabase, entries: dict[str, Fields], query: Query, parent: str
) -> None:
    store = PostgresEntryStore(indexed)
    fill(indexed, store, entries)
    columns = indexed.run(lambda tx: indexed.indexed_columns(tx.conn))

    def answer() -> object:
        return indexed.read(lambda tx: select(tx.conn, parent, query, columns))

    try:
        want = reference(store, parent, query)
    except EntryNotFound:
        with pytest.raises(EntryNotFound):
            answer()
        return
    same(answer(), want)  # type: ignore[arg-type]


YEARS = [1990 + i % 7 for i in range(3000)]


@pytest.mark.parametrize(
    ("odd", "kind"),
    [(0, "numbers"), ("1999", "a string"), (None, "null"), (True, "a bool"), ([], "a list")],
)
def test_eq_and_sort_on_declared_fields_take_the_index_and_answer_as_the_core(
    indexed: PostgresDatabase, odd: object, kind: str
) -> None:
    """A page of 3,000 entries in the index's order, the total counted from the index.

    A key that is not a number (at either end of jsonb's order) sends the query to
    the generic shape: the answer is the core's either way.
    """
    store = PostgresEntryStore(indexed)
    entries: dict[str, Fields] = {
        f"m/{i:04}": {"a": f"c{i % 3}", "b": YEARS[i]} for i in range(len(YEARS))
    }
    del entries["m/0043"]["b"]  # a missing key comes last, whatever the shape
    if kind != "numbers":
        entries["m/0040"]["b"] = odd
    store.create(entries)
    indexed.read(lambda tx: tx.execute("VACUUM ANALYZE entries"))  # no transaction
    query = Query(
        where=(Eq(key=("a",), value="c1"),), sort=(SortKey(key=("b",), descending=False),), limit=5
    )
    columns = indexed.run(lambda tx: indexed.indexed_columns(tx.conn))
    got = indexed.read(lambda tx: select(tx.conn, "m", query, columns))
    same(got, reference(store, "m", query))
    if kind != "numbers":
        return
    scope = Scope("m", query)
    sort = compile_sort(query.sort, columns)
    statement, params, _ = _pushed_statement(
        scope, compile_where(query.where, columns), sort, query, numeric=True
    )
    plan = indexed.read(
        lambda tx: "\n".join(
            row[0] for row in tx.conn.execute(b"EXPLAIN " + statement.as_bytes(tx.conn), params)
        )
    )
    year = "entries_" + column_of(("b",))
    category = "entries_" + column_of(("a",))
    assert f"Index Scan using {year}" in plan  # the page in the index's order
    assert f"Index Only Scan using {category}" in plan  # the total from the index alone
    assert "WindowAgg" not in plan


@pytest.mark.parametrize("path", ["id", "slug.x", "a..b", "", "x\x00"])
def test_a_bad_declared_path_stops_the_settings(tmp_path: Path, path: str) -> None:
    (tmp_path / "flextype.yaml").write_text("storage: {postgres: {indexes: [x]}}\n")
    assert load_settings(tmp_path, {}).storage.postgres.indexes == ["x"]
    text = json.dumps({"storage": {"postgres": {"indexes": [path]}}})
    (tmp_path / "flextype.yaml").write_text(text)
    with pytest.raises(SettingsError, match="indexes"):
        load_settings(tmp_path, {})
