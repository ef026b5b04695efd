"""The service endpoints: ``/`` (where the docs are) and ``/health`` (the storage answers)."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, get

import flextype_core
from flextype_core.errors import ServiceUnavailable, StorageError
from flextype_entrypoints.container import Container
from flextype_entrypoints.http.apidoc import ApiDoc
from flextype_entrypoints.http.feed import feed_status
from flextype_entrypoints.http.responses import Health, ServiceIndex

__all__ = ["health", "index"]

log = logging.getLogger("flextype.http")

_RETRY_SECONDS = 10
"""A broken storage needs a person: no client should ask again at once."""


@get("/", sync_to_thread=False, tags=["Service"], summary="Where things are", doc=ApiDoc())
def index() -> ServiceIndex:
    """The addresses of the docs, the OpenAPI document and the health check; no token."""
    return ServiceIndex(
        name="flextype-py",
        version=flextype_core.__version__,
        docs="/docs",
        openapi="/schema/openapi.json",
        health="/health",
    )


@get(
    "/health",
    sync_to_thread=True,
    tags=["Service"],
    summary="Whether the storage answers",
    doc=ApiDoc(errors=(503,)),
)
def health(request: Request[Any, Any, Any]) -> Health:
    """200 when the entry and token storage can be read now, else 503; no token.

    `changes` tells whether the change feed can be read: `unavailable` keeps the 200 (the
    content still answers) but is worth an alert. Reading the storage is counted
    against no token.
    """
    container: Container = request.app.state.container
    try:
        container.entry_store().check()
        container.token_store().check()
    except StorageError as exc:
        log.warning("health check failed: %s", exc.message)
        raise ServiceUnavailable(
            f"The storage does not answer: {exc.message}", retry_after=_RETRY_SECONDS
        ) from exc
    return Health(status="ok", version=flextype_core.__version__, changes=feed_status(container))
