"""The Images API: media images transformed by Glide parameters, with a token or a signature."""

from __future__ import annotations

from functools import partial
from typing import Any

from anyio import to_thread
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from flextype_core.errors import AccessTokenInvalid
from flextype_entrypoints.http.apidoc import ApiDoc
from flextype_entrypoints.http.deps import ApiCall

__all__ = ["ImagesController"]

_CACHE_CONTROL = "public, max-age=31536000, immutable"
"""A derivative never changes: a changed source or parameter is another URL or ETag."""


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
        self,
        request: Request[Any, Any, Any],
        image_path: FromPath[str],
        call: NamedDependency[ApiCall],
    ) -> Response[bytes]:
        """The image at `media/{image_path}`, transformed by Glide parameters.

        Needs a token for `images`, or instead a signature `s` (with `expires`), so a page
        can embed the URL without a token (`flextype images sign` makes one). A source
        that is not an image is 415; when every render slot is busy, 503 with
        `Retry-After`. Derivatives are cached: `Cache-Control` is a year, immutable.
        """
        # A token for the images API, or else a signature (checked by the service).
        # Token checks and cache hits are in-memory work: they stay on the event loop,
        # and only a render (decode, transform, encode) goes to a worker thread. With
        # the media in a bucket or a database, only hits in memory whose source hash
        # the store knows without a round trip stay; the rest goes to the thread.
        signed = "s" in call.params.values
        authorized = False
        if call.params.token is not None or not signed:
            try:
                await call.authorize_on_loop("images", write=False)
                authorized = True
            except AccessTokenInvalid:
                if not signed:
                    raise
        query = call.params.values
        path = image_path.lstrip("/")
        if call.media_on_loop:
            rendered = call.images.cached(path, query, authorized=authorized)
        else:
            rendered = call.images.known(path, query, authorized=authorized)
        if rendered is None:
            rendered = await to_thread.run_sync(
                partial(call.images.render, path, query, authorized=authorized)
            )
        headers = {"ETag": rendered.etag, "Cache-Control": _CACHE_CONTROL}
        if _matches(request.headers.get("if-none-match"), rendered.etag):
            return Response(b"", status_code=304, headers=headers)
        return Response(rendered.data, media_type=rendered.media_type, headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates
