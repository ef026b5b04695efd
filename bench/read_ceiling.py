"""Reads at the ceiling (issue 17): every read through ``flextype serve`` beside a bare route.

One run, one project (``create_project``'s demo, plus ``--entries`` entries under
``catalog`` written as files and a generated JPEG uploaded to ``media/photos/``), one
``flextype serve --port 0`` answering every target (a second one, on a copy of the project
with ``api.response_cache_mb: 0``, for the uncached collection query; a build that refuses
the setting has no response cache, and the uncached row repeats the cached one), and one
bare Litestar app (``bench/ceiling_servers.py``) under the same uvicorn settings
(``serve.make_server``) with a route per target answering the very bytes our server
answered, with the same content type and ``ETag`` (and ``Cache-Control`` for the image).
Every server is pinned to one core and ``wrk`` to another (``bench/http_get_entry.py``'s
harness); each target is measured on ours, then at once on the bare route, so the pair
shares the machine's state, and the share of each core that other processes took during
each measurement is printed (``bench/cpu_share.py``). Targets:

- ``single``: ``GET /api/entries?id=movies/dune&token=T``;
- ``registry``: ``GET /api/registry?id=flextype.manifest.version&token=T``;
- ``collection``: ``GET /api/entries?id=catalog&options[collection]=true&token=T``
  (every entry of ``catalog``), on the default server (``cached``) and on the server
  without a response cache (``uncached``);
- ``where+sort+limit``: the same collection, ``year >= 2000``, ``genre`` contains
  ``drama``, sorted by ``rating`` descending, 10 items (``bench/query.py``'s query);
- ``image``: a cached derivative, ``GET /api/images/photos/big.jpg?w=320&token=T``
  (rendered once before the load, as ``bench/images.py`` does).

    .venv/bin/python bench/read_ceiling.py [--duration 10] [--warmup 3] [--entries 1000]

A smoke run: ``--duration 1 --warmup 1 --entries 100``. Needs ``wrk`` and ``taskset``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx

# bench/ is not a package: import the harness, the image and the query from beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import ceiling_servers
import http_get_entry as harness
import query
from ceiling_servers import BareRoute, Served, SettingRefusedError, serving, write_manifest
from cpu_share import Snapshot, others

import images
from flextype_adapters.yaml_codec import dump
from flextype_entrypoints.scaffold import create_project
from flextype_entrypoints.settings import SETTINGS_FILE

__all__ = ["main"]

BIN = Path(sys.executable).parent
PARENT = "catalog"
UNCACHED_SETTING = "api:\n  response_cache_mb: 0\n"
_NO_CACHE = "uncached: same as cached (no response cache in this build)"
_KEPT_HEADERS = ("etag", "cache-control")
"""Headers of our answer that the bare route repeats (besides the content type)."""
_LOCAL_HEADERS = frozenset({"date", "server", "content-length", "content-type", *_KEPT_HEADERS})


@dataclass(frozen=True)
class Target:
    """One read measured on our server and on the bare route."""

    key: str
    label: str
    route: str
    params: Sequence[tuple[str, str]]
    goal: float | None
    server: str = "cached"

    def path(self, token: str) -> str:
        """Our request: the route and the query string, the token last."""
        return f"{self.route}?{urlencode([*self.params, ('token', token)])}"

    def bare_path(self, token: str) -> str:
        """The bare app's request: its own route, the same query string (ignored)."""
        return f"/bare/{self.key}?{self.path(token).partition('?')[2]}"


@dataclass(frozen=True)
class Answer:
    """What our server answered a target: the bytes and the headers the bare route repeats."""

    body: bytes
    content_type: str
    headers: dict[str, str]
    extra: tuple[str, ...]
    """Header names only ours sends (besides date, server, length and the kept ones)."""


@dataclass(frozen=True)
class Measured:
    """wrk's figures, and the share of each core that other processes took meanwhile."""

    result: harness.Result
    others: tuple[float, float]


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    target: Target
    ours: Measured
    bare: Measured
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours.result.rps / self.bare.result.rps


def _collection(where: bool) -> list[tuple[str, str]]:
    pairs = [("id", PARENT), ("options[collection]", "true")]
    if where:
        pairs += [
            (key, value)
            for key, value in query._flatten(query.OPTIONS, "options")
            if key != "options[collection]"
        ]
    return pairs


def targets(uncached: bool) -> list[Target]:
    """The targets in the order measured; ``uncached``: a server without a response cache."""
    entries, images_route = "/api/entries", f"/api/images/{images.FOLDER}/{images.NAME}"
    found = [
        Target("single", "single entry", entries, [("id", harness.ENTRY)], 0.6),
        Target(
            "registry", "registry item", "/api/registry", [("id", "flextype.manifest.version")], 0.6
        ),
        Target("collection", "collection cached", entries, _collection(where=False), 0.5),
        Target("where", "where+sort+limit", entries, _collection(where=True), None),
        Target("image", "image cached hit", images_route, [("w", "320")], 0.5),
    ]
    if uncached:
        found.insert(
            3,
            Target("uncached", "collection uncached", entries, _collection(False), 0.2, "uncached"),
        )
    return found


