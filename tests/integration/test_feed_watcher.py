"""The head watcher: one read of the change log's head serves every waiting request."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from flextype_entrypoints.http.feed import HeadWatcher


class Head:
    """A log's head that a test moves, counting how often it was read."""

    def __init__(self) -> None:
        self.position = 0
        self.reads = 0

    async def read(self) -> int:
        self.reads += 1
        return self.position


async def _until(check: Callable[[], bool]) -> None:
    """Wait for what the test observes (a TimeoutError after 30 s fails it)."""
    async with asyncio.timeout(30):
        while not check():
            await asyncio.sleep(0.001)


def test_one_head_read_at_a_time_wakes_every_waiter_past_whose_position_it_moved() -> None:
    async def scenario() -> list[int | None]:
        head = Head()
        watcher = HeadWatcher(head.read, interval=0.005)
        waits = [asyncio.ensure_future(watcher.wait_past(p, 30)) for p in (0, 0, 1, 5)]
        await _until(lambda: watcher.waiting == 4 and head.reads > 2)
        head.position = 2
        woken = await asyncio.gather(*waits[:3])
        assert not waits[3].done()  # at 5: the head has not passed it
        watcher.close()
        return [*woken, await waits[3]]

    assert asyncio.run(scenario()) == [2, 2, 2, None]


def test_the_head_is_read_only_while_someone_waits() -> None:
    async def scenario() -> tuple[int, bool, int]:
        head = Head()
        watcher = HeadWatcher(head.read, interval=0.005)
        assert await watcher.wait_past(0, 0) is None  # no wait: nothing read
        unread = head.reads
        waited = asyncio.ensure_future(watcher.wait_past(0, 30))
        await _until(lambda: watcher.polling and head.reads > 0)
        head.position = 1
        assert await waited == 1
        await _until(lambda: not watcher.polling)  # nobody waits: the reads stop
        return unread, watcher.polling, watcher.waiting

    assert asyncio.run(scenario()) == (0, False, 0)


def test_a_failing_head_read_times_waiters_out_and_close_releases_them_at_once() -> None:
    async def failing() -> int:
        raise OSError("no log")

    async def scenario() -> tuple[int | None, int | None, float]:
        watcher = HeadWatcher(failing, interval=0.005)
        timed_out = await watcher.wait_past(0, 0.05)
        loop = asyncio.get_running_loop()
        waiting = asyncio.ensure_future(watcher.wait_past(0, 30))
        await _until(lambda: watcher.waiting == 1)
        started = loop.time()
        watcher.close()
        released = await waiting
        return timed_out, released, loop.time() - started

    timed_out, released, took = asyncio.run(scenario())
    assert (timed_out, released) == (None, None)
    assert took < 1
