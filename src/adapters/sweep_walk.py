"""The compare of a hand-edit sweep, in the background without holding up requests.

A sweep of 100k entries is seconds of system calls and Python under the GIL, in a
thread beside the requests. Two things made requests wait (issue 17): a compare of
every identity at once after the walk (a set difference of 100k ids, one C call: up to
18 ms without letting go of the GIL), and the GIL itself, which a thread whose system
call returns finds taken again by the sweep, most of the time, so that it waits for the
interpreter's switch interval (5 ms) to force it back, several times per request. So
files are compared as the walk finds them, and the walk pauses (``Pacer``) every
``SLICE`` for ``PAUSE``: the GIL goes to whoever waits for it at once.

The slice is the sweep's own CPU time, not wall time: in a busy process the sweep waits
for the GIL after each system call, and a pause after each file then starved it (a 100k
sweep under continuous 40 ms queries went past 10 minutes, against about 75 s unpaced).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TypeVar

from flextype_adapters.entry_files import FileIdentity

__all__ = ["PAUSE", "SLICE", "Pacer", "changed_files"]

SLICE = 0.0005
"""Seconds of its CPU time a sweep spends at most before it pauses."""
PAUSE = 0.0002
"""Seconds of a pause: long enough for a thread waiting for the GIL to wake and take it.
Cached queries during a sweep at 100k, in process: p99 4.2 ms unpaced (0.19 ms without a
sweep), 0.8 ms so; the sweep takes about twice as long under such a load."""

_T = TypeVar("_T")


class Pacer:
    """Pauses a background loop every ``SLICE`` of its CPU time; counts the seconds paused.

    Used by one thread (the one that made it): its CPU time is what counts.
    """

    def __init__(self) -> None:
        self.paused = 0.0
        self._until = time.thread_time() + SLICE

    def paced(self, items: Iterable[_T]) -> Iterator[_T]:
        """Yield ``items``, pausing ``PAUSE`` once this thread spent ``SLICE`` since the last."""
        for item in items:
            yield item
            if time.thread_time() >= self._until:
                started = time.perf_counter()
                time.sleep(PAUSE)
                self.paused += time.perf_counter() - started
                self._until = time.thread_time() + SLICE


def changed_files(
    found: Iterable[tuple[str, FileIdentity]], known: Mapping[str, FileIdentity], pacer: Pacer
) -> set[str]:
    """The ids whose entry file is not the one ``known`` names: changed, new, or gone.

    ``found`` is the walk, (id, identity of its file) of every entry; ``known`` the
    index's identities, read as they are when each file is found (no copy: a dict read
    is atomic, and a write racing the walk at most makes a suspect, whose reload finds
    it unchanged).
    """
    seen: set[str] = set()
    suspects: set[str] = set()
    for entry_id, identity in pacer.paced(found):
        seen.add(entry_id)
        if known.get(entry_id) != identity:
            suspects.add(entry_id)
    suspects.update(i for i in pacer.paced(list(known)) if i not in seen)
    return suspects
