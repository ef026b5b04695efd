"""Entries per second of ``flextype export``, ``import`` and ``migrate`` on each driver.

A YAML project and a TinyDB project each get N generated movies (``bench/query.py``'s
generator; files written directly for YAML, one batch ``create`` for TinyDB) plus the
first token, and optionally some media files of random bytes. Then, in one run, each
step is timed in process, as the commands run it (no progress bars):

- ``export <driver>``: ``export_to_path`` of the project to a .tar.gz;
- ``import -> <driver>``: ``import_archive`` of the YAML project's archive into a new
  empty project of that driver (creating it is not timed);
- ``migrate a -> b``: ``migrate_project`` of a fresh copy of the project (the copy is
  not timed), which copies, reads back and compares, then switches the driver;

against a baseline of the same run: ``tar.gz`` (Python's ``tarfile``, the same gzip
level) of the YAML project's ``entries/`` folder and its extraction, i.e. what moving
the files costs without reading them as entries.

    .venv/bin/python bench/transfer.py [--entries 10000] [--repeats 3] [--media-files 0]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# bench/ is not a package: import the data generator from beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import query

from flextype_adapters.local_media import TempUpload
from flextype_entrypoints.project import open_project
from flextype_entrypoints.scaffold import create_project
from flextype_entrypoints.transfer import (
    export_to_path,
    import_archive,
    migrate_project,
)
from flextype_entrypoints.transfer.progress import NoBars

__all__ = ["main"]


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _add_media(project: Path, files: int, size: int) -> None:
    with open_project(project) as opened:
        uploads = project / "media" / ".uploads"
        uploads.mkdir(parents=True, exist_ok=True)
        for n in range(files):
            temp = uploads / f"bench-{n}"
            temp.write_bytes(os.urandom(size))
            opened.container.media_store().add_file(
                f"bench/file-{n}.bin", TempUpload(temp, size), {"title": f"file {n}"}, replace=False
            )


def _time(repeats: int, prepare: Callable[[int], None], run: Callable[[int], None]) -> float:
    """Return the median seconds of ``run(i)`` over ``repeats``, each after ``prepare(i)``."""
    seconds = []
    for i in range(repeats):
        prepare(i)
        started = time.perf_counter()
        run(i)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def _nothing(i: int) -> None:
    del i


def _tar(source: Path, target: Path) -> None:
    with tarfile.open(target, "w:gz", compresslevel=6) as tar:
        tar.add(source, arcname="entries")


def _untar(source: Path, target: Path) -> None:
    with tarfile.open(source, "r:gz") as tar:
        tar.extractall(target, filter="data")


def measure(n: int, repeats: int, media_files: int, media_size: int, tmp: Path) -> list[str]:
    entries = query.generate(n)
    yaml_project, tinydb_project = tmp / "yaml", tmp / "tinydb"
    query.make_yaml_project(yaml_project, entries)
    query.make_tinydb_project(tinydb_project, entries)
    for project in (yaml_project, tinydb_project):
        _add_media(project, media_files, media_size)
    total = n + 1  # the generator's entries and their parent
    rows: list[tuple[str, float]] = []
    archives = {d: tmp / f"{d}.tar.gz" for d in ("yaml", "tinydb")}

    for driver, project in (("yaml", yaml_project), ("tinydb", tinydb_project)):

        def export(i: int, project: Path = project, driver: str = driver) -> None:
            with open_project(project) as opened:
                export_to_path(opened, archives[driver], NoBars())

        rows.append((f"export {driver}", _time(repeats, _nothing, export)))

    for driver in ("yaml", "tinydb"):
        targets = [tmp / f"import-{driver}-{i}" for i in range(repeats)]

        def fresh(i: int, targets: list[Path] = targets, driver: str = driver) -> None:
            create_project(targets[i], driver=driver, demo=False)

        def load(i: int, targets: list[Path] = targets) -> None:
            with archives["yaml"].open("rb") as source:
                import_archive(targets[i], source, replace=False, bars=NoBars())

        rows.append((f"import -> {driver}", _time(repeats, fresh, load)))

    for source_driver, target_driver, project in (
        ("yaml", "tinydb", yaml_project),
        ("tinydb", "yaml", tinydb_project),
    ):
        copies = [tmp / f"migrate-{source_driver}-{i}" for i in range(repeats)]

        def copy(i: int, copies: list[Path] = copies, project: Path = project) -> None:
            shutil.copytree(project, copies[i])

        def migrate(i: int, copies: list[Path] = copies, target: str = target_driver) -> None:
            migrate_project(copies[i], target, replace=False, delete_source=False, bars=NoBars())

        rows.append((f"migrate {source_driver} -> {target_driver}", _time(repeats, copy, migrate)))

    naive = tmp / "naive.tar.gz"
    rows.append(
        (
            "baseline tar.gz",
            _time(repeats, _nothing, lambda i: _tar(yaml_project / "entries", naive)),
        )
    )
    rows.append(
        (
            "baseline untar",
            _time(repeats, _nothing, lambda i: _untar(naive, tmp / f"untar-{i}")),
        )
    )
    media_mb = media_files * media_size / 1e6
    lines = [
        f"{n} entries (+1 parent), 1 token, {media_files} media files of {media_size} bytes; "
        f"median of {repeats}; archive {archives['yaml'].stat().st_size / 1e6:.1f} MB",
        f"{'step':24} {'seconds':>8} {'entries/s':>10}"
        + (f" {'media MB/s':>10}" if media_mb else ""),
    ]
    for name, seconds in rows:
        line = f"{name:24} {seconds:8.2f} {total / seconds:10.0f}"
        if media_mb:
            line += (
                f" {media_mb / seconds:10.1f}"
                if not name.startswith(("migrate", "baseline"))
                else f" {'-':>10}"
            )
        lines.append(line)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--media-files", type=int, default=0)
    parser.add_argument("--media-size", type=int, default=5_000_000, help="bytes per media file")
    args = parser.parse_args()
    env_driver = os.environ.pop("FLEXTYPE_STORAGE__DRIVER", None)
    del env_driver  # the projects name their own driver
    with tempfile.TemporaryDirectory() as folder:
        for line in measure(
            args.entries, args.repeats, args.media_files, args.media_size, Path(folder)
        ):
            _write(line)


if __name__ == "__main__":
    main()
