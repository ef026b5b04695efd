"""Unrelated GETs while a big entry is written and read, through a real ``flextype serve``.

Two prober processes send sequential keep-alive GETs, one of ``movies/dune``, one of
the ``movies`` collection (``--no-collection``: none, so the YAML index is never built),
and record each request's start and end. Meanwhile this process, after a quiet
baseline, creates a big entry (a list of numbers, ``--numbers`` of them), reads it
twice, updates one small field and reads it again, ``--rounds`` times. The probers'
requests are then split by time: those inside the quiet window (baseline) and those
overlapping the big entry's requests (during); p50/p99/max of each are printed, with
the big requests' own times. Small writes are timed before and after the big entries
are stored (TinyDB rewrites its whole file on each write). See bench/README.md.

    .venv/bin/python bench/big_entry.py [--driver yaml] [--numbers 1000000] [--rounds 2]

``--max-entry-size N`` writes ``api.max_entry_size: N`` into the project's settings
(needed to store an entry over the default limit). Needs ``taskset`` (util-linux).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

# bench/ is not a package: import the HTTP harness from beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import http_get_entry as harness

from flextype_entrypoints.scaffold import create_project

__all__ = ["main"]

PROBED = "movies/dune"
PROBED_COLLECTION = "movies"
TIMEOUT = 120.0


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _probe(url: str, token: str, kind: int) -> None:
    """GET one entry (kind 0) or a collection (1) until stdin closes; print the samples.

    The samples: ``[[kind, start, end, status], ...]``.
    """
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    samples: list[tuple[int, float, float, int]] = []
    params = [
        {"id": PROBED, "token": token},
        {"id": PROBED_COLLECTION, "options[collection]": "true", "token": token},
    ][kind]
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        client.get("/api/entries", params=params).raise_for_status()
        _out("ready")
        while not stop.is_set():
            started = time.monotonic()
            status = client.get("/api/entries", params=params).status_code
            samples.append((kind, started, time.monotonic(), status))
    _out(json.dumps(samples))


def _stats(latencies_ms: Sequence[float]) -> str:
    if not latencies_ms:
        return f"{0:>6} {'-':>8} {'-':>8} {'-':>8}"
    ordered = sorted(latencies_ms)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"{len(ordered):>6} {statistics.median(ordered):>8.2f} {p99:>8.2f} {ordered[-1]:>8.2f}"


class _Timer:
    """The big requests' own durations, by name."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, int, float]] = []

    def run(self, name: str, send: httpx.Client, method: str, **kwargs: object) -> None:
        started = time.monotonic()
        answer = send.request(method, "/api/entries", **kwargs)  # type: ignore[arg-type]
        self.rows.append((name, answer.status_code, time.monotonic() - started))
        if answer.status_code != 200:
            _out(f"{name}: {answer.status_code} {answer.text[:300]}")


def _small_writes(client: httpx.Client, auth: dict[str, str], prefix: str, count: int) -> float:
    """Create ``count`` small entries; return the mean time of one, in ms."""
    started = time.monotonic()
    for n in range(count):
        body = {"id": f"{prefix}/e{n}", "data": {"title": f"Small {n}"}, **auth}
        client.post("/api/entries", json=body).raise_for_status()
    return (time.monotonic() - started) * 1000 / count


