"""The Litestar app factory: every API family under ``/api``, ``/api/v0`` and ``/api/v1``."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from litestar import Litestar, Router, get
from litestar.response import Redirect
from litestar.types import ControllerRouterHandler

from flextype_entrypoints.container import Container, build_container
from flextype_entrypoints.http.changes import ChangesController
from flextype_entrypoints.http.cors import CorsMiddleware
from flextype_entrypoints.http.deps import CallFactory, provide_call
from flextype_entrypoints.http.entries import EntriesController
from flextype_entrypoints.http.errors import EXCEPTION_HANDLERS
from flextype_entrypoints.http.fast_reads import FastReads
from flextype_entrypoints.http.feed import KEEPALIVE_SECONDS, FeedHub, run_feed
from flextype_entrypoints.http.flusher import flush_token_calls
from flextype_entrypoints.http.head import HeadMiddleware
from flextype_entrypoints.http.images import ImagesController
from flextype_entrypoints.http.media import (
    MediaContentController,
    MediaFilesController,
    MediaFoldersController,
)
from flextype_entrypoints.http.openapi import SCHEMA_PATH, openapi_config
from flextype_entrypoints.http.registry import RegistryController
from flextype_entrypoints.http.service import health, index
from flextype_entrypoints.http.tokens import TokenAliasesController, TokensController
from flextype_entrypoints.http.webhooks import WebhooksController
from flextype_entrypoints.webhook_worker import webhook_deliveries

__all__ = ["API_PREFIXES", "create_app"]

API_PREFIXES = ("/api", "/api/v0", "/api/v1")
"""Three eras of Flextype clients, served identically."""


@get("/docs", include_in_schema=False, sync_to_thread=False)
def docs() -> Redirect:
    return Redirect(f"{SCHEMA_PATH}/swagger")


def _on(family: object) -> bool:
    return isinstance(family, dict) and bool(family.get("enabled"))


def _families(container: Container) -> list[ControllerRouterHandler]:
    enabled = container.config.api()
    handlers: list[ControllerRouterHandler] = []
    if enabled["entries"]["enabled"]:
        handlers.append(EntriesController)
    if enabled["registry"]["enabled"]:
        handlers.append(RegistryController)
    if enabled["tokens"]["enabled"]:
        handlers += [TokensController, TokenAliasesController]
    if enabled["media"]["enabled"]:
        handlers += [MediaFilesController, MediaFoldersController]
    if enabled["images"]["enabled"]:
        handlers.append(ImagesController)
    if enabled["webhooks"]["enabled"]:
        handlers.append(WebhooksController)
    if enabled["changes"]["enabled"]:
        handlers.append(ChangesController)
    return handlers


def create_app(
    container: Container | None = None,
    *,
    deliver_webhooks: bool = False,
    feed_keepalive: float = KEEPALIVE_SECONDS,
    fast_reads: bool = True,
) -> Litestar:
    """Build the app for a project's container (by default ``$FLEXTYPE_PROJECT`` or ./project).

    The storage adapter is resolved here once, so a bad setting stops the server at start.
    With ``deliver_webhooks`` (``flextype serve``), the app runs the webhook delivery
    worker while it serves (``webhook_worker.py``). ``feed_keepalive``: seconds of silence
    after which a change event stream gets a comment line (tests shorten it).
    ``fast_reads``: answer the hot reads below Litestar's machinery (``fast_reads.py``);
    off, Litestar answers every request (tests compare the two).

    Raises:
        SettingsError: a setting is unknown or has the wrong type.
    """
    if container is None:
        project = Path(os.environ.get("FLEXTYPE_PROJECT", "project"))
        container = build_container(project, os.environ)
    container.entry_store()
    container.token_store()
    # Requests only count calls in memory; a background task writes them (flusher.py).
    container.tokens.add_kwargs(autoflush=False)

    families = _families(container)
    calls = CallFactory(container)
    feed = FeedHub(container, keepalive=feed_keepalive)
    app = Litestar(
        route_handlers=[Router(path=prefix, route_handlers=families) for prefix in API_PREFIXES]
        + [index, health, docs, MediaContentController],
        dependencies={"call": provide_call(calls)},
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=container.config.api.max_body_size(),
        # Entered in this order, left in the other: deliveries stop first, then the feed,
        # then the flusher closes the stores.
        lifespan=[partial(flush_token_calls, container), partial(run_feed, container, feed)]
        + ([partial(webhook_deliveries, container)] if deliver_webhooks else []),
        openapi_config=openapi_config(),
        # Logging is the server's (logs.py): Litestar's default would take the root
        # logger at INFO with a format of its own, and every library's info line (one
        # per webhook delivery from httpx, its URL and query) would come out in it.
        logging_config=None,
    )
    app.state.container = container
    app.state.feed = feed
    app.state.answers = calls.answers
    # Wrapped around the whole handler, as Litestar wraps its own CORS middleware, so
    # that router 404s and preflights of any path get the headers too.
    # HEAD is turned into GET before routing, for the same reason; so the hot reads
    # answered below Litestar get both too.
    handler = app.asgi_handler
    if fast_reads:
        enabled = frozenset(name for name, family in container.config.api().items() if _on(family))
        handler = FastReads(handler, calls, API_PREFIXES, enabled)
    app.asgi_handler = CorsMiddleware(
        HeadMiddleware(handler), container.config.cors.allow_origins()
    )
    return app
