"""p50/p99 of a two-word full-text search over 100k entries: YAML in process, PostgreSQL over HTTP.

The same generated entries go into a YAML project (files written directly, as a hand-kept
site would have them) and a PostgreSQL project on a private durable cluster (rows created
through the store in batches of 5,000, then VACUUM ANALYZE as autovacuum would leave
them). Each entry under ``docs/`` has a ``title`` of 3-7 words and a ``body`` of
``--words`` words in sentences, drawn from ``--vocabulary`` generated words (syllables,
about 1 in 10 with an accent: ``bélo``, ``kùran``) by a Zipf distribution (rank r drawn
with weight 1/r; frequent words are the short ones). The measured request is

    GET /api/entries?id=docs&options[collection]=true
        &options[search][q]=W1 W2&options[filter][limit]=10&token=T

(relevance order, no ``sort_by``), with word pairs chosen so that each matches 0.3 % to
3 % of the entries (300 to 3,000 at 100k; the counts are printed). Words are chosen among
those whose plain substring matches are exactly their prefix matches (no other word holds
them inside, none has an accent), so the naive scan finds the same set. Targets:

- ``yaml in-process``: ``open_project(...).entries.query(..., shared=True)``, the YAML
  driver as the server wires it (embedded index ``cache/search.sqlite3``);
- ``postgres http``: ``flextype serve`` on the PostgreSQL project, pinned to
  ``--server-core``; the client (sequential keep-alive httpx GETs, wall time per request)
  and PostgreSQL on ``--load-core``;
- ``naive``: a substring scan of every entry's lower-cased ``title`` and ``body`` in plain
  Python over the same data in memory, ranked by occurrences (``heapq.nlargest``).

Two rounds each: ``distinct``, every timed query a pair not asked before (PostgreSQL
remembers an answer while nothing changes, so a repeated query would time that memory),
and ``same``, one pair asked again and again. Every target's ``meta.total`` must equal
the count computed from the generated words (checked on every request), and the full set
of ids is checked once per target (the naive scan's on every query).

Also printed: the embedded index build for all entries (``flextype search reindex``, its
wall time, and the time the index's ``rebuild()`` takes in process), its size on disk
(``cache/search.sqlite3`` with its WAL), and PostgreSQL's table and index sizes (the GIN
index over the tsvector, and the tsvector column itself).

    .venv/bin/python bench/search.py [--entries 100000] [--queries 200] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import heapq
import io
import itertools
import os
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from psycopg import sql

# bench/ is not a package: import the harness and the cluster from beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import http_get_entry as harness
from pg_cluster import cluster

from flextype_adapters.yaml_codec import dump
from flextype_core.query.search_text import normalize
from flextype_entrypoints.project import open_project
from flextype_entrypoints.scaffold import create_project

__all__ = ["Corpus", "generate", "main"]

PARENT = "docs"
_CONSONANTS = "bcdfghjklmnprstvz"
_VOWELS = "aeiou"
_ACCENTED = {"a": "àáâ", "e": "éèê", "i": "íî", "o": "óôö", "u": "ùúü"}
_OTHER_TEXT = ("visible", "docs")
"""Other strings of the collection's searched fields (``visibility``; the parent's title)."""


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# -- the data ---------------------------------------------------------------------


def vocabulary(size: int, rng: random.Random) -> list[str]:
    """``size`` distinct made-up words, shortest first (the frequent ones, by Zipf's law)."""
    seen: set[str] = set()
    words: list[str] = []
    while len(words) < size:
        syllables = rng.choices((1, 2, 3, 4), weights=(1, 5, 4, 2))[0]
        word = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables))
        if rng.random() < 0.3:
            word += rng.choice(_CONSONANTS)
        if rng.random() < 0.1:  # one vowel accented
            at = rng.choice([i for i, ch in enumerate(word) if ch in _VOWELS])
            word = word[:at] + rng.choice(_ACCENTED[word[at]]) + word[at + 1 :]
        if word not in seen:
            seen.add(word)
            words.append(word)
    words.sort(key=len)  # stable: random order within a length
    return words


def _same_as_naive(query: str, forms: Sequence[tuple[str, str]]) -> bool:
    """Whether a plain substring test finds exactly the words the index matches.

    The index matches ``query`` (3+ characters) at the start of a normalised word; the
    naive scan anywhere in the lower-cased text. ``forms``: (lower-cased, normalised).
    """
    return all((query in lower) == folded.startswith(query) for lower, folded in forms)


