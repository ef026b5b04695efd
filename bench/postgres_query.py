"""Warm p50/p99 of ``where category eq X + sort_by year + limit 10`` over 100k entries.

The same query, the same data, in one run, in process (no HTTP):

- ``postgres``: ``entry_queries.select`` over a private PostgreSQL cluster this script
  starts (``tests/postgres_cluster.PostgresCluster``: fsync off, 127.0.0.1), through
  ``PostgresDatabase.read`` (no BEGIN/COMMIT) as the store calls it, with ``category``
  and ``year`` declared as field indexes (``INDEXES``): one statement (the year index
  gives the page in order, the category index counts the matches, and the page's
  bodies come with it);
- ``yaml``: ``EntriesService.query`` over ``IndexedYamlFilesEntryStore`` (the in-memory
  index, warm), as the YAML driver answers it.

Then the same where sorted by ``title`` instead, where 1 title in 100 has an accent
(``Amélie``): SQL cannot fold its case as Python does, so the statement orders the other
titles and hands the accented ones back apart (ids and titles); the core sorts them into
the first page and a second statement reads the bodies of those on it. Beside the YAML
driver again.

Every target must give the same 10 ids and total. Loading is not timed (printed apart).

    .venv/bin/python -m bench.postgres_query [--entries 100000] [--repeats 300]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.postgres_cluster import PostgresCluster, find_bindir

from flextype_adapters.indexed_yaml_files import IndexedYamlFilesEntryStore
from flextype_adapters.postgres.database import PostgresDatabase
from flextype_adapters.postgres.entries import PostgresEntryStore
from flextype_adapters.postgres.entry_queries import select
from flextype_adapters.system import RandomIdFactory, SystemClock
from flextype_core import EntriesService
from flextype_core.query import parse_options
from flextype_core.query.model import Query

PARENT = "movies"
CATEGORIES = tuple(f"category-{i}" for i in range(10))
INDEXES = ["category", "year"]
"""The postgres project's declared field indexes (``storage.postgres.indexes``)."""


def options(category: str, sort_by: str) -> dict[str, Any]:
    """The measured query, as a bracket query string gives it (string leaves)."""
    return {
        "collection": "true",
        "filter": {
            "where": [{"key": "category", "operator": "eq", "value": category}],
            "sort_by": {"key": sort_by},
            "limit": "10",
        },
    }


def generate(n: int, seed: int = 13) -> dict[str, dict[str, Any]]:
    rng = random.Random(seed)  # noqa: S311 - test data
    return {
        f"{PARENT}/movie-{i:06d}": {
            "title": f"{'Amélie' if i % 100 == 0 else 'Movie'} {rng.randrange(10**6)}",
            "category": rng.choice(CATEGORIES),
            "year": rng.randint(1900, 2024),
            "rating": round(rng.uniform(1, 10), 2),
            "visibility": "visible",
        }
        for i in range(n)
    }


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def measure(
    name: str,
    run: Callable[[], tuple[list[str], int]],
    repeats: int,
    expected: tuple[list[str], int],
) -> None:
    for _ in range(max(10, repeats // 10)):
        got = run()
        if got != expected:
            raise RuntimeError(f"{name}: {got} differs from {expected}")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, round(0.99 * len(times)) - 1)]
    _write(f"  {name:<10} p50 {statistics.median(times):8.2f} ms   p99 {p99:8.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL server binaries not found: apt-get install postgresql")
    items = list(generate(args.entries).items())
    wanted = CATEGORIES[3]
    with PostgresCluster(bindir) as cluster, tempfile.TemporaryDirectory() as folder:
        cluster.start()
        db = PostgresDatabase(cluster.url, schema="bench", indexes=INDEXES)
        db.migrate()
        store = PostgresEntryStore(db)
        started = time.perf_counter()
        for i in range(0, len(items), 5000):
            store.create(dict(items[i : i + 5000]))
        db.read(lambda tx: tx.execute("VACUUM ANALYZE entries"))  # as autovacuum leaves it
        columns = db.read(lambda tx: db.indexed_columns(tx.conn))
        _write(f"postgres: {args.entries} entries loaded in {time.perf_counter() - started:.1f} s")

        yaml_store = IndexedYamlFilesEntryStore(Path(folder) / "entries", sweep_interval=3600)
        started = time.perf_counter()
        for i in range(0, len(items), 5000):
            yaml_store.create(dict(items[i : i + 5000]))
        service = EntriesService(yaml_store, SystemClock(), RandomIdFactory())
        service.query(PARENT, options(wanted, "year"))  # builds the index
        took = time.perf_counter() - started
        _write(f"yaml: {args.entries} entries written and indexed in {took:.1f} s")

        for sort_by in ("year", "title"):
            query = parse_options(options(wanted, sort_by))

            def postgres(query: Query = query) -> tuple[list[str], int]:
                found = db.read(lambda tx: select(tx.conn, PARENT, query, columns))
                return [item["id"] for item in found.items], found.total

            def yaml(sort_by: str = sort_by) -> tuple[list[str], int]:
                page = service.query(PARENT, options(wanted, sort_by), shared=True)
                assert page.meta is not None
                return [item["id"] for item in page.data], page.meta.total

            expected = yaml()
            _write(
                f"category eq {wanted} + sort_by {sort_by} + limit 10: {expected[1]} matches"
                f" of {args.entries}, {args.repeats} runs each, in process"
            )
            measure("postgres", postgres, args.repeats, expected)
            measure("yaml", yaml, args.repeats, expected)
        db.close()


if __name__ == "__main__":
    main()
