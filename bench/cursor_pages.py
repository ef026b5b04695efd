"""A cursor page deep in a sorted collection against its first page and ``offset``, 100k entries.

The same generated entries (``items/item-NNNNNN``: ``n`` a number from 0 to N/2, so about
two entries share each value and the id decides between them; a ``title``) go into a
YAML project (files written directly) and a PostgreSQL project on a private durable
cluster (rows created through the store, then VACUUM ANALYZE). The collection

    options[collection]=true&options[filter][sort_by][key]=n&options[filter][limit]=10

is timed in process (``open_project(...).entries.query(..., shared=True)``) for three
pages: the ``first`` page; the ``cursor`` page at position ``--position`` (90,000), i.e.
``options[filter][after]`` = the ``meta.next`` of a page that ends there (obtained
untimed, from one page of ``--position`` entries); and ``offset`` = ``--position``
beside it. Every answer must hold the expected ids (the generated data sorted by ``n``
then id) and ``meta.total`` N.

Two rounds per driver: ``warm``, the same page asked again and again (PostgreSQL
remembers an answer while no entry changes, so there this times its memory), and
``after a write``, each timed page preceded by an untimed update of another entry
(``scratch``, outside the collection), so no driver may reuse an answer: PostgreSQL runs
its statement, the YAML driver re-reads the changed entry and rebuilds its collection
indexes. The goal compares the cursor page with the first page of the same round.

    .venv/bin/python bench/cursor_pages.py [--entries 100000] [--position 90000] [--repeats 50]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# bench/ is not a package: import the harness and the cluster from beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import http_get_entry as harness
from pg_cluster import cluster

from flextype_adapters.yaml_codec import dump
from flextype_core import EntriesService
from flextype_entrypoints.project import open_project
from flextype_entrypoints.scaffold import create_project

__all__ = ["generate", "main"]

PARENT = "items"
SCRATCH = "scratch"
_WORDS = ("amber", "birch", "cedar", "delta", "ember", "fjord", "glade", "heath", "islet")


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def generate(n: int, seed: int = 90) -> dict[str, dict[str, Any]]:
    """``n`` entries of ``items/``: ``n`` in 0..n/2 (ties broken by id), a title."""
    rng = random.Random(seed)  # noqa: S311 - test data
    return {
        f"{PARENT}/item-{i:06d}": {
            "n": rng.randrange(max(1, n // 2)),
            "title": f"{rng.choice(_WORDS).title()} {rng.choice(_WORDS)} {i}",
            "visibility": "visible",
        }
        for i in range(n)
    }


def expected_order(entries: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The ids in the collection's order: ``n`` ascending, then id."""
    return sorted(entries, key=lambda entry_id: (entries[entry_id]["n"], entry_id))


def _seed(entries: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {PARENT: {"title": "Items"}, SCRATCH: {"round": 0}, **entries}


def make_yaml_project(path: Path, entries: Mapping[str, dict[str, Any]]) -> None:
    """Create a YAML project at ``path`` holding ``entries`` (files written directly)."""
    create_project(path, driver="yaml", demo=False)
    root = path / "entries"
    for entry_id, fields in _seed(entries).items():
        folder = root / entry_id
        folder.mkdir(parents=True)
        (folder / "entry.yaml").write_bytes(dump(fields))


def make_postgres_project(
    path: Path, url: str, entries: Mapping[str, dict[str, Any]], declared: Sequence[str]
) -> None:
    """Create a PostgreSQL project holding ``entries`` (batches of 5,000 through the store).

    ``declared``: fields given to ``storage.postgres.indexes`` (a column and a btree each).
    """
    postgres: dict[str, Any] = {"url": url, "schema": "bench_cursor"}
    if declared:
        postgres["indexes"] = list(declared)
    create_project(path, driver="postgres", demo=False, postgres=postgres)
    with open_project(path, environ={}) as project:
        if declared:
            project.container.postgres_database().ensure_field_indexes()
        store = project.container.entry_store()
        rows = list(_seed(entries).items())
        for i in range(0, len(rows), 5000):
            store.create(dict(rows[i : i + 5000]))
        # As autovacuum leaves a table after a bulk load: statistics and visibility map.
        project.container.postgres_database().read(lambda tx: tx.execute("VACUUM ANALYZE entries"))


def options(limit: int, *, after: str | None = None, offset: int | None = None) -> dict[str, Any]:
    """The measured query, with string leaves as a bracket query string gives them."""
    page: dict[str, Any] = {"sort_by": {"key": "n"}, "limit": str(limit)}
    if after is not None:
        page["after"] = after
    if offset is not None:
        page["offset"] = str(offset)
    return {"collection": "true", "filter": page}


@dataclass
class Timing:
    """Wall times of one page in one round, in ms."""

    driver: str
    round: str
    page: str
    times_ms: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p99(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, round(0.99 * len(ordered)) - 1)]


def cursor_at(service: EntriesService, position: int) -> str:
    """The cursor after the first ``position`` items: ``meta.next`` of one page that long."""
    answer = service.query(PARENT, options(position), shared=True)
    assert answer.meta is not None
    if not answer.meta.next:
        raise RuntimeError("no meta.next: cursor pagination is not on this branch")
    return answer.meta.next


