"""The hot reads, one code path each: Litestar's handlers and ``fast_reads`` both run these.

Each returns an ``Answer`` (the body encoded once, its ETag) and leaves sending it, or a
304, to the caller. Collections and registry items are kept in the server's answer
cache under keys that move with every change of an entry (``answers.py``).
"""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlencode

import msgspec
from anyio import to_thread
from litestar.datastructures import URL
from litestar.types import Scope

from flextype_core.errors import AccessTokenInvalid, BadRequest
from flextype_core.model import Page
from flextype_entrypoints.http.answers import Answer, data_answer, params_key, payload_answer
from flextype_entrypoints.http.deps import CHANGES_CURSOR, ApiCall
from flextype_entrypoints.http.params import MAX_QUERY_BYTES, sends_body
from flextype_entrypoints.http.queries import is_collection
from flextype_entrypoints.http.responses import Data, RegistryItem

__all__ = ["next_link", "read_entries", "read_image", "read_registry_item"]

_PAGING = ("options[filter][after]", "options[filter][offset]")
_IMAGE_HEADERS = {"Cache-Control": "public, max-age=31536000, immutable"}
"""A derivative never changes: a changed source or parameter is another URL or ETag."""


async def read_entries(call: ApiCall, scope: Scope) -> tuple[Answer, str | None]:
    """``GET /api/entries``: one entry, or a collection; and the ``Link`` of its next page.

    On the event loop: a token check and an entry held in memory are lookups behind a
    file's identity check, cheaper than a hop to a worker thread. Reading a file (a big
    one takes seconds to parse), a limited token's spend and collections go to a
    thread, so that no other request waits for them; so do a database's lookups,
    unless its memory is current for this request (``ApiCall.memory_current``).
    """
    await call.authorize_on_loop("entries", write=False)
    options = call.params.options()
    if is_collection(options):
        parent = call.params.text("id", required=False) or ""
        answer = await to_thread.run_sync(_collection, call, parent, options)
        return answer, None if answer.next is None else next_link(scope, answer.next)
    entry_id = call.params.text("id")
    entry = None
    if await call.memory_current():
        entry = call.entries.fetch_cached(entry_id, shared=True)  # only serialised
    if entry is None:
        entry = await to_thread.run_sync(call.entries.fetch, entry_id)
    return data_answer(entry), None


def _collection(call: ApiCall, parent: str, options: dict[str, Any]) -> Answer:
    """A collection's answer: kept, or run and kept when the same options give the same.

    Kept under the store's version, which moves with every change of an entry (by any
    server, and by hand as soon as the store sees it), read before the query; not under
    the feed's head, which tokens' counts and media move too (a kept answer would
    never hit). But an answer that reads the log is kept under the head too: a page
    after a cursor (what changed since the walk began, what was purged), and one that
    gives a cursor (``meta.next`` names the head, where its walk begins).
    ``X-Changes-Cursor`` is the head read now, for every request. Without a change log
    (a staging project) nothing is kept.
    """
    headers = call.collection_headers()  # first: the feed's position the listing reflects
    entries = call.entries
    cursor = headers.get(CHANGES_CURSOR)
    params = params_key(call.params.values) if cursor and call.answers.enabled else None
    if params is None:
        return _page_answer(entries.query(parent, options, shared=True), headers)
    walking = _walks(options)
    plain = ("entries", params, entries.version())
    at_head = (*plain, cursor)
    for key in (at_head,) if walking else (plain, at_head):
        kept = call.answers.get(key)
        if kept is not None:
            return msgspec.structs.replace(kept, headers=headers)
    answer = _page_answer(entries.query(parent, options, shared=True), headers)
    if entries.repeatable(options):
        key = at_head if walking or answer.next is not None else plain
        call.answers.put(key, answer, key_bytes=len(params))
    return answer


def _page_answer(page: Page, headers: dict[str, str]) -> Answer:
    meta = page.meta
    return payload_answer(
        Data(data=page.data, meta=meta), headers, next=None if meta is None else meta.next
    )


def _walks(options: dict[str, Any]) -> bool:
    """Whether ``options`` continue a walk (``filter[after]``)."""
    filters = options.get("filter")
    return isinstance(filters, dict) and filters.get("after") is not None


def next_link(scope: Scope, cursor: str) -> str | None:
    """The ``Link`` header's value for the next page: this URL, continuing after ``cursor``.

    Every parameter stays as the client sent it (its token too: it was the client's),
    but ``options[filter][offset]`` and a previous ``after``, which the cursor replaces.
    None when no URL can say it: the request had a body (its options are not in the
    URL), or the URL would be longer than a query string may be (``meta.next`` has it).
    """
    if sends_body(scope["headers"]):
        return None
    # Latin-1 maps each byte to one character and back: a value that is no UTF-8 goes
    # back as the client sent it.
    raw = scope.get("query_string", b"").decode("latin-1")
    pairs = parse_qsl(raw, keep_blank_values=True, encoding="latin-1")
    kept = [(name, value) for name, value in pairs if name not in _PAGING]
    query = urlencode([*kept, (_PAGING[0], cursor)], encoding="latin-1")
    if len(query) > MAX_QUERY_BYTES:
        return None
    base = str(URL.from_scope(scope)).partition("?")[0]
    return f'<{base}?{query}>; rel="next"'


async def read_registry_item(call: ApiCall) -> Answer:
    """``GET /api/registry``: the item at the dot path ``id`` (kept: the registry is fixed)."""
    await call.authorize_on_loop("registry", write=False)
    key = call.params.text("id")
    if not isinstance(key, str) or not key:
        raise BadRequest("The parameter 'id' must be a dot path such as flextype.manifest.")
    kept = call.answers.get(("registry", key))
    if kept is not None:
        return kept
    answer = data_answer(RegistryItem(key=key, value=call.registry.get(key)))
    call.answers.put(("registry", key), answer, key_bytes=len(key))
    return answer


async def read_image(call: ApiCall, image_path: str) -> Answer:
    """``GET /api/images/{path}``: a derivative from memory or the cache, else rendered.

    A token for the images API, or else a signature (checked by the service). Token
    checks and cache hits are in-memory work: they stay on the event loop, and only a
    render (decode, transform, encode) goes to a worker thread. With the media in a
    bucket or a database, only hits in memory whose source hash the store knows
    without a round trip stay; the rest goes to the thread.
    """
    signed = "s" in call.params.values
    authorized = False
    if call.params.token is not None or not signed:
        try:
            await call.authorize_on_loop("images", write=False)
            authorized = True
        except AccessTokenInvalid:
            if not signed:
                raise
    query = call.params.values
    path = image_path.lstrip("/")
    if call.media_on_loop:
        rendered = call.images.cached(path, query, authorized=authorized)
    else:
        rendered = call.images.known(path, query, authorized=authorized)
    if rendered is None:
        rendered = await to_thread.run_sync(
            partial(call.images.render, path, query, authorized=authorized)
        )
    return Answer(
        body=rendered.data,
        etag=rendered.etag,
        headers=_IMAGE_HEADERS,
        media_type=rendered.media_type,
    )
