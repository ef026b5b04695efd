"""The Tokens API: manage tokens, and generate or check tokens and hashes."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post, put
from litestar.di import NamedDependency

from entrypoints.http.bodies import (
    HashCreate,
    HashVerify,
    TokenCreate,
    TokenDelete,
    TokenMove,
    TokenUpdate,
    read,
)
from entrypoints.http.deps import authorize
from entrypoints.http.params import RequestParams, is_truthy
from entrypoints.http.responses import Data, GeneratedHash, GeneratedToken, HashVerified
from entrypoints.views import issued_token, public_token
from flextype_core import TokensService

__all__ = ["TokenAliasesController", "TokensController"]

_API = "tokens"


def _generate_hash(tokens: TokensService, params: RequestParams) -> Data:
    authorize(tokens, params, _API, write=True)
    body = read(params, HashCreate)
    return Data(data=GeneratedHash(hashed_token=tokens.generate_hash(body.string)))


def _verify_hash(tokens: TokensService, params: RequestParams) -> Data:
    authorize(tokens, params, _API, write=True)
    body = read(params, HashVerify)
    verified = tokens.verify_hash(body.string, body.hash)
    return Data(data=HashVerified(verified=verified))


class TokensController(Controller):
    path = "/tokens"
    tags = ["Tokens"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/", sync_to_thread=True, summary="Fetch a token, or the list of tokens")
    def fetch_token(
        self, params: NamedDependency[RequestParams], tokens: NamedDependency[TokensService]
    ) -> Data:
        authorize(tokens, params, _API, write=False)
        if is_truthy(params.options().get("collection")):
            return Data(data=[public_token(t) for t in tokens.list()])
        return Data(data=public_token(tokens.fetch(params.text("id"))))

    @post("/", status_code=200, sync_to_thread=True, summary="Create a token")
    def create_token(
        self, params: NamedDependency[RequestParams], tokens: NamedDependency[TokensService]
    ) -> Data:
        authorize(tokens, params, _API, write=True)
        body = read(params, TokenCreate)
        issued = tokens.create(body.data, body.id)
        return Data(data=issued_token(issued))

    @patch("/", sync_to_thread=True, summary="Update a token")
    def update_token(
        self, params: NamedDependency[RequestParams], tokens: NamedDependency[TokensService]
    ) -> Data:
        authorize(tokens, params, _API, write=True)
        body = read(params, TokenUpdate)
        return Data(data=public_token(tokens.update(body.id, body.data)))

    @put("/", sync_to_thread=True, summary="Move a token to a new public id")
    def move_token(
        self, params: NamedDependency[RequestParams], tokens: NamedDependency[TokensService]
    ) -> Data:
        authorize(tokens, params, _API, write=True)
        body = read(params, TokenMove)
        return Data(data=public_token(tokens.move(body.id, body.new_id)))

    @put("/copy", sync_to_thread=True, summary="Copy a token, with a new access token")
    def copy_token(
        self, params: NamedDependency[RequestParams], tokens: NamedDependency[TokensService]
    ) -> Data:
        authorize(tokens, params, _API, write=True)
        body = read(params, TokenMove)
        return Data(data=issued_token(tokens.copy(body.id, body.new_id)))

    @delete("/", sync_to_thread=True, summary="Delete a token")
    def delete_token(
        self, params: NamedDependency[RequestParams], tokens: NamedDependency[TokensService]
    ) -> None:
        authorize(tokens, params, _API, write=True)
        tokens.delete(read(params, TokenDelete).id)

    @post("/generate", status_code=200, sync_to_thread=True, summary="Generate a token")
    def generate_token(
        self, params: NamedDependency[RequestParams], tokens: NamedDependency[TokensService]
    ) -> Data:
        authorize(tokens, params, _API, write=True)
        return Data(data=GeneratedToken(token=tokens.generate()))

    @post("/generate-hash", status_code=200, sync_to_thread=True, summary="Hash a string")
    def generate_hash(
        self, params: NamedDependency[RequestParams], tokens: NamedDependency[TokensService]
    ) -> Data:
        return _generate_hash(tokens, params)

    @post("/verify-hash", status_code=200, sync_to_thread=True, summary="Check a hash")
    def verify_hash(
        self, params: NamedDependency[RequestParams], tokens: NamedDependency[TokensService]
    ) -> Data:
        return _verify_hash(tokens, params)


class TokenAliasesController(Controller):
    """The hyphenated paths of older Flextype clients."""

    path = "/"
    tags = ["Tokens"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post("/tokens-generate-hash", status_code=200, sync_to_thread=True, summary="Hash a string")
    def generate_hash_alias(
        self, params: NamedDependency[RequestParams], tokens: NamedDependency[TokensService]
    ) -> Data:
        return _generate_hash(tokens, params)

    @post("/tokens-verify-hash", status_code=200, sync_to_thread=True, summary="Check a hash")
    def verify_hash_alias(
        self, params: NamedDependency[RequestParams], tokens: NamedDependency[TokensService]
    ) -> Data:
        return _verify_hash(tokens, params)
