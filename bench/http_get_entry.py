"""Requests/s and p50/p99 of GET one entry through ``flextype serve`` against a bare Litestar app.

Every target runs under the same uvicorn settings (``flextype_entrypoints.serve.make_server``)
in the same run, the server pinned to one core and ``wrk`` to another. The bare app has one
route answering the same pre-encoded JSON bytes, so the ratio ours/bare is what the
Flextype stack (token check, entry read, encoding, counting) costs on top of Litestar +
uvicorn. ``--driver`` may be given several times (``--driver yaml --driver postgres``):
each driver's server is measured in turn, and the ratios to the first are printed. With
postgres, a private durable cluster is started and pinned to the load core, beside wrk
(the database is another host's work in production; here it must not take the server's
core).

    .venv/bin/python bench/http_get_entry.py [--duration 12] [--warmup 3] [--connections 32]

Needs ``wrk`` (``apt-get install -y wrk``) and ``taskset`` (util-linux).
"""

from __future__ import annotations

import argparse
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
from litestar import Litestar, Response, get

from flextype_entrypoints.scaffold import create_project
from flextype_entrypoints.serve import bind, make_server, url_for

# bench/ is not a package: import the cluster helper from beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pg_cluster import cluster

__all__ = ["Result", "main"]

BIN = Path(sys.executable).parent
ENTRY = "movies/dune"
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Result:
    """One target's figures."""

    name: str
    rps: float
    p50_ms: float
    p99_ms: float


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _latency_ms(output: str, percent: str) -> float:
    found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk printed no {percent}% latency:\n{output}")
    return float(found[1]) * _UNITS[found[2]]


def _wrk(argv: Sequence[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=True)  # noqa: S603
    if "Non-2xx" in done.stdout or "Socket errors" in done.stdout:
        raise RuntimeError(f"wrk saw errors:\n{done.stdout}")
    return done.stdout


def announced(stdout: IO[str], seconds: float) -> tuple[str | None, str]:
    """The URL a server prints first (``Serving on URL``), or None; and the line read."""
    ready, _, _ = select.select([stdout], [], [], seconds)
    line = stdout.readline() if ready else ""
    found = re.fullmatch(r"Serving on (\S+)\n", line)
    return (None if found is None else found[1]), line


@contextmanager
def _server(argv: Sequence[str]) -> Iterator[str]:
    """Run a server that prints ``Serving on URL`` first; yield the URL, then SIGTERM it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEXTYPE_")}
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env) as proc:  # noqa: S603
        try:
            assert proc.stdout is not None
            url, line = announced(proc.stdout, 30)
            if url is None:
                raise RuntimeError(f"server did not announce itself: {line!r}")
            yield url
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)


def _measure(name: str, server: Sequence[str], path: str, args: argparse.Namespace) -> Result:
    pinned = ["taskset", "-c", str(args.server_core), *server]
    with _server(pinned) as url:
        answer = httpx.get(url + path, timeout=10)
        answer.raise_for_status()
        wrk = [
            "taskset",
            "-c",
            str(args.load_core),
            "wrk",
            f"-t{args.threads}",
            f"-c{args.connections}",
        ]
        _wrk([*wrk, f"-d{args.warmup}s", url + path])
        output = _wrk([*wrk, f"-d{args.duration}s", "--latency", url + path])
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if rps is None:
        raise RuntimeError(f"wrk printed no Requests/sec:\n{output}")
    return Result(name, float(rps[1]), _latency_ms(output, "50"), _latency_ms(output, "99"))


def _serve_bare(body_file: Path) -> None:
    """Serve one route answering the bytes of ``body_file``, as ``flextype serve`` would."""
    body = body_file.read_bytes()

    @get("/api/entries", sync_to_thread=False)
    def entry() -> Response[bytes]:
        return Response(content=body, media_type="application/json")

    server = make_server(Litestar(route_handlers=[entry]))
    with bind("127.0.0.1", 0) as sock:
        _write(f"Serving on {url_for('127.0.0.1', sock)}")
        server.run(sockets=[sock])


def _db_placement(args: argparse.Namespace) -> str:
    core = args.load_core if args.db_core is None else args.db_core
    return ", postgres on any core" if core < 0 else f", postgres on core {core}"


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _table(results: Sequence[Result]) -> str:
    rows = [f"{'target':<18} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}"]
    rows += [f"{r.name:<18} {r.rps:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f}" for r in results]
    return "\n".join(rows)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=12, help="seconds measured per target")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load before that")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--load-core", type=int, default=1)
    parser.add_argument(
        "--driver",
        action="append",
        choices=["yaml", "tinydb", "postgres"],
        help="storage driver of flextype serve; repeat to compare (default: yaml)",
    )
    parser.add_argument(
        "--db-core", type=int, help="core of PostgreSQL (default: the load core; -1: any)"
    )
    parser.add_argument("--serve-bare", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run both targets and print the table and the ratio; return the exit code."""
    args = _parser().parse_args(argv)
    if args.serve_bare is not None:
        _serve_bare(args.serve_bare)
        return 0
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if missing:
        _write(f"missing: {', '.join(missing)} (apt-get install -y wrk util-linux)")
        return 1
    drivers: list[str] = args.driver or ["yaml"]
    load_before = _load()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="flextype-bench-")))
        url = None
        if "postgres" in drivers:
            core = args.load_core if args.db_core is None else args.db_core
            url = stack.enter_context(cluster(durable=True, core=core if core >= 0 else None)).url
        servers = {}
        for driver in drivers:
            project = tmp / driver
            postgres = {"url": url, "schema": "bench_get"} if driver == "postgres" else None
            token = create_project(project, driver=driver, postgres=postgres).token.token
            path = f"/api/entries?id={ENTRY}&token={token}"
            ours = [str(BIN / "flextype"), "serve", "--project", str(project), "--port", "0"]
            servers[driver] = (ours, path)
        ours, path = servers[drivers[0]]
        with _server(ours) as served:
            body = httpx.get(served + path, timeout=10).raise_for_status().content
        body_file = tmp / "body.json"
        body_file.write_bytes(body)
        bare = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(body_file)]
        results = [_measure(f"flextype {driver}", *servers[driver], args) for driver in drivers]
        results.append(_measure("bare litestar", bare, path, args))
    _write(
        f"GET {ENTRY} ({len(body)} bytes), uvicorn, server on core {args.server_core}, "
        f"wrk -t{args.threads} -c{args.connections} on core {args.load_core}"
        f"{_db_placement(args) if url else ''}, {args.warmup}s warm-up + {args.duration}s each; "
        f"load average (1/5/15 min) before: {load_before}, after: {_load()}"
    )
    _write(_table(results))
    for result in results[1:-1]:
        _write(
            f"ratio {result.name} / {results[0].name} (req/s): {result.rps / results[0].rps:.2f}"
        )
    for result in results[:-1]:
        _write(f"ratio {result.name} / bare (req/s): {result.rps / results[-1].rps:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
