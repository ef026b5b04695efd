"""The Entries API: fetch one entry or a collection, create, update, move, copy, delete."""

from __future__ import annotations

from functools import partial

from anyio import to_thread
from litestar import Controller, delete, get, patch, post, put
from litestar.di import NamedDependency

from entrypoints.http.bodies import EntryCreate, EntryDelete, EntryMove, EntryUpdate
from entrypoints.http.deps import ApiCall
from entrypoints.http.params import is_truthy
from entrypoints.http.responses import Data

__all__ = ["EntriesController"]

_API = "entries"


class EntriesController(Controller):
    path = "/entries"
    tags = ["Entries"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/", summary="Fetch an entry, or a collection of its children")
    async def fetch_entry(self, call: NamedDependency[ApiCall]) -> Data:
        # On the event loop: a token check and one entry are in-memory lookups behind a
        # file's identity check, cheaper than a hop to a worker thread. A collection may
        # read many files, so it goes to a thread.
        call.authorize(_API, write=False)
        options = call.params.options()
        if is_truthy(options.get("collection")) or "method" in options:
            parent = call.params.text("id", required=False) or ""
            page = await to_thread.run_sync(
                partial(call.entries.query, shared=True), parent, options
            )
            return Data(data=page.data, meta=page.meta)
        return Data(data=call.entries.fetch(call.params.text("id")))

    @post("/", status_code=200, sync_to_thread=True, summary="Create an entry")
    def create_entry(self, call: NamedDependency[ApiCall]) -> Data:
        call.authorize(_API, write=True)
        body = call.read(EntryCreate)
        return Data(data=call.entries.create(body.id, body.data))

    @patch("/", sync_to_thread=True, summary="Update an entry (shallow merge of data)")
    def update_entry(self, call: NamedDependency[ApiCall]) -> Data:
        call.authorize(_API, write=True)
        body = call.read(EntryUpdate)
        return Data(data=call.entries.update(body.id, body.data))

    @put("/", sync_to_thread=True, summary="Move an entry and its children")
    def move_entry(self, call: NamedDependency[ApiCall]) -> Data:
        call.authorize(_API, write=True)
        body = call.read(EntryMove)
        return Data(data=call.entries.move(body.id, body.new_id))

    @put("/copy", sync_to_thread=True, summary="Copy an entry and its children")
    def copy_entry(self, call: NamedDependency[ApiCall]) -> Data:
        call.authorize(_API, write=True)
        body = call.read(EntryMove)
        return Data(data=call.entries.copy(body.id, body.new_id))

    @delete("/", sync_to_thread=True, summary="Delete an entry and its children")
    def delete_entry(self, call: NamedDependency[ApiCall]) -> None:
        call.authorize(_API, write=True)
        call.entries.delete(call.read(EntryDelete).id)
