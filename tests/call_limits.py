"""Helpers for the call-limit tests: how many calls pass, from one thread or several at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from flextype_core.errors import CallLimitExceeded

__all__ = ["passed_calls", "together"]

T = TypeVar("T")


def passed_calls(call: Callable[[], object], times: int) -> int:
    """Make ``call`` ``times`` times; return how many passed (the others: CallLimitExceeded)."""
    passed = 0
    for _ in range(times):
        try:
            call()
            passed += 1
        except CallLimitExceeded:
            pass
    return passed


def together(count: int, work: Callable[[], T]) -> list[T]:
    """Run ``work`` in ``count`` threads released at once; return their results.

    A thread that raises makes this raise (after every thread has ended), so no failure
    in a thread goes unseen.
    """
    start = threading.Barrier(count)
    results: list[T] = []
    failures: list[BaseException] = []

    def run() -> None:
        start.wait()
        try:
            results.append(work())
        except BaseException as exc:  # re-raised below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return results
