"""The Entries API: fetch one entry or a collection, create, update, move, copy, delete."""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency

from flextype_entrypoints.http.answers import payload_answer
from flextype_entrypoints.http.apidoc import ApiDoc
from flextype_entrypoints.http.bodies import (
    EntryCreate,
    EntryDelete,
    EntryMove,
    EntryQueries,
    EntryUpdate,
    NamedQuery,
)
from flextype_entrypoints.http.deps import ApiCall, written
from flextype_entrypoints.http.queries import read_queries, run_queries
from flextype_entrypoints.http.reads import read_entries
from flextype_entrypoints.http.responses import Data, QueriesAnswer

__all__ = ["EntriesController"]

_API = "entries"


def _queries(call: ApiCall, queries: dict[str, NamedQuery]) -> tuple[dict[str, str], QueriesAnswer]:
    headers = call.collection_headers()  # first, as for one collection
    return headers, run_queries(call.entries, queries)


class EntriesController(Controller):
    path = "/entries"
    tags = ["Entries"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(
        "/",
        summary="Fetch an entry, or a collection of its children",
        doc=ApiDoc(
            query=("id", "options"),
            answer="Entries",
            errors=(404, 410),
            etag=True,
            changes_cursor=True,
        ),
    )
    async def fetch_entry(
        self, request: Request[Any, Any, Any], call: NamedDependency[ApiCall]
    ) -> Response[Any]:
        """One entry by `id`; with `options[collection]=true`, the entries below `id`.

        A collection takes `options[find][depth]` and `options[filter][...]` (where,
        sort_by, offset, limit, return, group_by, only, except; see `CollectionOptions`)
        and answers a list with `meta` (`total` before offset and limit), and the
        header `X-Changes-Cursor`: follow `/api/changes` from it to see what changes
        after this listing. A page cut by `limit` has `meta.next` and a
        `Link: <...>; rel="next"` header: the next page continues after it
        (`options[filter][after]`), without skipping or repeating entries; a walk
        with over 1,000 entries changed since its first page is 410. `id` empty
        or absent is the root. `options[method]=NAME` runs a collection method
        registered in Python.
        """
        answer, link = await read_entries(call, request.scope)
        return call.respond(answer, link=link)

    @post(
        "/query",
        status_code=200,
        summary="Run several named entry or collection queries at once",
        doc=ApiDoc(
            body=EntryQueries,
            answer="Queries",
            errors=(404, 410),
            etag=True,
            read_only=True,
            changes_cursor=True,
        ),
    )
    async def query_entries(self, call: NamedDependency[ApiCall]) -> Response[Any]:
        """Run each of `queries` as `GET /api/entries?id=ID&options...` would; answer by name.

        `{"queries": {"NAME": {"id": ID, "options": {...}}, ...}}`: up to 50 queries,
        names of 1 to 64 letters, digits, `_` or `-`. A query whose `options.collection`
        is truthy (or that names a `method`) answers a collection, else the entry `id`.
        JSON options keep their types (`"limit": 10`, `"value": 2020`). The answer is
        `{"data": {NAME: data}, "meta": {NAME: meta or null}}` with `X-Changes-Cursor`
        (read before the queries). A read: the token alone, counted once. The first query
        that fails makes the whole answer its error, its message naming the query.
        """
        await call.authorize_on_loop(_API, write=False)
        queries = read_queries(call.params)
        headers, result = await to_thread.run_sync(_queries, call, queries)
        return call.respond(payload_answer(result, headers))

    @post(
        "/",
        status_code=200,
        sync_to_thread=True,
        summary="Create an entry",
        doc=ApiDoc(
            body=EntryCreate, answer="Entry", errors=(409, 422), etag=True, if_none_match=True
        ),
    )
    def create_entry(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        """Create the entry `id` from `data`; the folders above it need not exist.

        The server sets `uuid`, `created_at` and `modified_at`, and fills `published_at`,
        `published_by`, `created_by`, `routable` and `visibility` when `data` lacks them.
        A managed field in `data` is 422; an existing `id` is 409 (412 with
        `If-None-Match: *`).
        """
        call.authorize(_API, write=True)
        body = call.read(EntryCreate)
        entry = call.entries.create(body.id, body.data, if_none_match=call.if_none_match)
        return written(entry)

    @patch(
        "/",
        sync_to_thread=True,
        summary="Update an entry (shallow merge of data)",
        doc=ApiDoc(body=EntryUpdate, answer="Entry", errors=(404, 422), etag=True, if_match=True),
    )
    def update_entry(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        """Set the fields of `data` on the entry `id`; other fields are kept."""
        call.authorize(_API, write=True)
        body = call.read(EntryUpdate)
        return written(call.entries.update(body.id, body.data, if_match=call.if_match))

    @put(
        "/",
        sync_to_thread=True,
        summary="Move an entry and its children",
        doc=ApiDoc(body=EntryMove, answer="Entry", errors=(404, 409), etag=True, if_match=True),
    )
    def move_entry(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        """Move the entry `id`, with every entry below it, to `new_id`.

        409 if `new_id` is taken; 400 if `new_id` lies inside the entry's own subtree.
        """
        call.authorize(_API, write=True)
        body = call.read(EntryMove)
        return written(call.entries.move(body.id, body.new_id, if_match=call.if_match))

    @put(
        "/copy",
        sync_to_thread=True,
        summary="Copy an entry and its children",
        doc=ApiDoc(body=EntryMove, answer="Entry", errors=(404, 409), etag=True, if_match=True),
    )
    def copy_entry(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        """Copy the entry `id`, with every entry below it, to `new_id` (new uuids)."""
        call.authorize(_API, write=True)
        body = call.read(EntryMove)
        return written(call.entries.copy(body.id, body.new_id, if_match=call.if_match))

    @delete(
        "/",
        sync_to_thread=True,
        summary="Delete an entry and its children",
        doc=ApiDoc(body=EntryDelete, errors=(404,), if_match=True),
    )
    def delete_entry(self, call: NamedDependency[ApiCall]) -> None:
        """Delete the entry `id` and every entry below it; 204 with no body."""
        call.authorize(_API, write=True)
        call.entries.delete(call.read(EntryDelete).id, if_match=call.if_match)