def _candidates(vocab: Sequence[str], n_words: int, low: float, high: float) -> list[str]:
    """Query words expected in ``low``..``high`` of the entries, naive-compatible."""
    harmonic = sum(1 / r for r in range(1, len(vocab) + 1))
    forms = [(text.lower(), normalize(text)) for text in (*vocab, *_OTHER_TEXT)]
    found = []
    for rank, word in enumerate(vocab, start=1):
        share = 1 - (1 - 1 / (rank * harmonic)) ** n_words
        if low <= share <= high and len(word) >= 3 and _same_as_naive(word, forms):
            found.append(word)
    return found


@dataclass
class Corpus:
    """The generated entries and, per candidate query word, the entries it matches."""

    entries: dict[str, dict[str, Any]]
    matching: dict[str, set[str]] = field(default_factory=dict)


def _sentences(words: list[str], rng: random.Random) -> str:
    out = []
    at = 0
    while at < len(words):
        size = rng.randint(6, 18)
        sentence = " ".join(words[at : at + size])
        out.append(sentence[:1].upper() + sentence[1:] + ".")
        at += size
    return " ".join(out)


def generate(n: int, n_words: int, vocab_size: int, seed: int = 16) -> Corpus:
    """``n`` entries of ``docs/``; and which entries each candidate query word matches."""
    rng = random.Random(seed)  # noqa: S311 - test data
    vocab = vocabulary(vocab_size, rng)
    cum = list(itertools.accumulate(1 / r for r in range(1, len(vocab) + 1)))
    ranks = range(len(vocab))
    candidates = _candidates(vocab, n_words + 5, 0.04, 0.3)[:80]
    # Which candidates each vocabulary word satisfies (the word starts with them).
    hits: dict[int, list[str]] = {}
    for index, word in enumerate(vocab):
        folded = normalize(word)
        found = [c for c in candidates if folded.startswith(c)]
        if found:
            hits[index] = found
    corpus = Corpus({}, {c: set() for c in candidates})
    for i in range(n):
        entry_id = f"{PARENT}/doc-{i:06d}"
        title = rng.choices(ranks, cum_weights=cum, k=rng.randint(3, 7))
        body = rng.choices(ranks, cum_weights=cum, k=n_words)
        corpus.entries[entry_id] = {
            "title": " ".join(vocab[r] for r in title).capitalize(),
            "body": _sentences([vocab[r] for r in body], rng),
            "visibility": "visible",
        }
        for index in hits.keys() & {*title, *body}:
            for word in hits[index]:
                corpus.matching[word].add(entry_id)
    return corpus


def pairs(corpus: Corpus, low: int, high: int, seed: int = 7) -> list[tuple[str, str, set[str]]]:
    """Word pairs matching ``low``..``high`` entries, shuffled, with the ids they match."""
    found = []
    for a, b in itertools.combinations(sorted(corpus.matching), 2):
        if a.startswith(b) or b.startswith(a):
            continue
        both = corpus.matching[a] & corpus.matching[b]
        if low <= len(both) <= high:
            found.append((a, b, both))
    random.Random(seed).shuffle(found)  # noqa: S311 - test data
    return found


def make_yaml_project(path: Path, entries: Mapping[str, Mapping[str, Any]]) -> str:
    """Create a YAML project at ``path``, write ``entries`` as files; return the token id."""
    token = create_project(path, driver="yaml", demo=False).token.token
    root = path / "entries"
    for entry_id, fields in {PARENT: {"title": "Docs"}, **entries}.items():
        folder = root / entry_id
        folder.mkdir(parents=True)
        (folder / "entry.yaml").write_bytes(dump(fields))
    return token


def make_postgres_project(path: Path, url: str, entries: Mapping[str, dict[str, Any]]) -> str:
    """Create a PostgreSQL project holding ``entries`` (batches of 5,000); return the token id."""
    postgres = {"url": url, "schema": "bench_search"}
    token = create_project(path, driver="postgres", demo=False, postgres=postgres).token.token
    with open_project(path, environ={}) as project:
        store = project.container.entry_store()
        rows = list({PARENT: {"title": "Docs"}, **entries}.items())
        for i in range(0, len(rows), 5000):
            store.create(dict(rows[i : i + 5000]))
        # As autovacuum leaves a table after a bulk load: statistics and visibility map.
        project.container.postgres_database().read(lambda tx: tx.execute("VACUUM ANALYZE entries"))
    return token


