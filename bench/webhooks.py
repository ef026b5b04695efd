"""Webhook throughput: events delivered per second by one delivery worker to a local receiver.

``--events`` changes are in the log before the worker starts; the clock runs from its
start until the webhook's stored position reaches the last of them. Each event is one
signed POST (keep-alive) to a receiver in another process (``tests/webhook_receiver.py``,
answering 200), then a record and a stored progress. The receiver is pinned to core 1
and this process to core 0 where the machine allows.

- ``--store fake``: the reference change log and webhook store (in memory), so the figure
  is the worker's and the sender's own cost;
- ``--store yaml`` / ``tinydb`` / ``postgres``: a real project's ``Container.change_log``
  and ``webhook_store``, written through ``EntriesService``; for postgres a private
  durable cluster (``bench/pg_cluster.py``) pinned to the receiver's core, a schema per run.

    .venv/bin/python bench/webhooks.py [--events 3000] [--runs 3] [--store fake]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

# The repository's root: tests/ holds the reference fakes and the receiver.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.unit.feed_fakes import FakeChangeLog, FakeWebhookStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pg_cluster import cluster

from flextype_adapters.system import SystemResolver
from flextype_adapters.webhook_sender import HttpWebhookSender
from flextype_core.changes import ChangeLog, NewChange
from flextype_core.dispatch import Dispatcher
from flextype_core.webhook_port import Progress, Webhook, WebhookStore
from flextype_entrypoints.container import build_container
from flextype_entrypoints.scaffold import create_project
from flextype_entrypoints.webhook_worker import WebhookWorker

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent

_RECEIVER = """
import sys
from tests.webhook_receiver import WebhookReceiver
with WebhookReceiver() as receiver:
    print(receiver.url(), flush=True)
    sys.stdin.read()
    print(len(receiver.received), flush=True)
"""


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _pin(core: int) -> list[str]:
    """Pin this process to ``core``; return the prefix that pins a child to the other one."""
    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        return []
    os.sched_setaffinity(0, {core})
    return ["taskset", "-c", str(1 - core)] if shutil.which("taskset") else []


@contextlib.contextmanager
def _stores(
    kind: str, project: Path, events: int, database: str | None
) -> Iterator[tuple[ChangeLog, WebhookStore]]:
    """The log (holding ``events`` changes) and the store of the run."""
    if kind == "fake":
        fake_log = FakeChangeLog()
        for n in range(events):
            fake_log.append([NewChange(op="update", type="entry", id=f"b/e{n}", etag='"x"')])
        yield fake_log, FakeWebhookStore()
        return
    postgres = None
    if database is not None:
        postgres = {"url": database, "schema": f"bench_hooks_{os.urandom(4).hex()}"}
    create_project(project, driver=kind, demo=False, postgres=postgres)
    container = build_container(project, {})
    try:
        change_log: ChangeLog | None = container.change_log()
        store: WebhookStore | None = container.webhook_store()
        if change_log is None or store is None:
            raise SystemExit(f"no change log or webhook store for {kind}")
        entries = container.entries()
        for n in range(events):
            entries.create(f"b/e{n}", {"title": f"e{n}"})
        yield change_log, store
    finally:
        container.shutdown_resources()


def _run(kind: str, events: int, child_prefix: list[str], database: str | None) -> float:
    """One measured run; return events/s."""
    receiver = subprocess.Popen(  # noqa: S603
        [*child_prefix, sys.executable, "-c", _RECEIVER],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert receiver.stdin is not None and receiver.stdout is not None
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        try:
            url = receiver.stdout.readline().strip()
            log, store = stack.enter_context(_stores(kind, Path(tmp) / "p", events, database))
            head = log.head()
            secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
            hook = Webhook(id="bench", url=url, events=["*"], created_at=0, modified_at=0)
            store.create(hook, secret, Progress(position=head - events))
            sender = HttpWebhookSender(
                resolver=SystemResolver(), allow_private_networks=True, timeout=10
            )
            dispatcher = Dispatcher(
                log=log,
                store=store,
                sender=sender,
                clock=time.time,
                schedule=[1.0],
                rand=random.random,
            )
            worker = WebhookWorker(
                log=log, store=store, dispatcher=dispatcher, on_stop=sender.close
            )
            pause = threading.Event()
            started = time.perf_counter()
            worker.start()
            while store.progress("bench").position < head:
                pause.wait(0.002)
            took = time.perf_counter() - started
            worker.stop()
            failed = [d for d in store.deliveries("bench") if d.status != 200]
            assert not failed, failed[:3]
        finally:
            receiver.stdin.close()
            received = receiver.stdout.readline().strip()
            receiver.wait(10)
    assert int(received) == events, f"the receiver got {received} of {events}"
    return events / took


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--store", choices=["fake", "yaml", "tinydb", "postgres"], default="fake")
    args = parser.parse_args(argv)
    child_prefix = _pin(0)
    with contextlib.ExitStack() as stack:
        database = None
        if args.store == "postgres":
            # Beside the receiver: the worker's core is the one measured.
            database = stack.enter_context(
                cluster(durable=True, core=1 if child_prefix else None)
            ).url
        rates = [_run(args.store, args.events, child_prefix, database) for _ in range(args.runs)]
    _write(
        f"store={args.store} events={args.events} runs={args.runs}: "
        + ", ".join(f"{r:.0f}" for r in rates)
        + f" events/s (median {statistics.median(rates):.0f})"
    )


if __name__ == "__main__":
    main()
