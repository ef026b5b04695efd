"""A private durable PostgreSQL cluster for the benchmarks, optionally pinned to one core.

The cluster keeps PostgreSQL's durable defaults (fsync on, synchronous commit on):
``tests.postgres_cluster.PostgresCluster(durable=True)``. Pinning the postmaster and the
processes it has started to a core makes the backends it forks later inherit that core
(Linux copies the affinity on fork), so the server under test keeps its own core.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# bench/ scripts run as files: make the repository root importable for tests/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.postgres_cluster import PostgresCluster, find_bindir

__all__ = ["cluster", "pin_cluster"]


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text()
        found += [int(child) for child in text.split()]
    return found


def pin_cluster(running: PostgresCluster, core: int) -> None:
    """Pin the cluster's postmaster and its current processes to ``core``."""
    pid = int((running.data / "postmaster.pid").read_text().split()[0])
    for process in [pid, *_children(pid)]:
        os.sched_setaffinity(process, {core})


@contextmanager
def cluster(
    *, durable: bool = True, core: int | None = None, shared_buffers: str = "32MB"
) -> Iterator[PostgresCluster]:
    """Start a throw-away cluster (removed at the end); pinned to ``core`` if given."""
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL not found: apt-get install -y postgresql")
    with PostgresCluster(bindir, durable=durable, shared_buffers=shared_buffers) as running:
        running.start()
        if core is not None:
            pin_cluster(running, core)
        yield running
