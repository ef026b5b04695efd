"""Entries/s of ``flextype migrate --to postgres`` from a YAML project, beside its baselines.

A YAML project gets N generated movies (``bench/query.py``'s generator, files written
directly) and its first token. Each repeat migrates a fresh copy of it (the copy is not
timed), in process as the command runs it (``migrate_project``: read, copy in one
transaction, read back and compare, switch), into a private PostgreSQL cluster with its
durable defaults (fsync on, synchronous_commit on), each repeat into a schema of its
own. Beside it, in the same run:

- ``migrate yaml -> tinydb`` of the same project (the file-to-file move);
- ``read yaml (CSafeLoader)``: parsing every ``entry.yaml`` with PyYAML's C loader in
  one process, what a naive reader of the source spends before writing anything.

    .venv/bin/python bench/migrate_postgres.py [--entries 100000] [--repeats 3] [--bars]

``--bars`` shows the command's progress bars (rich, on stderr) while timing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

# bench/ is not a package: import the generator and the cluster from beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import query
from pg_cluster import cluster

from flextype_entrypoints.transfer import migrate_project
from flextype_entrypoints.transfer.progress import Bars, NoBars, ProgressBars

__all__ = ["main"]


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _time(repeats: int, prepare: Callable[[int], None], run: Callable[[int], None]) -> float:
    seconds = []
    for i in range(repeats):
        prepare(i)
        started = time.perf_counter()
        run(i)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def _read_all(root: Path) -> int:
    count = 0
    for folder, _, files in os.walk(root):
        if "entry.yaml" in files:
            yaml.load((Path(folder) / "entry.yaml").read_bytes(), Loader=yaml.CSafeLoader)
            count += 1
    return count


def _bars(show: bool) -> ProgressBars:
    return Bars(sys.stderr) if show else NoBars()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bars", action="store_true", help="show the progress bars")
    parser.add_argument("--no-tinydb", action="store_true", help="skip migrate -> tinydb")
    args = parser.parse_args()
    os.environ.pop("FLEXTYPE_STORAGE__DRIVER", None)
    load_before = _load()
    total = args.entries + 1  # the generator's entries and their parent
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as folder, cluster(durable=True) as running:
        tmp = Path(folder)
        source = tmp / "yaml"
        query.make_yaml_project(source, query.generate(args.entries))
        copies = [tmp / f"copy-{i}" for i in range(args.repeats)]

        def copy(i: int) -> None:
            shutil.rmtree(copies[i], ignore_errors=True)
            shutil.copytree(source, copies[i])

        def to_postgres(i: int) -> None:
            os.environ["FLEXTYPE_STORAGE__POSTGRES__SCHEMA"] = f"bench_migrate_{i}"
            try:
                with _bars(args.bars) as bars:
                    migrate_project(
                        copies[i],
                        "postgres",
                        replace=False,
                        delete_source=False,
                        bars=bars,
                        database_url=running.url,
                    )
            finally:
                del os.environ["FLEXTYPE_STORAGE__POSTGRES__SCHEMA"]

        def to_tinydb(i: int) -> None:
            with _bars(args.bars) as bars:
                migrate_project(copies[i], "tinydb", replace=False, delete_source=False, bars=bars)

        rows.append(("migrate yaml -> postgres", _time(args.repeats, copy, to_postgres)))
        if not args.no_tinydb:
            rows.append(("migrate yaml -> tinydb", _time(args.repeats, copy, to_tinydb)))
        rows.append(
            (
                "read yaml (CSafeLoader)",
                _time(args.repeats, lambda i: None, lambda i: _read_all(source / "entries")),
            )
        )
    _write(
        f"{args.entries} entries (+1 parent), 1 token; median of {args.repeats}; "
        f"postgres fsync on, synchronous_commit on; {os.cpu_count()} cores; "
        f"load average (1/5/15 min) before: {load_before}, after: {_load()}"
    )
    _write(f"{'step':26} {'seconds':>8} {'entries/s':>10}")
    for name, seconds in rows:
        _write(f"{name:26} {seconds:8.2f} {total / seconds:10.0f}")


if __name__ == "__main__":
    main()
