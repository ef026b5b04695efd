"""The Tokens API: manage tokens, and generate or check tokens and hashes."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post, put
from litestar.di import NamedDependency

from entrypoints.http.deps import authorize
from entrypoints.http.params import RequestParams, is_truthy
from entrypoints.http.responses import Data, GeneratedHash, GeneratedToken, HashVerified
from entrypoints.views import issued_token, public_token
from flextype_core import TokensService
from flextype_core.errors import BadRequest

__all__ = ["TokenAliasesController", "TokensController"]

_API = "tokens"


def _string(params: RequestParams, name: str) -> str:
    value = params.text(name)
    if not isinstance(value, str):
        raise BadRequest(f"The parameter '{name}' must be a string.")
    return value


def _generate_hash(tokens: TokensService, params: RequestParams) -> Data:
    authorize(tokens, params, _API, write=True)
    return Data(data=GeneratedHash(hashed_token=tokens.generate_hash(_string(params, "string"))))


def _verify_hash(tokens: TokensService, params: RequestParams) -> Data:
    authorize(tokens, params, _API, write=True)
    verified = tokens.verify_hash(_string(params, "string"), _string(params, "hash"))
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
        data = params.values.get("data", {})
        issued = tokens.create({} if data == "" else data, params.text("id", required=False))
        return Data(data=issued_token(issued))

    @patch("/", sync_to_thread=True, summary="Update a token")
    def update_token(
        self, params: NamedDependency[RequestParams], tokens: NamedDependency[TokensService]
    ) -> Data:
        authorize(tokens, params, _API, write=True)
        return Data(data=public_token(tokens.update(params.text("id"), params.text("data"))))

    @put("/", sync_to_thread=True, summary="Move a token to a new public id")
    def move_token(
        self, params: NamedDependency[RequestParams], tokens: NamedDependency[TokensService]
    ) -> Data:
        authorize(tokens, params, _API, write=True)
        return Data(data=public_token(tokens.move(params.text("id"), params.text("new_id"))))

    @put("/copy", sync_to_thread=True, summary="Copy a token, with a new access token")
    def copy_token(
        self, params: NamedDependency[RequestParams], tokens: NamedDependency[TokensService]
    ) -> Data:
        authorize(tokens, params, _API, write=True)
        return Data(data=issued_token(tokens.copy(params.text("id"), params.text("new_id"))))

    @delete("/", sync_to_thread=True, summary="Delete a token")
    def delete_token(
        self, params: NamedDependency[RequestParams], tokens: NamedDependency[TokensService]
    ) -> None:
        authorize(tokens, params, _API, write=True)
        tokens.delete(params.text("id"))

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
