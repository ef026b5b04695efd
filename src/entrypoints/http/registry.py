"""The Registry API: read-only items of the manifest and the settings, by dot path."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency

from flextype_entrypoints.http.apidoc import ApiDoc
from flextype_entrypoints.http.deps import ApiCall
from flextype_entrypoints.http.reads import read_registry_item

__all__ = ["RegistryController"]


class RegistryController(Controller):
    path = "/registry"
    tags = ["Registry"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(
        "/",
        summary="Fetch a registry item by its dot path",
        doc=ApiDoc(query=("id",), answer="RegistryItem", errors=(404,), etag=True),
    )
    async def fetch_registry_item(self, call: NamedDependency[ApiCall]) -> Response[Any]:
        """The value at the dot path `id` (`flextype.manifest.version`), or the subtree.

        The registry holds `flextype.manifest.*` and `flextype.settings.*`, never a secret.
        """
        return call.respond(await read_registry_item(call))
