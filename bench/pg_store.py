"""The PostgreSQL stores in process, beside the YAML files store, on a durable private cluster.

Starts a throw-away cluster with PostgreSQL's durable defaults (fsync on, synchronous
commit on), then measures creates, updates, gets, bulk creates and token spends per
second through the stores themselves (no HTTP). Run from the repository root:

    .venv/bin/python -m bench.pg_store --writes 2000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.postgres_cluster import PostgresCluster, find_bindir

from flextype_adapters.postgres.database import PostgresDatabase
from flextype_adapters.postgres.entries import PostgresEntryStore
from flextype_adapters.postgres.tokens import PostgresTokenStore
from flextype_adapters.yaml_files import YamlFilesEntryStore
from flextype_core.model import Token
from flextype_core.ports import EntryStore


def _rate(count: int, work: Callable[[int], None], threads: int = 1) -> float:
    """Run ``work(i)`` for i in range(count), split over ``threads``; return calls/s."""
    parts = [range(t, count, threads) for t in range(threads)]
    runners = [threading.Thread(target=lambda p=p: [work(i) for i in p]) for p in parts]
    started = time.perf_counter()
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    return count / (time.perf_counter() - started)


def _entry_rates(store: EntryStore, writes: int, tag: str) -> dict[str, float]:
    return {
        "create": _rate(writes, lambda i: store.create({f"{tag}/a/e{i}": {"n": i, "t": "x"}})),
        "create x4 threads": _rate(
            writes, lambda i: store.create({f"{tag}/b/e{i}": {"n": i}}), threads=4
        ),
        "update": _rate(
            writes, lambda i: store.update(f"{tag}/a/e{i % 50}", lambda f: {**f, "n": i})
        ),
        "get": _rate(writes, lambda i: store.get(f"{tag}/a/e{i % 50}") and None),
        "bulk create (1000 a call)": _rate(
            writes * 10,
            lambda i: (
                None
                if i % 1000
                else store.create({f"{tag}/c/e{i + j}": {"n": j} for j in range(1000)})
            ),
        ),
    }


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=2000)
    args = parser.parse_args()
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL not found: apt-get install postgresql")
    with PostgresCluster(bindir, durable=True) as cluster, tempfile.TemporaryDirectory() as tmp:
        cluster.start()
        db = PostgresDatabase(cluster.url, pool_size=8)
        db.migrate()
        settings = db.run(
            lambda tx: tx.execute(
                "SELECT current_setting('fsync'), current_setting('synchronous_commit')"
            ).fetchone()
        )
        _out(f"{args.writes} operations each; fsync={settings[0]} synchronous_commit={settings[1]}")
        pg = _entry_rates(PostgresEntryStore(db), args.writes, "pg")
        yaml = _entry_rates(YamlFilesEntryStore(root=Path(tmp) / "entries"), args.writes, "y")
        _out(f"{'operation':28} {'postgres/s':>11} {'yaml/s':>10}")
        for name, rate in pg.items():
            _out(f"{name:28} {rate:11.0f} {yaml[name]:10.0f}")
        tokens = PostgresTokenStore(db)
        tokens.create(
            Token(
                token="bench-token-00001",  # noqa: S106 - an id, not a secret
                hashed_access_token="$2b$04$" + "x" * 53,
                uuid="6f1c2a52-0b7e-4c8e-9a51-3f3d5a0d2b11",
                created_at=1,
                modified_at=1,
                limit_calls=10**9,
            )
        )
        spends = _rate(args.writes, lambda i: tokens.spend("bench-token-00001", i) and None, 4)
        _out(f"{'token spend x4 threads':28} {spends:11.0f}")
        db.close()


if __name__ == "__main__":
    main()
