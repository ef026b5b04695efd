"""The Changes API: the change feed as pages, as a long poll, or as server-sent events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import msgspec
from anyio import to_thread
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.response import Stream

from flextype_core.errors import FlextypeError
from flextype_core.feed import ChangesService, FeedPage, FeedQuery, parse_wait
from flextype_entrypoints.http.answers import payload_answer
from flextype_entrypoints.http.apidoc import ApiDoc
from flextype_entrypoints.http.deps import ApiCall
from flextype_entrypoints.http.errors import error_document
from flextype_entrypoints.http.feed import FeedHub, HeadWatcher
from flextype_entrypoints.http.head import is_head
from flextype_entrypoints.http.responses import ChangesMeta, ChangesPage

__all__ = ["EVENT_STREAM", "ChangesController"]

EVENT_STREAM = "text/event-stream"
_API = "changes"
_STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    # nginx buffers answers by default, which would hold events back.
    "X-Accel-Buffering": "no",
}
_KEEPALIVE = b": keep-alive\n\n"
_ENCODER = msgspec.json.Encoder()

log = logging.getLogger("flextype.http")


class ChangesController(Controller):
    path = "/changes"
    tags = ["Changes"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(
        "/",
        summary="Follow the change feed",
        doc=ApiDoc(
            query=("since", "limit", "wait", "id", "types"),
            answer="Changes",
            errors=(410,),
            etag=True,
            event_stream=True,
        ),
    )
    async def fetch_changes(
        self, request: Request[Any, Any, Any], call: NamedDependency[ApiCall]
    ) -> Response[Any]:
        """What changed, in commit order: each change's cursor, op, type, id and ETag.

        Follow `meta.next` as `since` to see every change once (`since` absent: from
        the oldest kept; `now`: only what comes next; `X-Changes-Cursor` of a
        collection answer: what changed since that listing). `wait=S` holds the request
        up to S seconds until a change arrives. `Accept: text/event-stream` streams the
        changes as server-sent events instead (`id:` the cursor, `data:` the change),
        resuming after `Last-Event-ID`. A cursor older than the retention, or of
        another change log, is 410 `ResyncRequired`: list the collection again.
        """
        await call.authorize_on_loop(_API, write=False)
        params = call.params
        hub: FeedHub = request.app.state.feed
        events = EVENT_STREAM in request.headers.get("accept", "").lower()
        since = request.headers.get("last-event-id") if events else None
        wait = parse_wait(params.text("wait", required=False))
        query, page = await to_thread.run_sync(
            partial(
                _first_page,
                call.changes,
                since=since or params.text("since", required=False),
                limit=params.text("limit", required=False),
                id_prefix=params.text("id", required=False),
                types=params.text("types", required=False),
            )
        )
        if events:
            body = iter(()) if is_head(request.scope) else _events(call.changes, query, page, hub)
            return Stream(body, media_type=EVENT_STREAM, headers=_STREAM_HEADERS)
        page = await _long_poll(call.changes, query, page, wait, hub.watcher)
        payload = ChangesPage(data=page.changes, meta=ChangesMeta(next=page.next, more=page.more))
        return call.respond(payload_answer(payload))


def _first_page(service: ChangesService, **params: object) -> tuple[FeedQuery, FeedPage]:
    # One trip to a worker thread for the parameters' checks and the first read.
    query = service.query(**params)
    return query, service.read(query)


async def _read_after(service: ChangesService, query: FeedQuery, position: int) -> FeedPage:
    after = msgspec.structs.replace(query, after=position)
    return await to_thread.run_sync(service.read, after)


async def _next_page(
    service: ChangesService, query: FeedQuery, page: FeedPage, watcher: HeadWatcher, wait: float
) -> FeedPage | None:
    """The page after ``page`` once the head passed it, or None after ``wait`` (or a stop).

    A head past the reader with nothing readable is a slower writer still holding an
    earlier position: it is read again a poll later, rather than at once in a loop.
    """
    if await watcher.wait_past(page.last, wait) is None:
        return None
    found = await _read_after(service, query, page.last)
    if not found.changes and found.last == page.last:
        await asyncio.sleep(watcher.interval)
    return found


async def _long_poll(
    service: ChangesService, query: FeedQuery, page: FeedPage, wait: float, watcher: HeadWatcher
) -> FeedPage:
    """``page``, or if it is empty the first page with changes within ``wait`` seconds.

    Changes the filters leave out move the page's ``next`` on without answering.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while not page.changes and not page.more:
        remaining = deadline - loop.time()
        found = await _next_page(service, query, page, watcher, remaining)
        if found is None:
            break
        page = found
    return page


async def _events(
    service: ChangesService, query: FeedQuery, page: FeedPage, hub: FeedHub
) -> AsyncIterator[bytes]:
    """Every change from ``page`` on, as server-sent events, until the client or server stops.

    A comment line goes out after ``hub.keepalive`` seconds without an event, however
    many changes the filters left out meanwhile. A failure after the stream began (the
    log out of reach) ends it with an ``error`` event in the error shape; the client
    reconnects with ``Last-Event-ID``.
    """
    loop = asyncio.get_running_loop()
    watcher = hub.watcher
    try:
        sent = loop.time()  # when the last line went out
        while True:
            for change in page.changes:
                yield b"id: %s\ndata: %s\n\n" % (change.cursor.encode(), _ENCODER.encode(change))
            if page.changes:
                sent = loop.time()
            if page.more:
                if watcher.closed:
                    return  # a backlog is no reason to keep the server from stopping
                page = await _read_after(service, query, page.last)
                continue
            due = sent + hub.keepalive
            found = await _next_page(service, query, page, watcher, due - loop.time())
            if watcher.closed:
                return
            if found is not None:
                page = found
            # Changes left out by the filters wake the stream but send nothing: the
            # silence is counted from the last line sent, not from the last wake.
            if (found is None or not found.changes) and loop.time() >= due:
                yield _KEEPALIVE
                sent = loop.time()
    except FlextypeError as exc:
        log.warning("a change stream ended: %s", exc.message)
        error = error_document(exc.code, exc.message)
        yield b"event: error\ndata: %s\n\n" % _ENCODER.encode(error)
    except Exception:
        # The answer has begun: no error status can follow. The log has the cause; the
        # stream ends, and the client reconnects where it was.
        log.exception("a change stream failed")
