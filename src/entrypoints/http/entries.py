"""The Entries API: fetch one entry or a collection, create, update, move, copy, delete."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from anyio import to_thread
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency

from flextype_core import Page
from flextype_core.etags import entity_tag
from flextype_entrypoints.http.apidoc import ApiDoc
from flextype_entrypoints.http.bodies import EntryCreate, EntryDelete, EntryMove, EntryUpdate
from flextype_entrypoints.http.deps import ApiCall, written
from flextype_entrypoints.http.params import is_truthy
from flextype_entrypoints.http.responses import Data

__all__ = ["EntriesController"]

_API = "entries"


def _collection(call: ApiCall, parent: str, options: dict[str, Any]) -> tuple[dict[str, str], Page]:
    headers = call.collection_headers()  # first: the feed's position the listing reflects
    return headers, call.entries.query(parent, options, shared=True)


_PAGING = ("options[filter][after]", "options[filter][offset]")


def next_link(request: Request[Any, Any, Any], cursor: str) -> str:
    """The ``Link`` header's value for the next page: this URL, continuing after ``cursor``.

    Every parameter stays as the client sent it (its token too: it was the client's),
    but ``options[filter][offset]`` and a previous ``after``, which the cursor replaces.
    """
    # Latin-1 maps each byte to one character and back: a value that is no UTF-8 goes
    # back as the client sent it.
    raw = request.scope.get("query_string", b"").decode("latin-1")
    pairs = parse_qsl(raw, keep_blank_values=True, encoding="latin-1")
    kept = [(name, value) for name, value in pairs if name not in _PAGING]
    query = urlencode([*kept, (_PAGING[0], cursor)], encoding="latin-1")
    base = str(request.url).partition("?")[0]
    return f'<{base}?{query}>; rel="next"'


class EntriesController(Controller):
    path = "/entries"
    tags = ["Entries"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(
        "/",
        summary="Fetch an entry, or a collection of its children",
        doc=ApiDoc(
            query=("id", "options"),
            answer="Entries",
            errors=(404,),
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
        (`options[filter][after]`), without skipping or repeating entries. `id` empty
        or absent is the root. `options[method]=NAME` runs a collection method
        registered in Python.
        """
        # On the event loop: a token check and an entry held in memory are lookups behind
        # a file's identity check, cheaper than a hop to a worker thread. Reading a file
        # (a big one takes seconds to parse), a limited token's spend and collections go
        # to a thread, so that no other request waits for them; so do a database's
        # lookups, unless its memory is current for this request (ApiCall.memory_current).
        await call.authorize_on_loop(_API, write=False)
        options = call.params.options()
        if is_truthy(options.get("collection")) or "method" in options:
            parent = call.params.text("id", required=False) or ""
            headers, page = await to_thread.run_sync(_collection, call, parent, options)
            if page.meta is not None and page.meta.next is not None:
                headers["Link"] = next_link(request, page.meta.next)
            payload = Data(data=page.data, meta=page.meta)
            return call.respond(payload, entity_tag(payload), headers)
        entry_id = call.params.text("id")
        entry = None
        if await call.memory_current():
            entry = call.entries.fetch_cached(entry_id, shared=True)  # only serialised
        if entry is None:
            entry = await to_thread.run_sync(call.entries.fetch, entry_id)
        return call.respond(Data(data=entry), entity_tag(entry))

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
