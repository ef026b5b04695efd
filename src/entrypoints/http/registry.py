"""The Registry API: read-only items of the manifest and the settings, by dot path."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency

from flextype_core.errors import BadRequest
from flextype_core.etags import entity_tag
from flextype_entrypoints.http.apidoc import ApiDoc
from flextype_entrypoints.http.deps import ApiCall
from flextype_entrypoints.http.responses import Data, RegistryItem

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
        await call.authorize_on_loop("registry", write=False)
        key = call.params.text("id")
        if not isinstance(key, str) or not key:
            raise BadRequest("The parameter 'id' must be a dot path such as flextype.manifest.")
        item = RegistryItem(key=key, value=call.registry.get(key))
        return call.respond(Data(data=item), entity_tag(item))
