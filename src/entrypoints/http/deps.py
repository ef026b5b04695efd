"""The one dependency of every API handler: the request's parameters and the services."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.di import Provide

from entrypoints.container import Container
from entrypoints.http.bodies import read
from entrypoints.http.params import RequestParams, read_params
from flextype_core import EntriesService, Registry, Token, TokensService
from flextype_core.images import ImageService
from flextype_core.media import MediaService

__all__ = ["ApiCall", "provide_call"]

T = TypeVar("T", bound=msgspec.Struct)


class ApiCall:
    """One call of the API: what the request carries, and the services it may use.

    One dependency instead of one per service: Litestar resolves several dependencies
    of a handler in an anyio task group, which cost about a sixth of a cheap request.
    Services are looked up in the container on use, so ``container.x.override(fake)``
    in a test takes effect even after the app was built.
    """

    __slots__ = ("_container", "params")

    def __init__(self, params: RequestParams, container: Container) -> None:
        self.params = params
        self._container = container

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

    def read(self, model: type[T]) -> T:
        """Check the parameters against ``model`` (see ``bodies.read``)."""
        return read(self.params, model)


def provide_call(container: Container) -> Provide:
    """Return the dependency that reads a request into an ``ApiCall``."""

    async def call(request: Request[Any, Any, Any]) -> ApiCall:
        return ApiCall(await read_params(request), container)

    return Provide(call)
