"""The one dependency of every API handler: the request's parameters and the services."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from anyio import to_thread
from litestar import Request, Response
from litestar.di import Provide

from flextype_core import EntriesService, Registry, Token, TokensService
from flextype_core.etags import matches_any
from flextype_core.feed import ChangesService
from flextype_core.images import ImageService
from flextype_core.media import MediaService
from flextype_core.webhooks import WebhooksService
from flextype_entrypoints.container import Container
from flextype_entrypoints.http.answers import Answer, AnswerCache, data_answer
from flextype_entrypoints.http.bodies import read
from flextype_entrypoints.http.feed import head_cursor
from flextype_entrypoints.http.freshness import RefreshGate
from flextype_entrypoints.http.params import RequestParams, read_params
from flextype_entrypoints.settings import MIB

__all__ = ["CHANGES_CURSOR", "LOCAL_DRIVERS", "ApiCall", "CallFactory", "provide_call", "written"]

LOCAL_DRIVERS = frozenset({"yaml", "tinydb"})
"""Storage drivers whose lookups are in memory (``ApiCall.lookups_on_loop``)."""

CHANGES_CURSOR = "X-Changes-Cursor"
"""The header of a collection answer naming the change feed's position it reflects."""

T = TypeVar("T", bound=msgspec.Struct)


class ApiCall:
    """One call of the API: what the request carries, and the services it may use.

    One dependency instead of one per service: Litestar resolves several dependencies
    of a handler in an anyio task group, which cost about a sixth of a cheap request.
    Services are looked up in the container on use, so ``container.x.override(fake)``
    in a test takes effect even after the app was built.
    """

    __slots__ = (
        "_container",
        "_gate",
        "answers",
        "if_match",
        "if_none_match",
        "lookups_on_loop",
        "media_on_loop",
        "params",
    )

    def __init__(
        self,
        params: RequestParams,
        container: Container,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
        lookups_on_loop: bool = True,
        media_on_loop: bool = True,
        gate: RefreshGate | None = None,
        answers: AnswerCache | None = None,
    ) -> None:
        self.params = params
        self._container = container
        self._gate = gate
        self.if_match = if_match
        """The request's ``If-Match`` header: a write's precondition."""
        self.if_none_match = if_none_match
        """The request's ``If-None-Match`` header: 304 on a GET, create-if-absent on POST."""
        self.lookups_on_loop = lookups_on_loop
        """Whether a token and a cached entry are found without waiting (the file drivers:
        memory behind a file's identity check), so the event loop may look them up. A
        database's lookups are round trips, which may wait up to the pool and statement
        timeouts: they go to a thread, or every request of the server would wait too;
        unless ``gate`` brought the stores' memory up to date for this request."""
        self.media_on_loop = media_on_loop
        """Whether a media file's content hash and a cached derivative are found without
        waiting (files on this host's disk): on a bucket or a database each is a round
        trip, so an image request goes to a worker thread whole."""
        self.answers = answers if answers is not None else AnswerCache(0)
        """Recent read answers, shared by the server's requests (``answers.py``)."""

    @property
    def entries(self) -> EntriesService:
        return self._container.entries()

    @property
    def tokens(self) -> TokensService:
        return self._container.tokens()

    @property
    def registry(self) -> Registry:
        return self._container.registry()

    @property
    def media(self) -> MediaService:
        return self._container.media()

    @property
    def images(self) -> ImageService:
        return self._container.images()

    @property
    def webhooks(self) -> WebhooksService:
        return self._container.webhooks()

    @property
    def changes(self) -> ChangesService:
        return self._container.changes()

    @property
    def project(self) -> Path:
        project: Path = self._container.project()
        return project

    def authorize(self, api: str, *, write: bool, params: RequestParams | None = None) -> Token:
        """Check the token for ``api`` (and its access token for a write); count the call.

        Args:
            api: the API family.
            write: whether the access token is needed too.
            params: the parameters to read the credentials from (default: the request's).

        Raises:
            AccessTokenInvalid: as ``TokensService.verify``.
            CallLimitExceeded: the token's calls are used up.
        """
        given = self.params if params is None else params
        return self.tokens.verify(given.token, given.access_token, api, write=write)

    async def authorize_on_loop(self, api: str, *, write: bool) -> Token:
        """``authorize`` from a handler on the event loop, which must never wait on a lock.

        An unlimited token is checked and counted in memory, here; a token with
        ``limit_calls`` is spent in the store (a write under a lock the other workers
        share), so its check runs in a worker thread, as every check does when the
        lookups are not in memory (``lookups_on_loop``).
        """
        if await self.memory_current():
            given = self.params
            tokens = self.tokens
            token = tokens.verify_in_memory(given.token, given.access_token, api, write=write)
            if token is not None:
                return token
        return await to_thread.run_sync(partial(self.authorize, api, write=write))

    async def memory_current(self) -> bool:
        """Whether the stores' memory may answer this request (``cached`` lookups).

        Always on the file drivers (``lookups_on_loop``). On a database, once the gate's
        refresh of the change log, begun after this request arrived, has finished: what
        the stores remember then holds every write any server acknowledged before. The
        first call waits for it; later calls of the request answer at once.
        """
        if self.lookups_on_loop:
            return True
        gate, self._gate = self._gate, None
        if gate is None:
            return False
        self.lookups_on_loop = await gate.wait()
        return self.lookups_on_loop

    def collection_headers(self) -> dict[str, str]:
        """The headers of a collection answer: ``X-Changes-Cursor``, the feed's head now.

        Read before the collection is: a client that lists, then follows the feed from
        this cursor, misses no change the listing did not show (it may see again one
        it did). Empty without a change log, or when it cannot be read (logged): the
        listing still answers.
        """
        cursor = head_cursor(self._container)
        return {} if cursor is None else {CHANGES_CURSOR: cursor}

    def outcome(self, answer: Answer, link: str | None = None) -> tuple[int, dict[str, str], bytes]:
        """The status, headers and body that send ``answer`` (304 and none on a match).

        304 when If-None-Match names its ETag: the body is never looked at then. Its
        headers (and ``link``, as ``Link``) go with either.
        """
        headers = {**answer.headers, "ETag": answer.etag}
        if link is not None:
            headers["Link"] = link
        if matches_any(self.if_none_match, answer.etag, weak=True):
            return 304, headers, b""
        return 200, headers, answer.body

    def respond(self, answer: Answer, *, link: str | None = None) -> Response[Any]:
        """``outcome`` as Litestar's response: ``answer``'s bytes as they are."""
        status, headers, body = self.outcome(answer, link)
        return Response(body, status_code=status, media_type=answer.media_type, headers=headers)

    def read(self, model: type[T]) -> T:
        """Check the parameters against ``model`` (see ``bodies.read``)."""
        return read(self.params, model)