# ---------------------------------------------------------------------------- the project


def make_project(path: Path, entries: int) -> str:
    """The demo project, ``entries`` entries under ``catalog`` and the photo; return the token."""
    token = create_project(path).token.token
    movies = query.generate(entries)
    root = path / "entries"
    (root / PARENT).mkdir()
    (root / PARENT / "entry.yaml").write_bytes(dump({"title": "Catalog"}))
    for entry_id, fields in movies.items():
        folder = root / PARENT / entry_id.rpartition("/")[2]
        folder.mkdir()
        (folder / "entry.yaml").write_bytes(dump(fields))
    images._upload(path, images.make_jpeg())
    return token


# ---------------------------------------------------------------------------- servers


def _pinned(args: argparse.Namespace, argv: Sequence[str]) -> list[str]:
    return ["taskset", "-c", str(args.server_core), *argv]


def _ours(project: Path) -> list[str]:
    return [str(BIN / "flextype"), "serve", "--project", str(project), "--port", "0"]


def _fetch(url: str) -> httpx.Response:
    return httpx.get(url, timeout=120).raise_for_status()


def fetch_answers(
    servers: Mapping[str, Served], found: Sequence[Target], token: str
) -> dict[str, Answer]:
    """GET each target once from our servers (warming them) and keep what they answered."""
    answers: dict[str, Answer] = {}
    for target in found:
        got = _fetch(servers[target.server].url + target.path(token))
        kept = {name: got.headers[name] for name in _KEPT_HEADERS if name in got.headers}
        extra = tuple(sorted(set(got.headers) - _LOCAL_HEADERS))
        answers[target.key] = Answer(got.content, got.headers["content-type"], kept, extra)
    return answers


def _check(answers: Mapping[str, Answer], entries: int) -> None:
    collection = json.loads(answers["collection"].body)["data"]
    if len(collection) != entries:
        raise RuntimeError(f"the collection answered {len(collection)} entries, not {entries}")
    if not 0 < len(json.loads(answers["where"].body)["data"]) <= 10:
        raise RuntimeError("where+sort+limit did not answer 1 to 10 entries")
    if answers["image"].content_type != "image/jpeg":
        raise RuntimeError(f"the image is {answers['image'].content_type}, not image/jpeg")
    uncached = answers.get("uncached")
    if uncached is not None and uncached.body != answers["collection"].body:
        raise RuntimeError("the uncached server answered other bytes than the cached one")


# ---------------------------------------------------------------------------- load


def measure(server: Served, path: str, args: argparse.Namespace) -> Measured:
    """Warm up, then measure ``path`` on ``server`` with wrk on the load core."""
    url = server.url + path
    wrk = [
        *("taskset", "-c", str(args.load_core), "wrk"),
        *(f"-t{args.threads}", f"-c{args.connections}", f"--timeout={args.timeout}s"),
    ]
    harness._wrk([*wrk, f"-d{args.warmup}s", url])
    before = Snapshot.take(server.pid, args.server_core, args.load_core)
    output = harness._wrk([*wrk, f"-d{args.duration}s", "--latency", url])
    after = Snapshot.take(server.pid, args.server_core, args.load_core)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if rps is None:
        raise RuntimeError(f"wrk printed no Requests/sec:\n{output}")
    p50, p99 = harness._latency_ms(output, "50"), harness._latency_ms(output, "99")
    return Measured(harness.Result(url, float(rps[1]), p50, p99), others(before, after))


def _table(rows: Sequence[Row]) -> str:
    lines = [
        f"{'target':<20} {'ours req/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'bare req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6} {'goal':>5}  result"
    ]
    for row in rows:
        ours, bare, goal = row.ours.result, row.bare.result, row.target.goal
        verdict = "-" if goal is None else ("met" if row.ratio >= goal else "MISSED")
        lines.append(
            f"{row.target.label:<20} {ours.rps:>10.0f} {ours.p50_ms:>8.2f} {ours.p99_ms:>8.2f} "
            f"{bare.rps:>10.0f} {bare.p50_ms:>8.2f} {bare.p99_ms:>8.2f} {row.ratio:>6.2f} "
            f"{'-' if goal is None else goal:>5}  {verdict}{row.note}"
        )
    return "\n".join(lines)


def _others_table(rows: Sequence[Row]) -> str:
    lines = [
        "% of a core taken by other processes while measured (server core / load core):",
        f"{'target':<20} {'ours':>11} {'bare':>11}",
    ]
    for row in rows:
        ours, bare = (
            f"{server:>5.0f} /{load:>4.0f}" for server, load in (row.ours.others, row.bare.others)
        )
        lines.append(f"{row.target.label:<20} {ours} {bare}")
    return "\n".join(lines)


