"""The collection query over HTTP on 100k entries: ``flextype serve`` on postgres beside yaml.

One run, the same data in two projects (``bench/postgres_query.py``'s generator:
``category`` of 10 values, ``year``, ``title``, ``rating``): a YAML project (files written
directly; the server builds its index on the first query, untimed) and a postgres
project on a private durable cluster (``storage.postgres.indexes: [category, year]``,
rows created through the store, then VACUUM ANALYZE as autovacuum would leave them).
Each project's ``flextype serve --port 0`` is pinned to one core (PostgreSQL to the
other, with the client), and answers, after a warm-up, ``--repeats`` sequential
keep-alive GETs of

    /api/entries?id=movies&options[collection]=true
        &options[filter][where][0][key]=category&...[operator]=eq&...[value]=category-3
        &options[filter][sort_by][key]=year&options[filter][limit]=10&token=T

timed by the client (wall time per request). Both must answer the same 10 ids and total.
Two rounds: ``warm``, the same query again and again (the YAML driver answers from its
index kept per version, PostgreSQL from the answer it keeps while no entry changes);
``after a write``, each timed query preceded by an untimed PATCH of another entry
(``scratch``), so neither may reuse what it kept: PostgreSQL runs the statement.
Each line gives p50, p99 and p99/p50 (the tail's goal, warm: <= 3).

``--driver yaml`` measures the YAML driver alone (no PostgreSQL cluster is started);
``--round warm`` only the warm round.

    .venv/bin/python bench/http_query.py [--entries 100000] [--repeats 300] [--driver yaml]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

# bench/ is not a package: import the harness, the data and the cluster from beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import http_get_entry as harness
from pg_cluster import cluster
from postgres_query import CATEGORIES, INDEXES, PARENT, generate

from flextype_adapters.yaml_codec import dump
from flextype_entrypoints.project import open_project
from flextype_entrypoints.scaffold import create_project

__all__ = ["main"]


def _query(token: str, sort_by: str) -> dict[str, str]:
    return {
        "id": PARENT,
        "options[collection]": "true",
        "options[filter][where][0][key]": "category",
        "options[filter][where][0][operator]": "eq",
        "options[filter][where][0][value]": CATEGORIES[3],
        "options[filter][sort_by][key]": sort_by,
        "options[filter][limit]": "10",
        "token": token,
    }


def _yaml_project(path: Path, items: Mapping[str, dict[str, Any]]) -> tuple[str, str]:
    issued = create_project(path, driver="yaml", demo=False)
    root = path / "entries"
    for entry_id, fields in {PARENT: {"title": "Movies"}, "scratch": {}, **items}.items():
        folder = root / entry_id
        folder.mkdir(parents=True)
        (folder / "entry.yaml").write_bytes(dump(fields))
    return issued.token.token, issued.access_token


def _postgres_project(path: Path, url: str, items: Mapping[str, dict[str, Any]]) -> tuple[str, str]:
    postgres = {"url": url, "schema": "bench_query"}
    issued = create_project(path, driver="postgres", demo=False, postgres=postgres)
    # The fields the query filters and sorts on, declared (storage.postgres.indexes).
    settings = path / "flextype.yaml"
    tree = yaml.safe_load(settings.read_text())
    tree["storage"]["postgres"]["indexes"] = INDEXES
    settings.write_text(yaml.safe_dump(tree, sort_keys=False))
    with open_project(path, environ={}) as project:
        project.container.postgres_database().ensure_field_indexes()
        store = project.container.entry_store()
        rows = list({PARENT: {"title": "Movies"}, "scratch": {}, **items}.items())
        for i in range(0, len(rows), 5000):
            store.create(dict(rows[i : i + 5000]))
        # As autovacuum leaves a table after a bulk load: statistics and visibility map.
        project.container.postgres_database().read(lambda tx: tx.execute("VACUUM ANALYZE entries"))
    return issued.token.token, issued.access_token


def _times(
    url: str, params: dict[str, str], auth: tuple[str, str], args: argparse.Namespace, write: bool
) -> tuple[list[float], tuple[Any, ...]]:
    with httpx.Client(base_url=url, timeout=600) as client:
        first = client.get("/api/entries", params=params).raise_for_status().json()
        answer = ([item["id"] for item in first["data"]], first["meta"]["total"])
        times = []
        for n in range(max(10, args.repeats // 10) + args.repeats):
            if write:
                body = {"id": "scratch", "data": {"n": n}}
                client.patch("/api/entries", json=body, auth=auth).raise_for_status()
            started = time.perf_counter()
            client.get("/api/entries", params=params).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return sorted(times[-args.repeats :]), answer


def _p99(times: list[float]) -> float:
    return times[min(len(times) - 1, round(0.99 * len(times)) - 1)]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--sort-by", action="append", help="year (default), title, ...")
    parser.add_argument(
        "--driver",
        action="append",
        choices=["postgres", "yaml"],
        help="measure this driver (repeat for both; default: postgres and yaml)",
    )
    parser.add_argument(
        "--round",
        action="append",
        choices=["warm", "write"],
        help="warm, or after a write (repeat for both; default: both)",
    )
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--load-core", type=int, default=1)
    return parser


def _line(driver: str, sort_by: str, round_: str, times: list[float], total: int) -> str:
    p50, p99 = statistics.median(times), _p99(times)
    return (
        f"{driver:<10} {sort_by:<8} {round_:<14} {p50:8.2f} {p99:8.2f} {p99 / p50:8.1f} {total:>8}"
    )


def main() -> None:
    args = _parser().parse_args()
    drivers = [d for d in ("postgres", "yaml") if d in (args.driver or ["postgres", "yaml"])]
    writes = [r == "write" for r in ("warm", "write") if r in (args.round or ["warm", "write"])]
    os.environ.pop("FLEXTYPE_STORAGE__DRIVER", None)
    os.sched_setaffinity(0, {args.load_core})  # the client, beside PostgreSQL
    load_before = harness._load()
    items = generate(args.entries)
    lines = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        tokens = {}
        if "yaml" in drivers:
            tokens["yaml"] = _yaml_project(tmp / "yaml", items)
        if "postgres" in drivers:
            running = stack.enter_context(cluster(core=args.load_core))
            tokens["postgres"] = _postgres_project(tmp / "postgres", running.url, items)
        for sort_by in args.sort_by or ["year"]:
            answers = {}
            for driver in drivers:
                server = ["taskset", "-c", str(args.server_core), str(harness.BIN / "flextype")]
                server += ["serve", "--project", str(tmp / driver), "--port", "0"]
                token, access = tokens[driver]
                with harness._server(server) as url:
                    for write in writes:
                        times, answer = _times(
                            url, _query(token, sort_by), (token, access), args, write
                        )
                        round_ = "after a write" if write else "warm"
                        lines.append(_line(driver, sort_by, round_, times, answer[1]))
                answers[driver] = answer
            if any(answer != answers[drivers[0]] for answer in answers.values()):
                raise RuntimeError(f"the drivers answer differently: {answers}")
    pg = " and PostgreSQL (fsync on)" if "postgres" in drivers else ""
    harness._write(
        f"GET collection: category eq {CATEGORIES[3]} + sort_by + limit 10 over "
        f"{args.entries} entries, {args.repeats} sequential keep-alive requests a round; server "
        f"on core {args.server_core}, client{pg} on core {args.load_core};"
        f" load average (1/5/15 min) before: {load_before}, after: {harness._load()}"
    )
    harness._write(
        f"{'driver':<10} {'sort_by':<8} {'round':<14} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'p99/p50':>8} {'total':>8}"
    )
    for line in lines:
        harness._write(line)


if __name__ == "__main__":
    main()
