"""Change-feed latency: a write answered -> the long poll waiting for it answers (p50, p99).

For each driver, a fresh project's ``flextype serve`` (pinned to one core) is followed by
a client that holds a long poll (``GET /api/changes?since=C&wait=30``) while another
client creates an entry (``POST /api/entries``). Figures per round, in the same run:

- ``write``: the create's own round trip (sent -> answered), the baseline;
- ``feed``: the create sent -> the long poll answered with its change.

So ``feed - write`` is what the feed adds on top of the write. Before each write the
poll is given time to reach the server (``--settle`` ms): a bench, not a test. The
PostgreSQL cluster is private, durable, and pinned to the load core.

    .venv/bin/python bench/feed_latency.py [--rounds 200] [--driver yaml --driver postgres]
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import http_get_entry as harness
from pg_cluster import cluster

from flextype_entrypoints.scaffold import create_project

__all__ = ["main"]


@dataclass(frozen=True)
class Result:
    """One driver's figures, in milliseconds."""

    name: str
    write_p50: float
    write_p99: float
    feed_p50: float
    feed_p99: float


def _percentile(values: Sequence[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(percent / 100 * (len(ordered) - 1)))]


def _round(
    url: str, token: str, auth: dict[str, str], cursor: str, n: int, settle: float
) -> tuple[float, float, str]:
    answered: dict[str, object] = {}

    def poll() -> None:
        with httpx.Client(timeout=40) as client:
            page = client.get(
                f"{url}/api/changes",
                params={"since": cursor, "wait": "30", "token": token, "types": "entry"},
            )
            answered["at"] = time.perf_counter()
            answered["page"] = page.json()

    waiter = threading.Thread(target=poll)
    waiter.start()
    time.sleep(settle)
    with httpx.Client(timeout=30) as client:
        sent = time.perf_counter()
        created = client.post(
            f"{url}/api/entries",
            json={"id": f"bench/e{n}", "data": {"title": f"Entry {n}"}},
            headers=auth,
        )
        done = time.perf_counter()
    created.raise_for_status()
    waiter.join(40)
    page = answered.get("page")
    if not isinstance(page, dict) or not page.get("data"):
        raise RuntimeError(f"the long poll answered no change: {page!r}")
    if page["data"][0]["id"] != f"bench/e{n}":
        raise RuntimeError(f"the long poll answered another change: {page!r}")
    at = answered["at"]
    assert isinstance(at, float)
    return (done - sent) * 1000, (at - sent) * 1000, str(page["meta"]["next"])


def _measure(driver: str, project: Path, token: str, auth: str, args: argparse.Namespace) -> Result:
    server = ["taskset", "-c", str(args.server_core), str(harness.BIN / "flextype"), "serve"]
    server += ["--project", str(project), "--port", "0"]
    headers = {"Authorization": f"Basic {auth}"}
    writes: list[float] = []
    feeds: list[float] = []
    with harness._server(server) as url:
        head = httpx.get(f"{url}/api/changes", params={"since": "now", "token": token}, timeout=10)
        head.raise_for_status()
        cursor = str(head.json()["meta"]["next"])
        for n in range(args.warmup + args.rounds):
            write, feed, cursor = _round(url, token, headers, cursor, n, args.settle / 1000)
            if n >= args.warmup:
                writes.append(write)
                feeds.append(feed)
    return Result(
        name=f"flextype {driver}",
        write_p50=statistics.median(writes),
        write_p99=_percentile(writes, 99),
        feed_p50=statistics.median(feeds),
        feed_p99=_percentile(feeds, 99),
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=200, help="measured writes per driver")
    parser.add_argument("--warmup", type=int, default=20, help="writes before those")
    parser.add_argument("--settle", type=float, default=30.0, help="ms a poll gets to arrive")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--load-core", type=int, default=1)
    parser.add_argument(
        "--driver",
        action="append",
        choices=["yaml", "tinydb", "postgres"],
        help="repeat to compare (default: --driver yaml --driver postgres)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Measure each driver in turn and print the table."""
    args = _parser().parse_args(argv)
    drivers: list[str] = args.driver or ["yaml", "postgres"]
    load_before = harness._load()
    results = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="flextype-bench-")))
        url = None
        if "postgres" in drivers:
            url = stack.enter_context(cluster(durable=True, core=args.load_core)).url
        for driver in drivers:
            postgres = {"url": url, "schema": "bench_feed"} if driver == "postgres" else None
            issued = create_project(tmp / driver, driver=driver, postgres=postgres)
            secret = f"{issued.token.token}:{issued.access_token}".encode()
            auth = base64.b64encode(secret).decode()
            results.append(_measure(driver, tmp / driver, issued.token.token, auth, args))
    harness._write(
        f"create -> long poll answered, {args.rounds} rounds after {args.warmup}, server on "
        f"core {args.server_core}; load average (1/5/15 min) before: {load_before}, "
        f"after: {harness._load()}"
    )
    harness._write(
        f"{'target':<18} {'write p50':>10} {'write p99':>10} {'feed p50':>9} {'feed p99':>9}"
    )
    for r in results:
        harness._write(
            f"{r.name:<18} {r.write_p50:>10.2f} {r.write_p99:>10.2f} "
            f"{r.feed_p50:>9.2f} {r.feed_p99:>9.2f}"
        )
    return 0


if __name__ == "__main__":
    os.environ.pop("FLEXTYPE_STORAGE__DRIVER", None)
    sys.exit(main())
