"""The Tokens API: manage tokens, and generate or check tokens and hashes."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, delete, get, patch, post, put
from litestar.di import NamedDependency

from flextype_core import PageMeta
from flextype_core.etags import entity_tag
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

    @get("/", sync_to_thread=True, summary="Fetch a token, or the list of tokens")
    def fetch_token(self, call: NamedDependency[ApiCall]) -> Response[Any]:
        call.authorize(_API, write=False)
        if is_truthy(call.params.options().get("collection")):
            listed = [t.to_public() for t in call.tokens.list()]
            unreadable = tuple(call.tokens.unreadable())
            meta = PageMeta(total=len(listed), offset=0, limit=None, unreadable=unreadable)
            payload = Data(data=listed, meta=meta)
            return call.respond(payload, entity_tag(payload))
        token = call.tokens.fetch(call.params.text("id")).to_public()
        return call.respond(Data(data=token), entity_tag(token))

    @post("/", status_code=200, sync_to_thread=True, summary="Create a token")
    def create_token(self, call: NamedDependency[ApiCall]) -> Data:
        call.authorize(_API, write=True)
        body = call.read(TokenCreate)
        return Data(data=call.tokens.create(body.data, body.id).to_public())

    @patch("/", sync_to_thread=True, summary="Update a token")
    def update_token(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        call.authorize(_API, write=True)
        body = call.read(TokenUpdate)
        return written(call.tokens.update(body.id, body.data, if_match=call.if_match).to_public())

    @put("/", sync_to_thread=True, summary="Move a token to a new public id")
    def move_token(self, call: NamedDependency[ApiCall]) -> Response[Data]:
        call.authorize(_API, write=True)
        body = call.read(TokenMove)
        moved = call.tokens.move(body.id, body.new_id, if_match=call.if_match)
        return written(moved.to_public())

    @put("/copy", sync_to_thread=True, summary="Copy a token, with a new access token")
    def copy_token(self, call: NamedDependency[ApiCall]) -> Data:
        call.authorize(_API, write=True)
        body = call.read(TokenMove)
        copied = call.tokens.copy(body.id, body.new_id, if_match=call.if_match)
        return Data(data=copied.to_public())

    @delete("/", sync_to_thread=True, summary="Delete a token")
    def delete_token(self, call: NamedDependency[ApiCall]) -> None:
        call.authorize(_API, write=True)
        token_id = call.read(TokenDelete).id
        call.tokens.delete(token_id, if_match=call.if_match)

    @post("/generate", status_code=200, sync_to_thread=True, summary="Generate a token")
    def generate_token(self, call: NamedDependency[ApiCall]) -> Data:
        call.authorize(_API, write=True)
        call.read(Credentials)
        return Data(data=GeneratedToken(token=call.tokens.generate()))

    @post("/generate-hash", status_code=200, sync_to_thread=True, summary="Hash a string")
    def generate_hash(self, call: NamedDependency[ApiCall]) -> Data:
        return _generate_hash(call)

    @post("/verify-hash", status_code=200, sync_to_thread=True, summary="Check a hash")
    def verify_hash(self, call: NamedDependency[ApiCall]) -> Data:
        return _verify_hash(call)


class TokenAliasesController(Controller):
    """The hyphenated paths of older Flextype clients."""

    path = "/"
    tags = ["Tokens"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post("/tokens-generate-hash", status_code=200, sync_to_thread=True, summary="Hash a string")
    def generate_hash_alias(self, call: NamedDependency[ApiCall]) -> Data:
        return _generate_hash(call)

    @post("/tokens-verify-hash", status_code=200, sync_to_thread=True, summary="Check a hash")
    def verify_hash_alias(self, call: NamedDependency[ApiCall]) -> Data:
        return _verify_hash(call)
