"""What a call limit costs: calls/s of a token with ``limit_calls`` against one without.

A limited token is spent in the store at every call (an fsync'd write under the store's
lock, so the limit holds across workers); an unlimited one is counted in memory and
flushed in batches. Two measurements per driver, each token in turn, in the same run:

- in process: ``TokensService.verify`` over the project's real token store, one thread;
- over HTTP: ``GET /api/entries?id=movies/dune`` through ``flextype serve`` (pinned to
  core 0 when ``taskset`` exists), from ``--clients`` threads with keep-alive
  connections (pinned to core 1).

    .venv/bin/python bench/token_limits.py [--seconds 5] [--clients 4] [--workers 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import httpx

# bench/ is not a package: import the HTTP harness from beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import http_get_entry as harness

from flextype_entrypoints.project import open_project
from flextype_entrypoints.scaffold import create_project

__all__ = ["main"]

_LIMIT = 10**9
"""The limited token's limit: never reached here, so every call is a spend."""


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _rate(call: Callable[[], object], seconds: float) -> tuple[float, float]:
    """Call repeatedly for ``seconds``; return (calls/s, median ms per call)."""
    took: list[float] = []
    end = time.perf_counter() + seconds
    while (start := time.perf_counter()) < end:
        call()
        took.append(time.perf_counter() - start)
    return len(took) / sum(took), statistics.median(took) * 1000


def _in_process(project: Path, tokens: dict[str, str], seconds: float) -> dict[str, float]:
    rates = {}
    with open_project(project) as opened:
        service = opened.tokens
        for name, token in tokens.items():
            verify = partial(service.verify, token, None, "entries", write=False)
            rates[name], _ = _rate(verify, seconds)
    return rates


def _over_http(url: str, token: str, clients: int, seconds: float) -> tuple[float, float]:
    path = f"{url}/api/entries?id={harness.ENTRY}&token={token}"
    results: list[tuple[int, list[float]]] = []
    start = threading.Barrier(clients)

    def client() -> None:
        took: list[float] = []
        with httpx.Client(timeout=30) as http:
            http.get(path).raise_for_status()  # connect outside the measured time
            start.wait()
            end = time.perf_counter() + seconds
            while (begin := time.perf_counter()) < end:
                http.get(path).raise_for_status()
                took.append(time.perf_counter() - begin)
        results.append((len(took), took))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [t for _, ts in results for t in ts]
    return sum(n for n, _ in results) / seconds, statistics.median(every) * 1000


def _measure(driver: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="flextype-bench-") as tmp:
        project = Path(tmp) / "site"
        create_project(project, driver=driver)
        with open_project(project) as opened:
            tokens = {
                "unlimited": opened.tokens.create({"title": "unlimited"}).token.token,
                "limited": opened.tokens.create({"limit_calls": _LIMIT}).token.token,
            }
        local = _in_process(project, tokens, args.seconds)
        pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
        serve = [str(harness.BIN / "flextype"), "serve", "--project", str(project), "--port", "0"]
        serve += ["--workers", str(args.workers)]
        if pin:
            os.sched_setaffinity(0, {1})  # the clients: the other core
        with harness._server([*pin, *serve]) as url:
            remote = {n: _over_http(url, t, args.clients, args.seconds) for n, t in tokens.items()}
        if pin:
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    for name in tokens:
        rps, p50 = remote[name]
        _write(f"{driver:<7} {name:<10} {local[name]:>12.0f} {rps:>10.0f} {p50:>8.2f}")


def main(argv: Sequence[str] | None = None) -> int:
    """Measure both drivers and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0, help="per token and target")
    parser.add_argument("--clients", type=int, default=4, help="HTTP client threads")
    parser.add_argument("--workers", type=int, default=1, help="flextype serve --workers")
    parser.add_argument("--driver", choices=["yaml", "tinydb"], action="append")
    args = parser.parse_args(argv)
    _write(
        f"{args.seconds:g}s per token and target; HTTP: {args.clients} keep-alive clients, "
        f"--workers {args.workers}"
    )
    _write(f"{'driver':<7} {'token':<10} {'verify/s':>12} {'HTTP req/s':>10} {'p50 ms':>8}")
    for driver in args.driver or ["yaml", "tinydb"]:
        _measure(driver, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