def run(
    found: Sequence[Target], servers: Mapping[str, Served], token: str, args: argparse.Namespace
) -> list[Row]:
    """Measure every target on ours, then on the bare route, in turn.

    A pair during which other processes took more than ``--max-others`` percent of the
    server core is measured again (``--retries`` times at most); the pair they disturbed
    least is kept.
    """
    rows: list[Row] = []
    for target in found:
        pairs: list[Row] = []
        for attempt in range(args.retries + 1):
            ours = measure(servers[target.server], target.path(token), args)
            bare = measure(servers["bare"], target.bare_path(token), args)
            pairs.append(Row(target, ours, bare, f"  (try {attempt + 1})" if attempt else ""))
            if _disturbed(pairs[-1]) <= args.max_others:
                break
        rows.append(min(pairs, key=_disturbed))
    return rows


def _disturbed(row: Row) -> float:
    return max(row.ours.others[0], row.bare.others[0])


def _start_uncached(
    stack: ExitStack, project: Path, tmp: Path, args: argparse.Namespace
) -> Served | None:
    """Start the server without a response cache; None if this build has no such setting."""
    copy = tmp / "uncached"
    shutil.copytree(project, copy)
    with (copy / SETTINGS_FILE).open("a") as settings:
        settings.write(UNCACHED_SETTING)
    try:
        started = serving(_pinned(args, _ours(copy)), tmp / "uncached.err", "response_cache_mb")
        return stack.enter_context(started)
    except SettingRefusedError:
        return None


def _start_ours(
    stack: ExitStack, project: Path, tmp: Path, args: argparse.Namespace
) -> dict[str, Served]:
    """The default server (``cached``) and, if asked and known, the ``uncached`` one."""
    servers = {
        "cached": stack.enter_context(serving(_pinned(args, _ours(project)), tmp / "ours.err"))
    }
    uncached = _start_uncached(stack, project, tmp, args) if args.uncached_setting else None
    if uncached is not None:
        servers["uncached"] = uncached
    return servers


def _same_as_cached(rows: Sequence[Row]) -> list[Row]:
    """Add the uncached row as the cached one (a build without a response cache)."""
    found: list[Row] = []
    for row in rows:
        found.append(row)
        if row.target.key == "collection":
            target = Target(
                "uncached", "collection uncached", row.target.route, row.target.params, 0.2
            )
            found.append(Row(target, row.ours, row.bare, "  (same as cached)"))
    return found


def _report(
    rows: Sequence[Row],
    answers: Mapping[str, Answer],
    args: argparse.Namespace,
    notes: Sequence[str],
) -> None:
    sizes = ", ".join(f"{key} {len(answer.body)}" for key, answer in answers.items())
    harness._write(
        f"Reads at the ceiling: {args.entries} entries in the collection; answers (bytes): "
        f"{sizes}; uvicorn, servers on core {args.server_core}, wrk -t{args.threads} "
        f"-c{args.connections} on core {args.load_core}, {args.warmup}s warm-up + "
        f"{args.duration}s each"
    )
    harness._write(_table(rows))
    for line in notes:
        harness._write(line)
    where: dict[str, list[str]] = {}
    for key, answer in answers.items():
        for name in answer.extra:
            where.setdefault(name, []).append(key)
    extra = "; ".join(f"{name} ({', '.join(keys)})" for name, keys in sorted(where.items()))
    harness._write(f"headers only in our answers (etag, cache-control copied): {extra or 'none'}")
    harness._write(_others_table(rows))


def main(argv: Sequence[str] | None = None) -> int:
    """Build the project, measure every target beside its bare route, print the tables."""
    args = _parser().parse_args(argv)
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if missing:
        harness._write(f"missing: {', '.join(missing)} (apt-get install -y wrk util-linux)")
        return 1
    load_before = harness._load()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="flextype-bench-")))
        project = tmp / "site"
        token = make_project(project, args.entries)
        servers = _start_ours(stack, project, tmp, args)
        found = targets("uncached" in servers)
        answers = fetch_answers(servers, found, token)
        _check(answers, args.entries)
        routes = {key: BareRoute(a.body, a.content_type, a.headers) for key, a in answers.items()}
        bare = [sys.executable, ceiling_servers.__file__, str(write_manifest(tmp, routes))]
        servers["bare"] = stack.enter_context(serving(_pinned(args, bare), tmp / "bare.err"))
        rows = run(found, servers, token, args)
    notes = []
    if not args.uncached_setting:
        notes.append("uncached: not measured (--no-uncached-setting)")
    elif "uncached" not in servers:
        rows = _same_as_cached(rows)
        notes.append(_NO_CACHE)
    _report(rows, answers, args, notes)
    harness._write(f"load average (1/5/15 min) at start: {load_before}, at end: {harness._load()}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=10, help="seconds measured per target")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load before that")
    parser.add_argument("--entries", type=int, default=1000, help="entries in the collection")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--timeout", type=int, default=30, help="wrk's request timeout, seconds")
    parser.add_argument(
        "--max-others",
        type=float,
        default=20,
        help="percent of the server core other processes may take before a pair is re-measured",
    )
    parser.add_argument("--retries", type=int, default=2, help="re-measurements of a pair")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--load-core", type=int, default=1)
    parser.add_argument(
        "--uncached-setting",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure the collection on a second server with api.response_cache_mb: 0",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
