"""One read of a database's change log shared by the requests that arrived before it began."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

__all__ = ["RefreshGate"]

log = logging.getLogger("flextype.serve")


class RefreshGate:
    """Lets a request wait until the stores' memory holds every write committed before it.

    ``wait`` returns once a ``refresh`` (a read of the change log, awaited on the loop)
    that began after the call has finished: so a write acknowledged by any server
    before this request was sent is in what the stores remember (read-your-writes
    across servers), and the request may answer its lookups from that memory, on the
    event loop. Refreshes run one at a time; the requests arriving while one runs share
    the next, so under load one round trip serves many requests.
    """

    def __init__(self, refresh: Callable[[], Awaitable[None]]) -> None:
        self._refresh = refresh
        self._running: asyncio.Task[None] | None = None
        self._next: asyncio.Future[bool] | None = None

    async def wait(self) -> bool:
        """Wait for a refresh begun after this call; False if it failed (e.g. no database).

        On False the caller reads the store instead, which answers with its own error.
        """
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        done = self._next
        if self._running is None:
            self._launch()
        # Shielded: a request cancelled (client gone) must not cancel the others' refresh.
        return await asyncio.shield(done)

    def _launch(self) -> None:
        done, self._next = self._next, None
        assert done is not None
        self._running = asyncio.get_running_loop().create_task(self._run(done))

    async def _run(self, done: asyncio.Future[bool]) -> None:
        ok = False
        try:
            await self._refresh()
            ok = True
        except Exception as exc:
            log.debug("change-log refresh failed: %s", exc)
        finally:
            done.set_result(ok)
            self._running = None
        if self._next is not None:
            self._launch()