# -- sizes ------------------------------------------------------------------------


def _mb(size: float) -> str:
    return f"{size / 1e6:.1f} MB"


def postgres_sizes(path: Path) -> list[str]:
    """The entries table's sizes, each of its indexes, and any tsvector column's bytes."""
    lines = []
    with open_project(path, environ={}) as project:
        db = project.container.postgres_database()

        def sizes(tx: Any) -> None:
            total, heap = tx.execute(
                "SELECT pg_total_relation_size('entries'), pg_relation_size('entries')"
            ).fetchone()
            lines.append(f"entries table: {_mb(total)} in all, heap {_mb(heap)}")
            indexes = tx.execute(
                "SELECT c.relname, am.amname, pg_relation_size(c.oid) FROM pg_index i"
                " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam"
                " WHERE i.indrelid = 'entries'::regclass ORDER BY 3 DESC"
            ).fetchall()
            for name, method, size in indexes:
                lines.append(f"    index {name} ({method}): {_mb(size)}")
            columns = tx.execute(
                "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = 'entries'::regclass"
                " AND a.atttypid = 'tsvector'::regtype AND NOT a.attisdropped"
            ).fetchall()
            for (column,) in columns:
                query = sql.SQL("SELECT sum(pg_column_size({})) FROM entries")
                (size,) = tx.execute(query.format(sql.Identifier(column))).fetchone()
                lines.append(f"    tsvector column {column}: {_mb(size or 0)}")

        db.read(sizes)
    return lines


def search_files(project: Path) -> list[str]:
    """The embedded index's files under ``cache/`` with their sizes."""
    files = sorted((project / "cache").glob("search.sqlite3*"))
    lines = [f"    {f.name}: {_mb(f.stat().st_size)}" for f in files]
    total = sum(f.stat().st_size for f in files)
    return [f"embedded index on disk: {_mb(total)}", *lines]


def reindex(project: Path) -> float:
    """Wall time of ``flextype search reindex`` on ``project`` (a process of its own)."""
    argv = [str(harness.BIN / "flextype"), "search", "reindex", "--project", str(project)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEXTYPE_")}
    started = time.perf_counter()
    subprocess.run(argv, check=True, env=env, capture_output=True, timeout=3600)  # noqa: S603
    return time.perf_counter() - started


def rebuild_in_process(project: Any) -> float | None:
    """Seconds of the search index's ``rebuild()`` (entries already read); None: no index."""
    index = getattr(project.container, "search_index", None)
    if index is None:
        return None
    found = index()
    started = time.perf_counter()
    found.rebuild()
    return time.perf_counter() - started


# -- the targets ------------------------------------------------------------------


def options(q: str, limit: int | None = 10) -> dict[str, Any]:
    """The measured query, with string leaves as a bracket query string gives them."""
    found: dict[str, Any] = {"collection": "true", "search": {"q": q}}
    if limit is not None:
        found["filter"] = {"limit": str(limit)}
    return found


def params(q: str, token: str, limit: int = 10) -> dict[str, str]:
    """The measured query as the bracket keys of a URL."""
    return {
        "id": PARENT,
        "options[collection]": "true",
        "options[search][q]": q,
        "options[filter][limit]": str(limit),
        "token": token,
    }


Run = Callable[[str], tuple[int, list[str]]]
"""One query: the search text -> (meta.total, the ids of the page)."""


def naive(entries: Sequence[tuple[str, str, str]], q: str) -> tuple[int, list[str], set[str]]:
    """Substring scan: every word in the lower-cased title or body; top 10 by occurrences."""
    words = q.lower().split()
    found: list[tuple[int, str]] = []
    for entry_id, title, body in entries:
        text = f"{title}\n{body}".lower()
        if all(w in text for w in words):
            found.append((sum(text.count(w) for w in words), entry_id))
    top = heapq.nlargest(10, found, key=lambda pair: pair[0])
    return len(found), [entry_id for _, entry_id in top], {entry_id for _, entry_id in found}


@dataclass
class Timing:
    """Wall times of one target's round, in ms, and the totals it answered."""

    target: str
    times_ms: list[float] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p99(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, round(0.99 * len(ordered)) - 1)]


