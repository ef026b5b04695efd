"""How much of two cores other processes took while a server and its load ran (``/proc``).

On a machine shared with other work, a benchmark's ratio is only as good as the cores
were free: ``Snapshot`` before and after a measurement gives, for the server's core, its
busy time minus the server's own, and for the load core its busy time minus what the
children of this process (the load generator, once waited for) used.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Snapshot", "others"]

_HZ = os.sysconf("SC_CLK_TCK")


def _core_ticks(core: int) -> tuple[int, int]:
    """Busy and total ticks of ``core`` since boot (steal counts as busy: not ours)."""
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name == f"cpu{core}":
            # user nice system idle iowait irq softirq steal; guest time is inside user.
            ticks = [int(field) for field in fields[:8]]
            return sum(ticks) - ticks[3] - ticks[4], sum(ticks)
    raise RuntimeError(f"no cpu{core} in /proc/stat")


def _process_ticks(pid: int) -> int:
    # The fields after the command's closing parenthesis start at field 3 (state):
    # utime and stime are fields 14 and 15.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def _children_ticks() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (used.ru_utime + used.ru_stime) * _HZ


@dataclass(frozen=True)
class Snapshot:
    """The ticks of the server core, the load core, the server and this process's children."""

    server_core: tuple[int, int]
    load_core: tuple[int, int]
    server: int
    children: float

    @classmethod
    def take(cls, server_pid: int, server_core: int, load_core: int) -> Snapshot:
        """Read them now."""
        return cls(
            _core_ticks(server_core),
            _core_ticks(load_core),
            _process_ticks(server_pid),
            _children_ticks(),
        )


def _share(busy: float, total: int) -> float:
    return max(0.0, 100 * busy / total) if total else 0.0


def others(before: Snapshot, after: Snapshot) -> tuple[float, float]:
    """Percent of the server core and of the load core that other processes took between."""
    server_busy = after.server_core[0] - before.server_core[0] - (after.server - before.server)
    load_busy = after.load_core[0] - before.load_core[0] - (after.children - before.children)
    return (
        _share(server_busy, after.server_core[1] - before.server_core[1]),
        _share(load_busy, after.load_core[1] - before.load_core[1]),
    )
