"""The Entries API: fetch one entry or a collection, create, update, move, copy, delete."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post, put
from litestar.di import NamedDependency

from entrypoints.http.bodies import EntryCreate, EntryDelete, EntryMove, EntryUpdate, read
from entrypoints.http.deps import authorize
from entrypoints.http.params import RequestParams, is_truthy
from entrypoints.http.responses import Data
from flextype_core import EntriesService, TokensService

__all__ = ["EntriesController"]

_API = "entries"


class EntriesController(Controller):
    path = "/entries"
    tags = ["Entries"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/", sync_to_thread=True, summary="Fetch an entry, or a collection of its children")
    def fetch_entry(
        self,
        params: NamedDependency[RequestParams],
        entries: NamedDependency[EntriesService],
        tokens: NamedDependency[TokensService],
    ) -> Data:
        authorize(tokens, params, _API, write=False)
        options = params.options()
        if is_truthy(options.get("collection")):
            return Data(data=entries.query(params.text("id", required=False) or "", options))
        return Data(data=entries.fetch(params.text("id")))

    @post("/", status_code=200, sync_to_thread=True, summary="Create an entry")
    def create_entry(
        self,
        params: NamedDependency[RequestParams],
        entries: NamedDependency[EntriesService],
        tokens: NamedDependency[TokensService],
    ) -> Data:
        authorize(tokens, params, _API, write=True)
        body = read(params, EntryCreate)
        return Data(data=entries.create(body.id, body.data))

    @patch("/", sync_to_thread=True, summary="Update an entry (shallow merge of data)")
    def update_entry(
        self,
        params: NamedDependency[RequestParams],
        entries: NamedDependency[EntriesService],
        tokens: NamedDependency[TokensService],
    ) -> Data:
        authorize(tokens, params, _API, write=True)
        body = read(params, EntryUpdate)
        return Data(data=entries.update(body.id, body.data))

    @put("/", sync_to_thread=True, summary="Move an entry and its children")
    def move_entry(
        self,
        params: NamedDependency[RequestParams],
        entries: NamedDependency[EntriesService],
        tokens: NamedDependency[TokensService],
    ) -> Data:
        authorize(tokens, params, _API, write=True)
        body = read(params, EntryMove)
        return Data(data=entries.move(body.id, body.new_id))

    @put("/copy", sync_to_thread=True, summary="Copy an entry and its children")
    def copy_entry(
        self,
        params: NamedDependency[RequestParams],
        entries: NamedDependency[EntriesService],
        tokens: NamedDependency[TokensService],
    ) -> Data:
        authorize(tokens, params, _API, write=True)
        body = read(params, EntryMove)
        return Data(data=entries.copy(body.id, body.new_id))

    @delete("/", sync_to_thread=True, summary="Delete an entry and its children")
    def delete_entry(
        self,
        params: NamedDependency[RequestParams],
        entries: NamedDependency[EntriesService],
        tokens: NamedDependency[TokensService],
    ) -> None:
        authorize(tokens, params, _API, write=True)
        entries.delete(read(params, EntryDelete).id)
