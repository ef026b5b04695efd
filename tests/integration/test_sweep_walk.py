"""The sweep's compare: files changed, new or gone, compared as the walk finds them, paced."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from flextype_adapters.entry_files import FileIdentity
from flextype_adapters.sweep_walk import PAUSE, SLICE, Pacer, changed_files

A: FileIdentity = (1, 10, 100)
B: FileIdentity = (2, 20, 200)


def test_changed_new_and_gone_files_are_suspects_and_unchanged_ones_are_not() -> None:
    known = {"same": A, "edited": A, "gone": A, "gone/below": B}
    found = [("same", A), ("edited", B), ("new", A)]
    assert changed_files(found, known, Pacer()) == {"edited", "new", "gone", "gone/below"}


def test_each_file_is_compared_with_the_identity_known_when_the_walk_finds_it() -> None:
    known = {"a": A}

    def walk() -> Iterator[tuple[str, FileIdentity]]:
        yield "a", A
        known["b"] = B  # written by this process while the walk goes on
        del known["a"]  # and this one deleted: its file is gone too
        yield "b", B

    # Neither is a hand edit: "b" is known as found, "a" was seen before it went.
    assert changed_files(walk(), known, Pacer()) == set()


def slow(count: int) -> Iterator[int]:
    """``count`` items, each costing more than a slice of CPU time to come."""
    for item in range(count):
        until = time.thread_time() + 1.5 * SLICE
        while time.thread_time() < until:
            pass
        yield item


def blocked(count: int) -> Iterator[int]:
    """``count`` items, each a long wait (for the disk, the GIL) but little CPU time."""
    for item in range(count):
        threading.Event().wait(2 * SLICE)
        yield item


def test_a_long_walk_pauses_after_each_slice_and_counts_the_pauses() -> None:
    pacer = Pacer()
    assert list(pacer.paced(slow(5))) == [0, 1, 2, 3, 4]
    assert pacer.paused >= 5 * PAUSE


def test_a_walk_that_waits_more_than_it_works_is_not_paused() -> None:
    pacer = Pacer()
    assert list(pacer.paced(blocked(5))) == [0, 1, 2, 3, 4]
    assert pacer.paused == 0


def test_a_pacer_counts_its_pauses_across_the_loops_it_paces() -> None:
    pacer = Pacer()
    assert list(pacer.paced(slow(2))) == [0, 1]
    first = pacer.paused
    assert list(pacer.paced(slow(2))) == [0, 1]
    assert pacer.paused >= first + 2 * PAUSE
