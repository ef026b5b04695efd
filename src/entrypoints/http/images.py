"""The Images API: media images transformed by Glide parameters, with a token or a signature."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from flextype_entrypoints.http.apidoc import ApiDoc
from flextype_entrypoints.http.deps import ApiCall
from flextype_entrypoints.http.reads import read_image

__all__ = ["ImagesController"]


class ImagesController(Controller):
    path = "/images"
    tags = ["Images"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(
        "/{image_path:path}",
        summary="An image of the media, transformed",
        media_type="image/*",
        doc=ApiDoc(image_query=True, answer="Image", errors=(404, 415, 503), etag=True),
    )
    async def fetch_image(
        self, image_path: FromPath[str], call: NamedDependency[ApiCall]
    ) -> Response[Any]:
        """The image at `media/{image_path}`, transformed by Glide parameters.

        Needs a token for `images`, or instead a signature `s` (with `expires`), so a page
        can embed the URL without a token (`flextype images sign` makes one). A source
        that is not an image is 415; when every render slot is busy, 503 with
        `Retry-After`. Derivatives are cached: `Cache-Control` is a year, immutable.
        """
        return call.respond(await read_image(call, image_path))
