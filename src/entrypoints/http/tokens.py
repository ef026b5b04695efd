"""The Tokens API: manage tokens, and generate or check tokens and hashes."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, delete, get, patch, post, put
from litestar.di import NamedDependency

from flextype_core import PageMeta
from flextype_entrypoints.http.answers import data_answer, payload_answer
from flextype_entrypoints.http.apidoc import ApiDoc
from flextype_entrypoints.http.bodies import (
    Credentials,
    HashCreate,
    HashVerify,
    TokenCreate,
    TokenDelete,
    TokenMove,
    TokenUpdate,
)
from flextype_entrypoints.http.deps import ApiCall, written
from flextype_entrypoints.http.params import is_truthy
from flextype_entrypoints.http.responses import Data, GeneratedHash, GeneratedToken, HashVerified

__all__ = ["TokenAliasesController", "TokensController"]

_API = "tokens"


def _generate_hash(call: ApiCall) -> Data:
    call.authorize(_API, write=True)
    body = call.read(HashCreate)
    return Data(data=GeneratedHash(hashed_token=call.tokens.generate_hash(body.string)))


def _verify_hash(call: ApiCall) -> Data:
    call.authorize(_API, write=True)
    body = call.read(HashVerify)
    return Data(data=HashVerified(verified=call.tokens.verify_hash(body.string, body.hash)))


class TokensController(Controller):
    path = "/tokens"
    tags = ["Tokens"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(
        "/",
        sync_to_thread=True,
        summary="Fetch a token, or the list of tokens",
        doc=ApiDoc(query=("id", "options"), answer="Tokens", errors=(404,), etag=True),
    )
    def fetch_token(self, call: NamedDependency[ApiCall]) -> Response[Any]:
        """The token `id`, or with `options[collection]=true` every token.

        Never an access token or its hash. A token's ETag changes with its call count,
        this request's call included.
        """
        call.authorize(_API, write=False)
        if is_truthy(call.params.options().get("collection")):
            listed = [t.to_public() for t in call.tokens.list()]
            unreadable = tuple(call.tokens.unreadable())
            meta = PageMeta(total=len(listed), offset=0, limit=None, unreadable=unreadable)
            payload = Data(data=listed, meta=meta)
            return call.respond(payload_answer(payload))
        token = call.tokens.fetch(call.params.text("id")).to_public()
        return call.respond(data_answer(token))

    @post(
        "/",
        status_code=200,
        sync_to_thread=True,
        summary="Create a token",
        doc=ApiDoc(body=TokenCreate, answer="CreatedToken", errors=(409, 422)),
    )
    def create_token(self, call: NamedDependency[ApiCall]) -> Data:
        """Create a token from `data`; the answer shows its `access_token`, this once.

        Defaults: `state: enabled`, `apis: [entries, registry, media, images]`,
        `limit_calls: 0` (no limit). `id` chooses the public token (16-64 of
        `[A-Za-z0-9_-]`); else 32 hex characters are generated. A past `expires_at` is 422.
        """
        call.authorize(_API, write=True)
        body = call.read(TokenCreate)
        return Data(data=call.tokens.create(body.data, body.id).to_public())

    @patch(
        "/",
        sync_to_thread=True,
        summary="Update a token",
        doc=ApiDoc(body=TokenUpdate, answer="Token", errors=(404, 422), etag=True, if_match=True),
    )
    def update_token(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        """Change the token's state, title, limit_calls, apis or expires_at."""
        call.authorize(_API, write=True)
        body = call.read(TokenUpdate)
        return written(call.tokens.update(body.id, body.data, if_match=call.if_match).to_public())

    @put(
        "/",
        sync_to_thread=True,
        summary="Move a token to a new public id",
        doc=ApiDoc(body=TokenMove, answer="Token", errors=(404, 409), etag=True, if_match=True),
    )
    def move_token(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        """Give the token `id` the public id `new_id` (a rotation); its access token stays."""
        call.authorize(_API, write=True)
        body = call.read(TokenMove)
        moved = call.tokens.move(body.id, body.new_id, if_match=call.if_match)
        return written(moved.to_public())

    @put(
        "/copy",
        sync_to_thread=True,
        summary="Copy a token, with a new access token",
        doc=ApiDoc(body=TokenMove, answer="CreatedToken", errors=(404, 409), if_match=True),
    )
    def copy_token(self, call: NamedDependency[ApiCall]) -> Data:
        """Copy the token `id` to `new_id`; the answer shows the copy's new access token once."""
        call.authorize(_API, write=True)
        body = call.read(TokenMove)
        copied = call.tokens.copy(body.id, body.new_id, if_match=call.if_match)
        return Data(data=copied.to_public())

    @delete(
        "/",
        sync_to_thread=True,
        summary="Delete a token",
        doc=ApiDoc(body=TokenDelete, errors=(404,), if_match=True),
    )
    def delete_token(self, call: NamedDependency[ApiCall]) -> None:
        """Delete the token `id`; 204 with no body."""
        call.authorize(_API, write=True)
        token_id = call.read(TokenDelete).id
        call.tokens.delete(token_id, if_match=call.if_match)

    @post(
        "/generate",
        status_code=200,
        sync_to_thread=True,
        summary="Generate a token",
        doc=ApiDoc(body=Credentials, answer="GeneratedToken"),
    )
    def generate_token(self, call: NamedDependency[ApiCall]) -> Data:
        """32 random lowercase hex characters; nothing is stored."""
        call.authorize(_API, write=True)
        call.read(Credentials)
        return Data(data=GeneratedToken(token=call.tokens.generate()))

    @post(
        "/generate-hash",
        status_code=200,
        sync_to_thread=True,
        summary="Hash a string",
        doc=ApiDoc(body=HashCreate, answer="GeneratedHash"),
    )
    def generate_hash(self, call: NamedDependency[ApiCall]) -> Data:
        """The bcrypt hash (`$2y$`, as PHP makes it) of `string`."""
        return _generate_hash(call)

    @post(
        "/verify-hash",
        status_code=200,
        sync_to_thread=True,
        summary="Check a hash",
        doc=ApiDoc(body=HashVerify, answer="HashVerified"),
    )
    def verify_hash(self, call: NamedDependency[ApiCall]) -> Data:
        """Whether `string` matches the bcrypt `hash` (`$2y$`, `$2b$` or `$2a$`)."""
        return _verify_hash(call)


class TokenAliasesController(Controller):
    """The hyphenated paths of older Flextype clients."""

    path = "/"
    tags = ["Tokens"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post(
        "/tokens-generate-hash",
        status_code=200,
        sync_to_thread=True,
        summary="Hash a string",
        doc=ApiDoc(body=HashCreate, answer="GeneratedHash"),
    )
    def generate_hash_alias(self, call: NamedDependency[ApiCall]) -> Data:
        """`/tokens/generate-hash` under the name older Flextype clients use."""
        return _generate_hash(call)

    @post(
        "/tokens-verify-hash",
        status_code=200,
        sync_to_thread=True,
        summary="Check a hash",
        doc=ApiDoc(body=HashVerify, answer="HashVerified"),
    )
    def verify_hash_alias(self, call: NamedDependency[ApiCall]) -> Data:
        """`/tokens/verify-hash` under the name older Flextype clients use."""
        return _verify_hash(call)
