"""Durable creates per second over HTTP: ``flextype serve`` on postgres beside yaml, same run.

Each driver's project is created fresh (demo content), its server started with the same
settings (``flextype serve --port 0``) and pinned to one core; ``wrk`` POSTs new entries
(``/api/entries``, a unique id per request, token and access token as basic auth) from
several connections on the other core. PostgreSQL runs a private cluster with its
durable defaults (fsync on, synchronous_commit on), pinned to the load core as well;
the YAML driver fsyncs every entry file and its folder. After each run the entries
created are counted in the store: every request wrk saw answered must be there.

    .venv/bin/python bench/http_writes.py [--duration 10] [--connections 8]

Needs ``wrk`` (``apt-get install -y wrk``) and ``taskset`` (util-linux).
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

# bench/ is not a package: import the HTTP harness from beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import http_get_entry as harness
from pg_cluster import cluster

from flextype_entrypoints.project import open_project
from flextype_entrypoints.scaffold import create_project

__all__ = ["main"]

_SCRIPT = """
local counter = 0
local prefix = "{prefix}"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic {auth}"
request = function()
  counter = counter + 1
  local body = '{{"id": "' .. prefix .. counter .. '", "data": {{"title": "Entry ' ..
    counter .. '", "n": ' .. counter .. ', "tags": ["a", "b"]}}}}'
  return wrk.format(nil, "/api/entries", nil, body)
end
"""


@dataclass(frozen=True)
class Result:
    """One driver's figures."""

    name: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    stored: int


def _run_wrk(url: str, script: Path, seconds: int, args: argparse.Namespace) -> str:
    return harness._wrk(
        [
            "taskset",
            "-c",
            str(args.load_core),
            "wrk",
            "-t1",
            f"-c{args.connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ]
    )


def _count(project: Path, folder: str) -> int:
    with open_project(project, environ={}) as opened:
        return len(opened.container.entry_store().descendants(folder, None))


def _measure(driver: str, project: Path, auth: str, args: argparse.Namespace) -> Result:
    server = ["taskset", "-c", str(args.server_core), str(harness.BIN / "flextype"), "serve"]
    server += ["--project", str(project), "--port", "0"]
    with tempfile.TemporaryDirectory() as tmp, harness._server(server) as url:
        warm, timed = Path(tmp) / "warm.lua", Path(tmp) / "timed.lua"
        warm.write_text(_SCRIPT.format(prefix="warm/e", auth=auth))
        timed.write_text(_SCRIPT.format(prefix="bench/e", auth=auth))
        _run_wrk(url, warm, args.warmup, args)
        output = _run_wrk(url, timed, args.duration, args)
    done = re.search(r"^\s+(\d+) requests in", output, re.MULTILINE)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if done is None or rps is None:
        raise RuntimeError(f"wrk printed no totals:\n{output}")
    return Result(
        name=f"flextype {driver}",
        requests=int(done[1]),
        rps=float(rps[1]),
        p50_ms=harness._latency_ms(output, "50"),
        p99_ms=harness._latency_ms(output, "99"),
        stored=_count(project, "bench"),
    )


def _all_kept(result: Result, connections: int) -> bool:
    """Tell whether every answered create is stored.

    wrk leaves out up to one request per connection still in flight at the end, which
    the server may have stored.
    """
    return result.requests <= result.stored <= result.requests + connections


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=10, help="seconds measured per driver")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of creates before that")
    parser.add_argument("--connections", type=int, default=8, help="concurrent clients")
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
    """Measure each driver in turn; print the table and the ratios to the first."""
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
            postgres = {"url": url, "schema": "bench_writes"} if driver == "postgres" else None
            issued = create_project(tmp / driver, driver=driver, postgres=postgres)
            secret = f"{issued.token.token}:{issued.access_token}".encode()
            auth = base64.b64encode(secret).decode()
            results.append(_measure(driver, tmp / driver, auth, args))
    harness._write(
        f"POST /api/entries (create, ~90 bytes of data), uvicorn, server on core "
        f"{args.server_core}, wrk -t1 -c{args.connections} on core {args.load_core}"
        f"{' (postgres too: fsync on, synchronous_commit on)' if url else ''}, "
        f"{args.warmup}s warm-up + {args.duration}s each; load average (1/5/15 min) "
        f"before: {load_before}, after: {harness._load()}"
    )
    harness._write(f"{'target':<18} {'creates/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'stored':>8}")
    for r in results:
        harness._write(
            f"{r.name:<18} {r.rps:>10.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.stored:>8}"
        )
        if not _all_kept(r, args.connections):
            harness._write(f"  !! {r.requests} answered, {r.stored} stored")
    for r in results[1:]:
        harness._write(f"ratio {r.name} / {results[0].name}: {r.rps / results[0].rps:.2f}")
    return 0 if all(_all_kept(r, args.connections) for r in results) else 1


if __name__ == "__main__":
    os.environ.pop("FLEXTYPE_STORAGE__DRIVER", None)
    sys.exit(main())
