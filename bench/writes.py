"""Durable writes per second: creates and updates through EntriesService, on each driver.

Every write is fsync'd (file, then directory) before it returns, so this measures what
the disk allows more than Python. Run: .venv/bin/python bench/writes.py --writes 300
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from flextype_entrypoints.project import open_project


def measure(driver: str, writes: int, entries_before: int) -> tuple[float, float]:
    """Return (creates/s, updates/s) in a fresh project holding ``entries_before`` entries."""
    with (
        tempfile.TemporaryDirectory() as folder,
        open_project(Path(folder), driver=driver, environ={}) as project,
    ):
        service = project.entries
        for n in range(entries_before):
            service.create(f"filler/e{n}", {"n": n})
        started = time.perf_counter()
        for n in range(writes):
            service.create(f"bench/e{n}", {"title": f"Entry {n}", "n": n})
        creates = writes / (time.perf_counter() - started)
        started = time.perf_counter()
        for n in range(writes):
            service.update(f"bench/e{n % 50}", {"n": n})
        updates = writes / (time.perf_counter() - started)
    return creates, updates


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--before", type=int, default=1000, help="entries already stored")
    args = parser.parse_args()
    _out(f"{args.writes} creates then {args.writes} updates, {args.before} entries stored before")
    _out(f"{'driver':10} {'creates/s':>10} {'updates/s':>10}")
    for driver in ("yaml", "tinydb"):
        creates, updates = measure(driver, args.writes, args.before)
        _out(f"{driver:10} {creates:10.0f} {updates:10.0f}")


if __name__ == "__main__":
    main()
