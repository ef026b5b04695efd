"""Index build at start: every file parsed (no snapshot) vs a restart from the snapshot.

The YAML store builds its in-memory index on the first query after start. Run:
.venv/bin/python bench/index_start.py --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.query import generate, make_yaml_project

from flextype_adapters.index_snapshot import SNAPSHOT_FILE
from flextype_adapters.indexed_yaml_files import IndexedYamlFilesEntryStore


def _build_seconds(root: Path) -> float:
    store = IndexedYamlFilesEntryStore(root, sweep_interval=1e9)
    started = time.perf_counter()
    store.descendants("", None)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    sys.stdout.write("entries   no snapshot s   from snapshot s   ratio   snapshot MB\n")
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            project = Path(folder) / "p"
            make_yaml_project(project, generate(n))
            root = project / "entries"
            cold = _build_seconds(root)  # no snapshot yet: parses every file, writes one
            size = (root / SNAPSHOT_FILE).stat().st_size / 1e6
            warm = _build_seconds(root)
            (root / SNAPSHOT_FILE).unlink()
            cold_again = _build_seconds(root)
            cold = min(cold, cold_again)
            sys.stdout.write(
                f"{n:7d}   {cold:13.2f}   {warm:15.2f}   {cold / warm:5.1f}x   {size:11.1f}\n"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
