"""Warm p50/p95/p99 of a collection query (2 clauses + sort + limit 10) at 1k, 10k and 100k entries.

For each size N, ``movies/`` gets N generated entries in a YAML project (files written
directly, as a hand-kept site would have them) and in a TinyDB project (one batch
``create`` through the store). Then, in the same run, the same query is timed:

- ``yaml in-process``: ``EntriesService.query(..., shared=True)`` of ``open_project``,
  i.e. the indexed YAML store exactly as the server wires it (background sweep on);
- ``yaml, sweep off``: the same store built with the hand-edit sweep disabled, to show
  what the sweep thread costs the queries that run while it walks the folders;
- ``yaml, sweeping`` (only with ``--targets ...,sweeping``): that store again, swept
  (``sweep_now``) again and again in a thread while the queries are timed, for at least
  one whole sweep (the runs go on past ``--repeats`` until then);
- ``tinydb in-process``: the same over the TinyDB store;
- ``http (yaml)``: a real ``flextype serve --port 0`` subprocess, the query as a bracket
  query string, sequential keep-alive requests with httpx;
- ``naive``: what Flextype does per request: walk ``movies/``, read and parse every
  ``entry.yaml`` (``CSafeLoader``), then filter, sort and slice in plain Python.

Every target must return the same 10 ids. Generation and index builds are not timed
(the build time is printed apart). Memory per entry of the index is measured at the
largest N in child processes: RSS growth, and tracemalloc growth grouped by source file.

``--vary K`` cycles the timed queries through K variants (the ``contains`` genre through
the 12 genres, then ``year gte`` 2001, 2002...): with K above the 16 answers a store keeps
per version (``flextype_core.query.collections.SELECTIONS_KEPT``), no query is answered
from a kept answer, and each one filters and sorts over the kept collection indexes. The
default, 1, repeats the same query (its kept answer, after the first).

The table gives p50, p95, p99 and p99/p50 (the tail's goal: <= 3). For the in-process
targets, the queries slower than 3 x p50 are put beside what ran during them: a full
(generation 2) garbage collection (``gc.callbacks``), and the hand-edit sweep's thread
(alive at the start or end of the query), with the count and longest of those collections.

    .venv/bin/python bench/query.py [--sizes 1000,10000,100000] [--targets yaml,http] [--vary 24]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import math
import os
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import yaml

# bench/ is not a package: import the HTTP harness from beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import http_get_entry as harness

from flextype_adapters.indexed_yaml_files import IndexedYamlFilesEntryStore
from flextype_adapters.system import RandomIdFactory, SystemClock
from flextype_adapters.yaml_codec import dump
from flextype_core import EntriesService
from flextype_entrypoints.project import open_project
from flextype_entrypoints.scaffold import create_project

__all__ = ["OPTIONS", "Timing", "main", "naive_query", "options_for"]

BIN = Path(sys.executable).parent
PARENT = "movies"


def options_for(year: int, genre: str) -> dict[str, Any]:
    """The measured query's options (year >= ``year``, ``genre`` in genre), as strings."""
    return {
        "collection": "true",
        "filter": {
            "where": [
                {"key": "year", "operator": "gte", "value": str(year)},
                {"key": "genre", "operator": "contains", "value": genre},
            ],
            "sort_by": {"key": "rating", "direction": "desc"},
            "limit": "10",
        },
    }


OPTIONS = options_for(2000, "drama")
"""The measured query, with string leaves as a bracket query string gives them."""

GENRES = (
    "action",
    "adventure",
    "animation",
    "comedy",
    "crime",
    "documentary",
    "drama",
    "fantasy",
    "horror",
    "romance",
    "sci-fi",
    "thriller",
)
_FIRST = ("Ada", "Bong", "Cathy", "Denis", "Greta", "Hayao", "Jane", "Kathryn", "Wong", "Agnes")
_LAST = (
    "Yan",
    "Joon-ho",
    "Villeneuve",
    "Miyazaki",
    "Gerwig",
    "Campion",
    "Bigelow",
    "Kar-wai",
    "Varda",
    "Lovelace",
    "Kurosawa",
    "Ozu",
    "Fellini",
    "Bergman",
    "Tarkovsky",
    "Kubrick",
    "Scott",
    "Nolan",
    "Lynch",
    "Hitchcock",
)
DIRECTORS = tuple(f"{first} {last}" for first in _FIRST for last in _LAST)  # 200 names
_WORDS = ("the", "last", "night", "city", "river", "ghost", "summer", "red", "silent", "war")

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# -- the data ---------------------------------------------------------------------