def _big_round(client: httpx.Client, auth: dict[str, str], body: bytes, n: int, t: _Timer) -> None:
    entry = f"big/e{n}"
    json_body = {"content": body.replace(b"@ID@", entry.encode())}
    t.run("create", client, "POST", headers={"content-type": "application/json"}, **json_body)
    read = {"params": {"id": entry, "token": auth["token"]}}
    t.run("read (first)", client, "GET", **read)
    t.run("read (again)", client, "GET", **read)
    t.run("update 1 field", client, "PATCH", json={"id": entry, "data": {"n": n}, **auth})
    t.run("read (updated)", client, "GET", **read)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--driver", choices=["yaml", "tinydb"], default="yaml")
    parser.add_argument("--numbers", type=int, default=1_000_000, help="list items of the entry")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", type=float, default=5.0, help="quiet seconds measured")
    parser.add_argument("--small-writes", type=int, default=20)
    parser.add_argument(
        "--no-collection", action="store_true", help="no collection query (no YAML index)"
    )
    parser.add_argument("--max-entry-size", type=int, help="api.max_entry_size to set")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--load-core", type=int, default=1)
    parser.add_argument("--probe", nargs=3, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scenario and print the figures; return the exit code."""
    args = _parser().parse_args(argv)
    if args.probe is not None:
        _probe(args.probe[0], args.probe[1], int(args.probe[2]))
        return 0
    with tempfile.TemporaryDirectory(prefix="flextype-bench-") as tmp:
        project = Path(tmp) / "site"
        issued = create_project(project, driver=args.driver)
        if args.max_entry_size is not None:
            with (project / "flextype.yaml").open("a", encoding="utf-8") as settings:
                settings.write(f"\napi:\n  max_entry_size: {args.max_entry_size}\n")
        auth = {"token": issued.token.token, "access_token": issued.access_token}
        numbers = ",".join(str(n % 10) for n in range(args.numbers))
        # Built as text: the id is filled in per round, and no encoder runs while timed.
        body = json.dumps({"id": "@ID@", **auth, "data": {"numbers": "@NUMBERS@"}}).encode()
        body = body.replace(b'"@NUMBERS@"', f"[{numbers}]".encode())
        serve = [str(harness.BIN / "flextype"), "serve", "--project", str(project)]
        pinned = ["taskset", "-c", str(args.server_core), *serve, "--port", "0"]
        with harness._server(pinned) as url, httpx.Client(base_url=url, timeout=TIMEOUT) as client:
            small_before = _small_writes(client, auth, "small/before", args.small_writes)
            samples, timer, windows = _scenario(url, client, auth, body, args)
            small_after = _small_writes(client, auth, "small/after", args.small_writes)
    _report(args, len(body), samples, timer, windows, (small_before, small_after))
    return 0


def _scenario(
    url: str, client: httpx.Client, auth: dict[str, str], body: bytes, args: argparse.Namespace
) -> tuple[list[tuple[int, float, float, int]], _Timer, tuple[float, float, float, float]]:
    kinds = (0,) if args.no_collection else (0, 1)
    if not args.no_collection:
        # The first collection query builds the YAML index: before any prober starts.
        query = {"id": PROBED_COLLECTION, "options[collection]": "true", "token": auth["token"]}
        client.get("/api/entries", params=query).raise_for_status()
    timer = _Timer()
    with contextlib.ExitStack() as stack:
        probers = []
        for kind in kinds:
            argv = [sys.executable, str(Path(__file__).resolve()), "--probe", url, auth["token"]]
            pinned = ["taskset", "-c", str(args.load_core), *argv, str(kind)]
            proc = stack.enter_context(
                subprocess.Popen(pinned, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # noqa: S603
            )
            assert proc.stdin is not None and proc.stdout is not None
            if proc.stdout.readline() != "ready\n":
                raise RuntimeError("a prober did not start")
            probers.append(proc)
        quiet_start = time.monotonic()
        time.sleep(args.baseline)
        quiet_end = busy_start = time.monotonic()
        for n in range(args.rounds):
            _big_round(client, auth, body, n, timer)
        busy_end = time.monotonic()
        samples: list[tuple[int, float, float, int]] = []
        for proc in probers:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.close()
            samples += [tuple(s) for s in json.loads(proc.stdout.readline())]  # type: ignore[misc]
    return samples, timer, (quiet_start, quiet_end, busy_start, busy_end)


def _report(
    args: argparse.Namespace,
    body_size: int,
    samples: list[tuple[int, float, float, int]],
    timer: _Timer,
    windows: tuple[float, float, float, float],
    small: tuple[float, float],
) -> None:
    quiet_start, quiet_end, busy_start, busy_end = windows
    bad = [s for s in samples if s[3] != 200]
    _out(
        f"{args.driver} driver, entry of {args.numbers} numbers ({body_size} bytes of JSON "
        f"body), {args.rounds} rounds, server on core {args.server_core}, clients on core "
        f"{args.load_core}"
    )
    _out(f"{'unrelated GETs':<40} {'count':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    names = (PROBED, f"{PROBED_COLLECTION} (collection)")
    for kind, name in enumerate(names[:1] if args.no_collection else names):
        quiet = [
            (e - s) * 1000
            for k, s, e, _ in samples
            if k == kind and s >= quiet_start and e <= quiet_end
        ]
        busy = [
            (e - s) * 1000
            for k, s, e, _ in samples
            if k == kind and e >= busy_start and s <= busy_end
        ]
        _out(f"{name + ', baseline':<40} {_stats(quiet)}")
        _out(f"{name + ', during big entry activity':<40} {_stats(busy)}")
    if bad:
        _out(f"unrelated GETs not answered 200: {len(bad)}")
    _out("big entry requests       status  seconds")
    for name, status, seconds in timer.rows:
        _out(f"  {name:<22} {status:>6} {seconds:>8.2f}")
    _out(
        f"small create, mean ms: {small[0]:.1f} before the big entries, "
        f"{small[1]:.1f} with them stored"
    )


if __name__ == "__main__":
    sys.exit(main())