def _time(target: str, run: Run, queries: Sequence[tuple[str, str, set[str]]]) -> Timing:
    timing = Timing(target)
    for a, b, expected in queries:
        started = time.perf_counter()
        total, page = run(f"{a} {b}")
        timing.times_ms.append((time.perf_counter() - started) * 1000)
        if total != len(expected) or not set(page) <= expected or len(page) != min(10, total):
            raise RuntimeError(f"{target}: {a} {b}: total {total}, expected {len(expected)}")
        timing.totals.append(total)
    return timing


def _rounds(
    target: str, run: Run, chosen: Sequence[tuple[str, str, set[str]]], args: argparse.Namespace
) -> list[Timing]:
    """Warm up on pairs not measured, then the distinct round, then the same pair repeated."""
    warm, measured = chosen[: args.warmup], chosen[args.warmup : args.warmup + args.queries]
    _time(target, run, warm)
    same = [measured[0]] * args.queries
    return [_time(f"{target}, distinct", run, measured), _time(f"{target}, same", run, same)]


def _page(answer: Any) -> tuple[int, list[str]]:
    return answer.meta.total, [item["id"] for item in answer.data]


def _check_set(target: str, got: set[str], expected: set[str]) -> None:
    if got != expected:
        raise RuntimeError(f"{target}: {len(got)} ids, {len(got ^ expected)} differ from expected")


@contextmanager
def _pinned(core: int) -> Iterator[None]:
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _profile(run: Run, queries: Sequence[tuple[str, str, set[str]]]) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for a, b, _ in queries:
        run(f"{a} {b}")
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(25)
    stats.sort_stats("tottime").print_stats(15)
    return out.getvalue()


def measure_yaml(path: Path, chosen: Sequence[Any], args: argparse.Namespace) -> list[Timing]:
    """The embedded index: build, size, then the rounds in process."""
    if not args.no_reindex:
        _write(
            f"flextype search reindex (a process, entries read from files): {reindex(path):.1f} s"
        )
    with open_project(path) as project:
        service = project.entries
        started = time.perf_counter()
        service.query(PARENT, {"collection": "true", "filter": {"limit": "1"}}, shared=True)
        _write(
            f"yaml: first collection query (reads every entry): "
            f"{time.perf_counter() - started:.1f} s"
        )
        started = time.perf_counter()
        a, b, expected = chosen[0]
        everything = service.query(PARENT, options(f"{a} {b}", None), shared=True)
        _write(
            f"yaml: first search (builds a missing index): {time.perf_counter() - started:.2f} s"
        )
        _check_set("yaml in-process", {item["id"] for item in everything.data}, expected)
        rebuilt = None if args.no_reindex else rebuild_in_process(project)
        if rebuilt is not None:
            _write(f"yaml: search index rebuild() in process: {rebuilt:.1f} s")
        for line in search_files(path):
            _write(line)

        def run(q: str) -> tuple[int, list[str]]:
            return _page(service.query(PARENT, options(q), shared=True))

        timings = _rounds("yaml in-process", run, chosen, args)
        if args.profile:
            _write("cProfile of the yaml in-process distinct queries:")
            _write(_profile(run, chosen[args.warmup : args.warmup + args.queries]))
    return timings


def measure_postgres(
    path: Path, token: str, chosen: Sequence[Any], args: argparse.Namespace
) -> list[Timing]:
    """``flextype serve`` on the PostgreSQL project, over HTTP."""
    server = ["taskset", "-c", str(args.server_core), str(harness.BIN / "flextype")]
    server += ["serve", "--project", str(path), "--port", "0"]
    with harness._server(server) as url, httpx.Client(base_url=url, timeout=600) as client:
        a, b, expected = chosen[0]
        answer = client.get("/api/entries", params=params(f"{a} {b}", token, len(expected) + 1))
        ids = {item["id"] for item in answer.raise_for_status().json()["data"]}
        _check_set("postgres http", ids, expected)

        def run(q: str) -> tuple[int, list[str]]:
            body = client.get("/api/entries", params=params(q, token)).raise_for_status().json()
            return body["meta"]["total"], [item["id"] for item in body["data"]]

        timings = _rounds("postgres http", run, chosen, args)
    if args.profile:
        with open_project(path, environ={}) as project:
            service = project.entries

            def inside(q: str) -> tuple[int, list[str]]:
                return _page(service.query(PARENT, options(q), shared=True))

            _write("cProfile of the same distinct queries, postgres in process:")
            _write(_profile(inside, chosen[args.warmup : args.warmup + args.queries]))
    return timings


