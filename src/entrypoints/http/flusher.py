"""Write token call counts in the background, so that no request waits for a file write."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from anyio import to_thread
from litestar import Litestar

from flextype_core.errors import ServiceUnavailable
from flextype_entrypoints.container import Container

__all__ = ["POLL_SECONDS", "flush_token_calls"]

POLL_SECONDS = 0.25
"""How often the task asks whether counts are due (``tokens.flush_every``/``_interval``)."""

log = logging.getLogger("flextype.http")


async def _flush_when_due(container: Container) -> None:
    tokens = container.tokens()
    while True:
        await asyncio.sleep(POLL_SECONDS)
        if tokens.flush_due():
            try:
                await to_thread.run_sync(tokens.flush)
            except ServiceUnavailable as exc:
                # The database is away (it says why): one line a round, not a traceback.
                log.warning("writing token call counts failed: %s", exc.message)
            except Exception:
                # The counts are pending again; the next round retries them.
                log.exception("writing token call counts failed")


@contextlib.asynccontextmanager
async def flush_token_calls(container: Container, app: Litestar) -> AsyncIterator[None]:
    """Run the flusher while the app serves; at shutdown write what is left, then close.

    Args:
        container: the project's container.
        app: the app (Litestar passes it to lifespan hooks).
    """
    task = asyncio.create_task(_flush_when_due(container))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        try:
            await to_thread.run_sync(container.tokens().flush)
        finally:
            container.shutdown_resources()
