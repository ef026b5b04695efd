"""The Entries API: fetch one entry or a collection, create, update, move, copy, delete."""

from __future__ import annotations

from functools import partial
from typing import Any

from anyio import to_thread
from litestar import Controller, Response, delete, get, patch, post, put
from litestar.di import NamedDependency

from flextype_core.etags import entity_tag
from flextype_entrypoints.http.bodies import EntryCreate, EntryDelete, EntryMove, EntryUpdate
from flextype_entrypoints.http.deps import ApiCall, written
from flextype_entrypoints.http.params import is_truthy
from flextype_entrypoints.http.responses import Data

__all__ = ["EntriesController"]

_API = "entries"


class EntriesController(Controller):
    path = "/entries"
    tags = ["Entries"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/", summary="Fetch an entry, or a collection of its children")
    async def fetch_entry(self, call: NamedDependency[ApiCall]) -> Response[Any]:
        # On the event loop: a token check and an entry held in memory are lookups behind
        # a file's identity check, cheaper than a hop to a worker thread. Reading a file
        # (a big one takes seconds to parse) and collections go to a thread, so that no
        # other request waits for them.
        call.authorize(_API, write=False)
        options = call.params.options()
        if is_truthy(options.get("collection")) or "method" in options:
            parent = call.params.text("id", required=False) or ""
            page = await to_thread.run_sync(
                partial(call.entries.query, shared=True), parent, options
            )
            payload = Data(data=page.data, meta=page.meta)
            return call.respond(payload, entity_tag(payload))
        entry_id = call.params.text("id")
        entry = call.entries.fetch_cached(entry_id)
        if entry is None:
            entry = await to_thread.run_sync(call.entries.fetch, entry_id)
        return call.respond(Data(data=entry), entity_tag(entry))

    @post("/", status_code=200, sync_to_thread=True, summary="Create an entry")
    def create_entry(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        call.authorize(_API, write=True)
        body = call.read(EntryCreate)
        entry = call.entries.create(body.id, body.data, if_none_match=call.if_none_match)
        return written(entry)

    @patch("/", sync_to_thread=True, summary="Update an entry (shallow merge of data)")
    def update_entry(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        call.authorize(_API, write=True)
        body = call.read(EntryUpdate)
        return written(call.entries.update(body.id, body.data, if_match=call.if_match))

    @put("/", sync_to_thread=True, summary="Move an entry and its children")
    def move_entry(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        call.authorize(_API, write=True)
        body = call.read(EntryMove)
        return written(call.entries.move(body.id, body.new_id, if_match=call.if_match))

    @put("/copy", sync_to_thread=True, summary="Copy an entry and its children")
    def copy_entry(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        call.authorize(_API, write=True)
        body = call.read(EntryMove)
        return written(call.entries.copy(body.id, body.new_id, if_match=call.if_match))

    @delete("/", sync_to_thread=True, summary="Delete an entry and its children")
    def delete_entry(self, call: NamedDependency[ApiCall]) -> None:
        call.authorize(_API, write=True)
        call.entries.delete(call.read(EntryDelete).id, if_match=call.if_match)