def measure_naive(corpus: Corpus, chosen: Sequence[Any], args: argparse.Namespace) -> Timing:
    rows = [(entry_id, f["title"], f["body"]) for entry_id, f in corpus.entries.items()]
    timing = Timing("naive substring scan")
    for a, b, expected in chosen[args.warmup : args.warmup + args.naive_queries]:
        started = time.perf_counter()
        total, _, found = naive(rows, f"{a} {b}")
        timing.times_ms.append((time.perf_counter() - started) * 1000)
        _check_set("naive", found, expected)
        timing.totals.append(total)
    return timing


def _table(timings: Sequence[Timing]) -> list[str]:
    rows = [
        f"{'target':<28} {'runs':>5} {'p50 ms':>9} {'p99 ms':>9} {'matches (min-median-max)':>26}"
    ]
    for t in timings:
        counts = f"{min(t.totals)}-{statistics.median(t.totals):.0f}-{max(t.totals)}"
        rows.append(f"{t.target:<28} {len(t.times_ms):>5} {t.p50:>9.2f} {t.p99:>9.2f} {counts:>26}")
    return rows


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--words", type=int, default=200, help="words of each body")
    parser.add_argument("--vocabulary", type=int, default=4000, help="distinct words")
    parser.add_argument("--queries", type=int, default=200, help="timed queries a round")
    parser.add_argument("--warmup", type=int, default=20, help="untimed queries first")
    parser.add_argument("--naive-queries", type=int, default=10)
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--load-core", type=int, default=1)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--shared-buffers",
        default="32MB",
        help="PostgreSQL's shared_buffers (the tests' 32MB by default; a server has more)",
    )
    parser.add_argument(
        "--no-reindex", action="store_true", help="skip the reindex command and rebuild()"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the distinct rounds")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Generate, load, measure every target; print the figures."""
    args = _parser().parse_args(argv)
    os.environ.pop("FLEXTYPE_STORAGE__DRIVER", None)
    load_before = harness._load()
    started = time.perf_counter()
    corpus = generate(args.entries, args.words, args.vocabulary)
    low, high = max(1, round(args.entries * 0.003)), round(args.entries * 0.03)
    chosen = pairs(corpus, low, high)
    if len(chosen) < args.warmup + args.queries:
        raise SystemExit(f"only {len(chosen)} word pairs match {low}-{high} entries")
    _write(
        f"{args.entries} entries generated in {time.perf_counter() - started:.1f} s; "
        f"{len(corpus.matching)} query words, {len(chosen)} pairs matching {low}-{high}; "
        f"repeated pair: {chosen[args.warmup][0]} {chosen[args.warmup][1]} "
        f"({len(chosen[args.warmup][2])} matches)"
    )
    timings: list[Timing] = []
    with tempfile.TemporaryDirectory(prefix="flextype-search-bench-") as folder:
        tmp = Path(folder)
        started = time.perf_counter()
        yaml_token = make_yaml_project(tmp / "yaml", corpus.entries)
        del yaml_token
        _write(f"yaml: files written in {time.perf_counter() - started:.1f} s")
        timings += measure_yaml(tmp / "yaml", chosen, args)
        timings.append(measure_naive(corpus, chosen, args))
        if not args.skip_postgres:
            buffers = args.shared_buffers
            with (
                cluster(core=args.load_core, shared_buffers=buffers) as running,
                _pinned(args.load_core),
            ):
                started = time.perf_counter()
                token = make_postgres_project(tmp / "postgres", running.url, corpus.entries)
                _write(f"postgres: rows created in {time.perf_counter() - started:.1f} s")
                for line in postgres_sizes(tmp / "postgres"):
                    _write(line)
                timings += measure_postgres(tmp / "postgres", token, chosen, args)
    _write("")
    _write(
        f"search '<w1> <w2>', limit 10, relevance order, over {args.entries} entries "
        f"({args.words}-word bodies, {args.vocabulary} words); server on core "
        f"{args.server_core}, client and PostgreSQL (fsync on, shared_buffers"
        f" {args.shared_buffers}) on core {args.load_core}; "
        f"load average before: {load_before}, after: {harness._load()}"
    )
    for line in _table(timings):
        _write(line)
    for t in timings:
        if t.target.endswith("distinct"):
            verdict = "met" if t.p50 <= 20 else "MISSED"
            _write(f"goal p50 <= 20 ms, {t.target}: {t.p50:.2f} ms, {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
