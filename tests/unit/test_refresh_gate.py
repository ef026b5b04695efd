"""RefreshGate: every request waits for a refresh begun after it arrived, shared when it can."""

from __future__ import annotations

import asyncio

from flextype_entrypoints.http.freshness import RefreshGate

WAIT = 30.0


class Refreshes:
    """A refresh that reports when each run begins and holds it until released.

    Its events are made on first use, inside the test's event loop.
    """

    def __init__(self, runs: int) -> None:
        self._runs = runs
        self._events: tuple[list[asyncio.Event], list[asyncio.Event]] | None = None
        self.runs = 0
        self.fail = False

    def _made(self) -> tuple[list[asyncio.Event], list[asyncio.Event]]:
        if self._events is None:
            self._events = (
                [asyncio.Event() for _ in range(self._runs)],
                [asyncio.Event() for _ in range(self._runs)],
            )
        return self._events

    @property
    def began(self) -> list[asyncio.Event]:
        return self._made()[0]

    @property
    def release(self) -> list[asyncio.Event]:
        return self._made()[1]

    async def __call__(self) -> None:
        run = self.runs
        self.runs += 1
        self.began[run].set()
        await asyncio.wait_for(self.release[run].wait(), WAIT)
        if self.fail:
            raise ConnectionError("the database went away")


async def _began(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), WAIT)


def test_requests_arriving_during_a_refresh_wait_for_the_next_one_and_share_it() -> None:
    async def scenario() -> None:
        refresh = Refreshes(2)
        gate = RefreshGate(refresh)
        first = asyncio.ensure_future(gate.wait())
        await _began(refresh.began[0])
        later = [asyncio.ensure_future(gate.wait()) for _ in range(3)]
        await asyncio.sleep(0)  # let them register while the first refresh runs
        refresh.release[0].set()
        assert await first is True
        await _began(refresh.began[1])
        # The first refresh began before they arrived: it cannot answer them.
        assert not any(task.done() for task in later)
        refresh.release[1].set()
        assert await asyncio.gather(*later) == [True, True, True]
        assert refresh.runs == 2

    asyncio.run(scenario())


def test_a_failed_refresh_answers_false_and_the_next_request_tries_again() -> None:
    async def scenario() -> None:
        refresh = Refreshes(2)
        refresh.fail = True
        for event in refresh.release:
            event.set()
        gate = RefreshGate(refresh)
        assert await gate.wait() is False
        refresh.fail = False
        assert await gate.wait() is True
        assert refresh.runs == 2

    asyncio.run(scenario())


def test_a_cancelled_request_does_not_cancel_the_refresh_another_shares() -> None:
    async def scenario() -> None:
        refresh = Refreshes(2)
        refresh.release[1].set()
        gate = RefreshGate(refresh)
        first = asyncio.ensure_future(gate.wait())
        await _began(refresh.began[0])
        gone, stays = (asyncio.ensure_future(gate.wait()) for _ in range(2))
        await asyncio.sleep(0)  # both wait for the next refresh
        gone.cancel()
        refresh.release[0].set()
        assert await first is True
        assert await stays is True
        assert gone.cancelled()
        assert refresh.runs == 2

    asyncio.run(scenario())
