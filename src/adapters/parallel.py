"""Blocking calls run a few at a time on one shared pool (object copies, cold reads)."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

__all__ = ["PARALLEL", "run_parallel"]

PARALLEL = 8
"""Calls run at once (requests to a bucket: its client keeps a pool of 32 connections)."""
_T = TypeVar("_T")
_R = TypeVar("_R")
_POOL_LOCK = threading.Lock()
_POOL: list[concurrent.futures.ThreadPoolExecutor] = []


def run_parallel(work: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
    """Return ``[work(item) ...]`` run a few at a time; raise the first failure.

    Every call has ended when this returns or raises: a write never rolls back while
    one of its own requests is still on its way. ``work`` must not call this itself
    (the pool's threads would wait for each other).
    """
    todo = list(items)
    if len(todo) <= 1:
        return [work(item) for item in todo]
    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(
                concurrent.futures.ThreadPoolExecutor(PARALLEL, thread_name_prefix="parallel")
            )
        pool = _POOL[0]
    futures = [pool.submit(work, item) for item in todo]
    concurrent.futures.wait(futures)
    return [future.result() for future in futures]
