"""Warm p50/p99 of a two-word search (limit 10, relevance order) on PostgreSQL, in process.

Entries get a title and a plot of words drawn from a 5,000-word vocabulary with a
Zipf-like skew (as real text: a few words everywhere, most rare); each query is two
words of middling frequency. Targets, in one run, over the same data:

- ``postgres``: ``entry_queries.select`` over a private cluster this script starts
  (``tests.postgres_cluster``), through ``PostgresDatabase.read`` as the store calls it
  (no answer cache): the GIN index on ``search``, ``ts_rank_cd``, the page's bodies;
- ``core scan``: ``search_match.scan`` over the same items in memory (no index), the
  fake stores' fallback.

Both must find the same ids. Loading is not timed (printed apart).

    .venv/bin/python -m bench.postgres_search [--entries 20000] [--repeats 200]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from tests.postgres_cluster import PostgresCluster, find_bindir

from flextype_adapters.postgres.database import PostgresDatabase
from flextype_adapters.postgres.entries import PostgresEntryStore
from flextype_adapters.postgres.entry_queries import select
from flextype_core.query import parse_options
from flextype_core.query.model import Query
from flextype_core.query.search_match import scan

VOCABULARY = 5000


def _words(rng: random.Random, count: int) -> str:
    return " ".join(f"w{min(int(rng.paretovariate(0.6)), VOCABULARY)}" for _ in range(count))


def _entries(count: int, rng: random.Random) -> dict[str, dict[str, Any]]:
    return {
        f"movies/m{i:06}": {"title": _words(rng, 3), "plot": _words(rng, 40), "year": 1950 + i % 70}
        for i in range(count)
    }


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _timed(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(16)  # noqa: S311 - test data
    entries = _entries(args.entries, rng)
    queries: list[Query] = [
        parse_options({"search": {"q": f"w{rng.randint(5, 40)} w{rng.randint(5, 40)}"},
                       "filter": {"limit": "10"}})
        for _ in range(20)
    ]  # fmt: skip
    with PostgresCluster(find_bindir()) as cluster:
        cluster.start()
        db = PostgresDatabase(cluster.url, schema="bench")
        try:
            db.migrate()
            store = PostgresEntryStore(db)
            start = time.perf_counter()
            items = list(entries.items())
            for i in range(0, len(items), 1000):
                store.create(dict(items[i : i + 1000]))
            _write(f"loaded {len(entries)} entries in {time.perf_counter() - start:.1f} s")
            db.read(lambda tx: tx.execute("VACUUM ANALYZE entries"))
            public = [{**f, "id": i, "slug": i} for i, f in entries.items()]
            counter = iter(range(10**9))

            def postgres() -> Any:
                query = queries[next(counter) % len(queries)]
                return db.read(lambda tx: select(tx.conn, "movies", query))

            def core_scan() -> Any:
                query = queries[next(counter) % len(queries)]
                assert query.search is not None
                return scan(query.search.expr, public)

            for query in queries[:5]:
                assert query.search is not None
                found = db.read(lambda tx, q=query: select(tx.conn, "movies", q))
                want = scan(query.search.expr, public)
                assert found.total == len(want), (found.total, len(want))
            totals = [db.read(lambda tx, q=q: select(tx.conn, "movies", q)).total for q in queries]
            _write(f"matches per query: median {statistics.median(totals)}, max {max(totals)}")
            for name, run, repeats in (
                ("postgres", postgres, args.repeats),
                ("core scan", core_scan, max(5, args.repeats // 20)),
            ):
                p50, p99 = _timed(run, repeats)
                _write(f"{name:10} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms")
        finally:
            db.close()


if __name__ == "__main__":
    main()
