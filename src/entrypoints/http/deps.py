"""Dependencies of the handlers: services from the container, and the auth check."""

from __future__ import annotations

from typing import Any, TypeVar

from dependency_injector import providers
from litestar.di import Provide

from entrypoints.http.params import RequestParams
from flextype_core import Token, TokensService

__all__ = ["authorize", "from_container"]

T = TypeVar("T")


def from_container(provider: providers.Provider[T]) -> Provide:
    """Wrap a container provider for Litestar, which cannot inspect a provider's signature.

    The provider is called on each request, so ``container.x.override(fake)`` in a test
    takes effect even after the app was built.
    """

    def dependency() -> Any:
        return provider()

    return Provide(dependency, sync_to_thread=False)


def authorize(tokens: TokensService, params: RequestParams, api: str, *, write: bool) -> Token:
    """Check the request's token for ``api`` (and its access token for a write); count it.

    Raises:
        AccessTokenInvalid: as ``TokensService.verify``.
        CallLimitExceeded: the token's calls are used up.
    """
    return tokens.verify(params.token, params.access_token, api, write=write)