def generate(n: int, seed: int = 2024) -> dict[str, dict[str, Any]]:
    """Return ``n`` movie entries by id (with the fields ``EntriesService.create`` adds)."""
    rng = random.Random(seed)  # noqa: S311 - test data
    now = 1_700_000_000
    entries: dict[str, dict[str, Any]] = {}
    for i in range(n):
        at = now - rng.randrange(10_000_000)
        entries[f"{PARENT}/movie-{i:06d}"] = {
            "title": " ".join(rng.choice(_WORDS) for _ in range(3)).title() + f" {i}",
            "director": rng.choice(DIRECTORS),
            "year": rng.randint(1950, 2024),
            "rating": round(rng.uniform(1.0, 10.0), 2),
            "genre": rng.sample(GENRES, rng.randint(1, 3)),
            "published_at": at,
            "published_by": "",
            "created_by": "",
            "routable": True,
            "visibility": "visible",
            "uuid": f"{rng.getrandbits(128):032x}",
            "created_at": at,
            "modified_at": at,
        }
    return entries


def make_yaml_project(path: Path, entries: Mapping[str, Mapping[str, Any]]) -> str:
    """Create a YAML project at ``path``, write ``entries`` as files; return the token id."""
    token = create_project(path, driver="yaml", demo=False).token.token
    root = path / "entries"
    for entry_id, fields in {PARENT: {"title": "Movies"}, **entries}.items():
        folder = root / entry_id
        folder.mkdir(parents=True)
        (folder / "entry.yaml").write_bytes(dump(fields))
    return token


def make_tinydb_project(path: Path, entries: Mapping[str, dict[str, Any]]) -> None:
    """Create a TinyDB project at ``path`` holding ``entries`` (one batch ``create``)."""
    create_project(path, driver="tinydb", demo=False)
    with open_project(path, driver="tinydb") as project:
        project.container.entry_store().create({PARENT: {"title": "Movies"}, **entries})


# -- the naive baseline -----------------------------------------------------------