def written(view: Any) -> Response[Any]:
    """A written resource, with the ETag a later GET of it answers."""
    answer = data_answer(view)
    return Response(answer.body, media_type=answer.media_type, headers={"ETag": answer.etag})


class CallFactory:
    """Makes each request's ``ApiCall`` from its parameters and headers.

    Shared by the Litestar dependency and the reads answered below Litestar
    (``fast_reads.py``), so both see the same settings, gate and answer cache.
    """

    def __init__(self, container: Container) -> None:
        self._container = container
        self._on_loop = container.config.storage.driver() in LOCAL_DRIVERS
        self._media_on_loop = self._on_loop and container.config.media.driver() == "local"
        refresh = container.refresh()
        self._gate = None if refresh is None else RefreshGate(refresh)
        self.answers = AnswerCache(container.config.api.response_cache_mb() * MIB)

    def __call__(self, params: RequestParams, headers: Mapping[str, str]) -> ApiCall:
        return ApiCall(
            params,
            self._container,
            if_match=headers.get("if-match"),
            if_none_match=headers.get("if-none-match"),
            lookups_on_loop=self._on_loop,
            media_on_loop=self._media_on_loop,
            gate=self._gate,
            answers=self.answers,
        )


def provide_call(calls: CallFactory) -> Provide:
    """Return the dependency that reads a request into an ``ApiCall``."""

    async def call(request: Request[Any, Any, Any]) -> ApiCall:
        return calls(await read_params(request), request.headers)

    return Provide(call)