def _pages(service: EntriesService, position: int) -> dict[str, dict[str, Any]]:
    return {
        "first": options(10),
        "cursor": options(10, after=cursor_at(service, position)),
        "offset": options(10, offset=position),
    }


def _checked(
    service: EntriesService, opts: dict[str, Any], expected: list[str], total: int, name: str
) -> Callable[[], None]:
    def run() -> None:
        answer = service.query(PARENT, opts, shared=True)
        got = [item["id"] for item in answer.data]
        if got != expected or answer.meta is None or answer.meta.total != total:
            meta = answer.meta
            raise RuntimeError(f"{name}: {got[:3]}..., total {meta and meta.total}; {expected[:3]}")

    return run


def measure(
    driver: str, service: EntriesService, order: list[str], args: argparse.Namespace
) -> list[Timing]:
    """Both rounds of the three pages on one driver's service."""
    pages = _pages(service, args.position)
    wanted = {
        "first": order[:10],
        "cursor": order[args.position : args.position + 10],
        "offset": order[args.position : args.position + 10],
    }
    runs = {
        name: _checked(service, opts, wanted[name], len(order), f"{driver} {name}")
        for name, opts in pages.items()
    }
    timings = []
    count = 0
    for round_ in ("warm", "after a write"):
        for name, run in runs.items():
            timing = Timing(driver, round_, name)
            for i in range(args.warmup + args.repeats):
                if round_ != "warm":
                    count += 1
                    service.update(SCRATCH, {"round": count})
                started = time.perf_counter()
                run()
                if i >= args.warmup:
                    timing.times_ms.append((time.perf_counter() - started) * 1000)
            timings.append(timing)
    if args.profile:
        for name in ("first", "cursor"):
            _write(f"cProfile of 10 {name} pages after a write, {driver}:")
            _write(_profile(service, runs[name]))
    return timings


def _profile(service: EntriesService, run: Callable[[], None]) -> str:
    profiler = cProfile.Profile()
    for i in range(10):
        service.update(SCRATCH, {"round": -1 - i})
        profiler.enable()
        run()
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(20)
    return out.getvalue()


def _table(timings: Sequence[Timing]) -> list[str]:
    rows = [f"{'driver':<10} {'round':<14} {'page':<8} {'runs':>5} {'p50 ms':>9} {'p99 ms':>9}"]
    rows += [
        f"{t.driver:<10} {t.round:<14} {t.page:<8} {len(t.times_ms):>5} {t.p50:>9.2f} {t.p99:>9.2f}"
        for t in timings
    ]
    return rows


def _ratios(timings: Sequence[Timing]) -> list[str]:
    found = {(t.driver, t.round, t.page): t.p50 for t in timings}
    lines = []
    for driver, round_, page in found:
        if page != "cursor":
            continue
        first = found[(driver, round_, "first")]
        cursor = found[(driver, round_, "cursor")]
        offset = found[(driver, round_, "offset")]
        verdict = "met" if cursor <= 2 * first else "MISSED"
        lines.append(
            f"{driver}, {round_}: cursor / first page {cursor / first:.2f}x (goal <= 2x: "
            f"{verdict}); offset / first page {offset / first:.2f}x"
        )
    return lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--position", type=int, default=90_000)
    parser.add_argument("--repeats", type=int, default=50, help="timed pages a round")
    parser.add_argument("--warmup", type=int, default=5, help="untimed pages first")
    parser.add_argument("--db-core", type=int, default=1, help="core of PostgreSQL")
    parser.add_argument("--core", type=int, default=0, help="core of this process (-1: any)")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-yaml", action="store_true")
    parser.add_argument(
        "--declare", action="append", default=[], help="storage.postgres.indexes (e.g. n)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile first and cursor pages")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Generate, load, time the three pages in both rounds on each driver; print the figures."""
    args = _parser().parse_args(argv)
    os.environ.pop("FLEXTYPE_STORAGE__DRIVER", None)
    if args.core >= 0:
        os.sched_setaffinity(0, {args.core})
    load_before = harness._load()
    entries = generate(args.entries)
    order = expected_order(entries)
    timings: list[Timing] = []
    with tempfile.TemporaryDirectory(prefix="flextype-cursor-bench-") as folder:
        tmp = Path(folder)
        started = time.perf_counter()
        make_yaml_project(tmp / "yaml", entries)
        _write(f"yaml: {args.entries} files written in {time.perf_counter() - started:.1f} s")
        if not args.skip_yaml:
            with open_project(tmp / "yaml", environ={}) as project:
                timings += measure("yaml", project.entries, order, args)
        if not args.skip_postgres:
            with cluster(core=args.db_core) as running:
                started = time.perf_counter()
                make_postgres_project(tmp / "postgres", running.url, entries, args.declare)
                _write(f"postgres: rows created in {time.perf_counter() - started:.1f} s")
                with open_project(tmp / "postgres", environ={}) as project:
                    timings += measure("postgres", project.entries, order, args)
    _write("")
    _write(
        f"sort_by n, limit 10 over {args.entries} entries, in process; page at position "
        f"{args.position}: cursor (options[filter][after]) and offset; this process on core "
        f"{args.core}, PostgreSQL (fsync on) on core {args.db_core}, declared field indexes: "
        f"{args.declare or 'none'}; load average before: "
        f"{load_before}, after: {harness._load()}"
    )
    for line in [*_table(timings), *_ratios(timings)]:
        _write(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