def variants(count: int) -> list[tuple[int, str]]:
    """(year, genre) of ``count`` different queries, the first that of ``OPTIONS``."""
    first = GENRES.index("drama")
    return [(2000 + i // len(GENRES), GENRES[(first + i) % len(GENRES)]) for i in range(count)]


def naive_query(folder: Path, year: int = 2000, genre: str = "drama") -> list[dict[str, Any]]:
    """Walk ``folder``, read and parse every child's ``entry.yaml``, filter, sort, slice.

    The same semantics as ``options_for(year, genre)`` for this data: year >= ``year``,
    ``genre`` in genre, rating descending (ties in id order), first 10.
    """
    items: list[dict[str, Any]] = []
    with os.scandir(folder) as listing:
        children = [e for e in listing if e.is_dir() and not e.name.startswith(".")]
    for child in children:
        try:
            with open(f"{child.path}/entry.yaml", "rb") as stream:  # noqa: PTH123 - hot loop
                fields = yaml.load(stream.read(), Loader=_Loader)
        except FileNotFoundError:
            continue
        entry_id = f"{PARENT}/{child.name}"
        items.append({**fields, "id": entry_id, "slug": entry_id})
    found = [
        item
        for item in items
        if isinstance(item.get("year"), int)
        and item["year"] >= year
        and genre in (item.get("genre") or ())
    ]
    found.sort(key=lambda item: item["id"])
    found.sort(key=lambda item: item["rating"], reverse=True)
    return found[:10]


# -- timing -----------------------------------------------------------------------


TARGETS = ("yaml", "sweep-off", "sweeping", "tinydb", "http", "naive")
"""What ``--targets`` may name (``sweeping`` only if named: it is not in the default)."""
CLIFF = 3.0
"""A query slower than this many times the p50 is a cliff (the goal: p99 <= 3 x p50)."""


@dataclass
class Timing:
    """Wall times of the measured runs of one target at one size, in ms.

    ``full_gc[i]`` / ``threads[i]``: whether run i overlapped a generation-2 collection /
    a hand-edit sweep's thread (in-process targets only); ``gc_ms``: the
    durations of the generation-2 collections during the timed runs.
    """

    target: str
    n: int
    times_ms: list[float] = field(default_factory=list)
    note: str = ""
    full_gc: list[bool] = field(default_factory=list)
    threads: list[bool] = field(default_factory=list)
    gc_ms: list[float] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        """The nearest-rank ``q`` percentile (0 < q <= 1)."""
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]

    @property
    def p50(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        return self.percentile(0.95)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)

    def tail(self) -> str:
        """Which of the cliffs (runs over ``CLIFF`` x p50) overlapped a full GC / a sweep."""
        if not self.full_gc:
            return ""
        cliff = CLIFF * self.p50
        slow = [i for i, t in enumerate(self.times_ms) if t > cliff]
        gc_runs = sum(self.full_gc[i] for i in slow)
        swept = sum(self.threads[i] for i in slow)
        neither = sum(not (self.full_gc[i] or self.threads[i]) for i in slow)
        longest = max(self.gc_ms, default=0.0)
        return (
            f"{self.target} N={self.n}: {len(slow)} runs > {CLIFF:g} x p50, of which "
            f"{gc_runs} during a full GC, {swept} during a sweep, {neither} neither; "
            f"{sum(self.full_gc)} of {len(self.times_ms)} runs met a full GC; "
            f"{len(self.gc_ms)} full GCs, longest {longest:.0f} ms; "
            f"{sum(self.threads)} runs met a sweep"
        )


class _FullCollections:
    """Count and time the generation-2 collections (``gc.callbacks``) while installed."""

    def __init__(self) -> None:
        self.count = 0
        self.durations_ms: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
            self.count += 1
        else:
            self.durations_ms.append((time.perf_counter() - self._started) * 1000)


def _sweeps_done() -> None:
    """Wait for the hand-edit sweeps running (threads named after ``_sweep``) to end."""
    for thread in threading.enumerate():
        if thread.name.endswith("(_sweep)"):
            thread.join()


class _Sweeper:
    """Sweeps a store for hand edits again and again, in a thread ``_sweeping`` tells."""

    def __init__(self, store: IndexedYamlFilesEntryStore) -> None:
        self.done = 0
        self._store = store
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench(_sweep)", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._store.sweep_now()
            self.done += 1

    def __enter__(self) -> _Sweeper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _sweeping() -> bool:
    """Whether a hand-edit sweep runs: a thread Python named after its target, ``_sweep``."""
    return any(t.name.endswith("(_sweep)") for t in threading.enumerate())


def _time(
    target: str,
    n: int,
    run: Callable[[int], list[str]],
    warmup: int,
    repeats: int,
    expected: Sequence[list[str]],
    more: Callable[[], bool] = lambda: False,
) -> Timing:
    """Time ``repeats`` runs after ``warmup``, then more while ``more()``.

    Run i is of variant i (cycled). Every answer is checked against ``expected`` (of
    each variant), outside the timing.
    """

    def check(i: int, got: list[str]) -> None:
        if got != expected[i % len(expected)]:
            raise RuntimeError(f"{target} at {n}: ids {got} differ from {expected[i]}")

    for i in range(warmup):
        check(i, run(i))
    timing = Timing(target, n)
    watched = _FullCollections()

    gc.callbacks.append(watched)
    try:
        i = warmup
        while i < warmup + repeats or more():
            collections, busy = watched.count, _sweeping()
            start = time.perf_counter()
            got = run(i)
            timing.times_ms.append((time.perf_counter() - start) * 1000)
            timing.full_gc.append(watched.count != collections)
            timing.threads.append(busy or _sweeping())
            check(i, got)
            i += 1
    finally:
        gc.callbacks.remove(watched)
    timing.gc_ms = watched.durations_ms
    if target in ("http (yaml)", "naive"):  # the server's own collections are not seen
        timing.full_gc, timing.threads, timing.gc_ms = [], [], []
    return timing


def _ids(data: Any) -> list[str]:
    return [item["id"] for item in data]


def _service_run(
    service: EntriesService, options: Sequence[dict[str, Any]]
) -> Callable[[int], list[str]]:
    return lambda i: _ids(service.query(PARENT, options[i % len(options)], shared=True).data)


def _flatten(value: Any, prefix: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _flatten(inner, f"{prefix}[{key}]")
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _flatten(inner, f"{prefix}[{i}]")
    else:
        yield prefix, str(value)


def query_path(token: str, options: Mapping[str, Any] = OPTIONS) -> str:
    """The GET path of a query: ``options`` as bracket keys, as a browser form sends them."""
    pairs = [("id", PARENT), ("token", token), *_flatten(options, "options")]
    return "/api/entries?" + urlencode(pairs)


# -- memory -----------------------------------------------------------------------


def _rss_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def measure_memory(root: Path, traced: bool) -> dict[str, Any]:
    """Build the index of ``root`` (and each entry's shared public view) and report growth."""
    gc.collect()
    if traced:
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
    rss = _rss_bytes()
    store = IndexedYamlFilesEntryStore(root, sweep_interval=1e9)
    service = EntriesService(store, SystemClock(), RandomIdFactory())
    start = time.perf_counter()
    service.query(PARENT, OPTIONS, shared=True)
    build_s = time.perf_counter() - start
    gc.collect()
    result: dict[str, Any] = {"rss": _rss_bytes() - rss, "build_s": build_s}
    if traced:
        after = tracemalloc.take_snapshot()
        result["traced"] = tracemalloc.get_traced_memory()[0]
        stats = after.compare_to(before, "filename")
        result["by_file"] = [
            (Path(s.traceback[0].filename).name, s.size_diff) for s in stats[:8] if s.size_diff
        ]
        tracemalloc.stop()
    return result


def _memory_child(root: Path, traced: bool) -> dict[str, Any]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--memory-of", str(root)]
    done = subprocess.run(  # noqa: S603
        [*argv, *(["--traced"] if traced else [])],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# -- the run ----------------------------------------------------------------------


def _repeats(n: int, args: argparse.Namespace) -> tuple[int, int]:
    """(in-process/HTTP repeats, naive repeats) at size ``n``."""
    if n >= 100_000:
        return args.repeats_large, args.naive_repeats_large
    return args.repeats, args.naive_repeats


def _measure_size(n: int, tmp: Path, args: argparse.Namespace) -> tuple[list[Timing], str]:
    targets = set(args.targets.split(","))
    entries = generate(n)
    asked = variants(args.vary)
    options = [options_for(year, genre) for year, genre in asked]
    expected = [_ids(naive_query_expected(entries, year, genre)) for year, genre in asked]
    yaml_project, tinydb_project = tmp / f"yaml-{n}", tmp / f"tinydb-{n}"
    start = time.perf_counter()
    token = make_yaml_project(yaml_project, entries)
    if "tinydb" in targets:
        make_tinydb_project(tinydb_project, entries)
    made = time.perf_counter() - start
    del entries
    repeats, naive_repeats = _repeats(n, args)
    timings: list[Timing] = []
    build = math.nan

    if "yaml" in targets:
        with open_project(yaml_project) as project:
            service = project.entries
            start = time.perf_counter()
            service.query(PARENT, OPTIONS, shared=True)
            build = time.perf_counter() - start
            timings.append(
                _time(
                    "yaml in-process",
                    n,
                    _service_run(service, options),
                    args.warmup,
                    repeats,
                    expected,
                )
            )
        _sweeps_done()  # the store's sweep goes on in the background: not into what follows
        del project, service  # its index is not to stay in memory beside the next one
        gc.collect()

    if "sweep-off" in targets:
        store = IndexedYamlFilesEntryStore(yaml_project / "entries", sweep_interval=1e9)
        quiet = EntriesService(store, SystemClock(), RandomIdFactory())
        timings.append(
            _time(
                "yaml, sweep off",
                n,
                _service_run(quiet, options),
                1 + args.warmup,
                repeats,
                expected,
            )
        )
        del store, quiet
        gc.collect()

    if "sweeping" in targets:
        store = IndexedYamlFilesEntryStore(yaml_project / "entries", sweep_interval=1e9)
        swept = EntriesService(store, SystemClock(), RandomIdFactory())
        swept.query(PARENT, OPTIONS, shared=True)  # built before the sweeps begin
        with _Sweeper(store) as sweeper:
            timings.append(
                _time(
                    "yaml, sweeping",
                    n,
                    _service_run(swept, options),
                    args.warmup,
                    repeats,
                    expected,
                    more=lambda: sweeper.done < 2,  # one whole sweep or more in the timing
                )
            )
        del store, swept
        gc.collect()

    if "tinydb" in targets:
        with open_project(tinydb_project, driver="tinydb") as project:
            service = project.entries
            timings.append(
                _time(
                    "tinydb in-process",
                    n,
                    _service_run(service, options),
                    args.warmup,
                    repeats,
                    expected,
                )
            )
        del project, service
        gc.collect()

    if "http" in targets:
        flextype = [str(BIN / "flextype"), "serve", "--project", str(yaml_project), "--port", "0"]
        with harness._server(flextype) as url, httpx.Client(base_url=url, timeout=1800) as client:
            paths = [query_path(token, o) for o in options]

            def over_http(i: int) -> list[str]:
                answer = client.get(paths[i % len(paths)]).raise_for_status()
                return _ids(answer.json()["data"])

            timings.append(_time("http (yaml)", n, over_http, 1 + args.warmup, repeats, expected))

    if "naive" in targets:
        folder = yaml_project / "entries" / PARENT

        def naive(i: int) -> list[str]:
            return _ids(naive_query(folder, *asked[i % len(asked)]))

        timings.append(_time("naive", n, naive, 1, naive_repeats, expected))
    notes = f"N={n}: generated in {made:.1f}s, index build (first query) {build * 1000:.0f} ms"
    return timings, notes


def naive_query_expected(
    entries: Mapping[str, Mapping[str, Any]], year: int = 2000, genre: str = "drama"
) -> list[dict[str, Any]]:
    """The expected answer, computed from the generated data without any store."""
    found = [
        {**fields, "id": entry_id}
        for entry_id, fields in sorted(entries.items())
        if fields["year"] >= year and genre in fields["genre"]
    ]
    found.sort(key=lambda item: item["rating"], reverse=True)
    return found[:10]


def _table(timings: Sequence[Timing]) -> str:
    rows = [
        f"{'target':<18} {'N':>7} {'runs':>5} {'p50 ms':>10} {'p95 ms':>10} {'p99 ms':>10}"
        f" {'p99/p50':>8}"
    ]
    rows += [
        f"{t.target:<18} {t.n:>7} {len(t.times_ms):>5} {t.p50:>10.2f} {t.p95:>10.2f}"
        f" {t.p99:>10.2f} {t.p99 / t.p50:>8.1f}"
        for t in timings
    ]
    rows += [line for t in timings if (line := t.tail())]
    return "\n".join(rows)


def _p50(timings: Sequence[Timing], target: str, n: int) -> float | None:
    for t in timings:
        if t.target == target and t.n == n:
            return t.p50
    return None


def _summary(timings: Sequence[Timing], sizes: Sequence[int]) -> list[str]:
    lines = []
    low, high = min(sizes), max(sizes)
    for target in ("yaml in-process", "yaml, sweep off", "tinydb in-process", "http (yaml)"):
        a, b = _p50(timings, target, low), _p50(timings, target, high)
        if a and b and high > low:
            slope = math.log(b / a) / math.log(high / low)
            lines.append(f"scaling exponent {target} ({low} -> {high}): {slope:.2f}")
    if 10_000 in sizes:
        ours, naive = _p50(timings, "yaml in-process", 10_000), _p50(timings, "naive", 10_000)
        if ours and naive:
            lines.append(f"speedup naive/yaml in-process at 10000: {naive / ours:.0f}x")
    goals = ((10_000, 5.0), (100_000, 50.0))
    for n, goal in goals:
        got = _p50(timings, "yaml in-process", n)
        if got is not None:
            verdict = "met" if got <= goal else "MISSED"
            lines.append(f"goal yaml in-process p50 at {n} <= {goal:g} ms: {got:.2f} ms, {verdict}")
    return lines


def _profile(n: int, tmp: Path, runs: int) -> str:
    """Profile ``runs`` warm in-process queries over the indexed YAML store at ``n``."""
    project_path = tmp / f"yaml-{n}"
    store = IndexedYamlFilesEntryStore(project_path / "entries", sweep_interval=1e9)
    service = EntriesService(store, SystemClock(), RandomIdFactory())
    service.query(PARENT, OPTIONS, shared=True)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        service.query(PARENT, OPTIONS, shared=True)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(14)
    return out.getvalue()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated N")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up runs per target")
    parser.add_argument("--repeats", type=int, default=200, help="measured runs below 100k")
    parser.add_argument("--repeats-large", type=int, default=200, help="measured runs at 100k+")
    parser.add_argument("--naive-repeats", type=int, default=10, help="naive runs below 100k")
    parser.add_argument("--naive-repeats-large", type=int, default=3, help="naive runs at 100k+")
    parser.add_argument(
        "--targets",
        default="yaml,sweep-off,tinydb,http,naive",
        help=f"comma-separated, of {','.join(TARGETS)} (default: all but sweeping)",
    )
    parser.add_argument(
        "--vary", type=int, default=1, help="cycle through this many different queries"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the memory children")
    parser.add_argument("--profile", action="store_true", help="cProfile the largest N")
    parser.add_argument("--memory-of", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Measure every target at every size; print the table, exponents and goals."""
    args = _parser().parse_args(argv)
    unknown = set(args.targets.split(",")) - set(TARGETS)
    if unknown:
        _parser().error(f"unknown targets: {', '.join(sorted(unknown))}")
    if args.memory_of is not None:
        _write(json.dumps(measure_memory(args.memory_of, args.traced)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    timings: list[Timing] = []
    load_before = harness._load()
    with tempfile.TemporaryDirectory(prefix="flextype-query-bench-") as tmp_name:
        tmp = Path(tmp_name)
        for n in sizes:
            found, note = _measure_size(n, tmp, args)
            timings += found
            _write(note)
            _write(_table(found))
        _write("")
        _write(
            f"query: {PARENT}, year gte 2000 AND genre contains drama, sort rating desc, "
            f"limit 10; {args.vary} variant(s) cycled; warm-up {args.warmup}; "
            f"load average (1/5/15 min) before: {load_before}, after: {harness._load()}"
        )
        _write(_table(timings))
        for line in _summary(timings, sizes):
            _write(line)
        largest = max(sizes)
        if not args.no_memory:
            root = tmp / f"yaml-{largest}" / "entries"
            plain, traced = _memory_child(root, False), _memory_child(root, True)
            _write(
                f"index memory at N={largest}: RSS +{plain['rss'] / largest:.0f} B/entry, "
                f"tracemalloc +{traced['traced'] / largest:.0f} B/entry "
                f"(build {plain['build_s']:.1f}s)"
            )
            for name, size in traced["by_file"]:
                _write(f"    {name:<24} {size / largest:>8.0f} B/entry")
        if args.profile:
            _write(f"cProfile of 10 warm yaml in-process queries at N={largest}, sweep off:")
            _write(_profile(largest, tmp, 10))
    return 0


if __name__ == "__main__":
    sys.exit(main())
