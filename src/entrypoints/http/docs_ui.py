"""The reference page at ``/docs``: Swagger UI, its scripts and styles served by the server.

The assets come from the ``swagger-ui-py`` distribution (Swagger UI's own ``dist``
files, Apache-2.0), pinned in ``pyproject.toml``, so the page works without internet
access and shows the same UI on every install of one version.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from litestar import Request, Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

__all__ = ["ASSETS_PATH", "SwaggerPage", "swagger_assets"]

ASSETS_PATH = "/swagger/static"
"""Below the OpenAPI router's path (``/schema``)."""
_ASSETS_MAX_AGE = 86_400
"""A day: the URLs do not change with the package's version, so no longer."""


def swagger_assets() -> Path:
    """Return the folder of Swagger UI's dist files inside the ``swagger_ui`` package.

    Raises:
        RuntimeError: the package is not installed (it is a dependency of flextype-py).
    """
    # find_spec locates the package without importing it (its __init__ pulls in jinja2).
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("The swagger-ui-py package is missing; reinstall flextype-py.")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


class SwaggerPage(SwaggerRenderPlugin):
    """Swagger UI at ``/schema/swagger``, every asset from ``/schema/swagger/static``.

    Args:
        schema_path: the OpenAPI router's path.
        complete: completes Litestar's document before it is rendered (``openapi.py``).
    """

    def __init__(self, schema_path: str, complete: Any) -> None:
        assets = schema_path + ASSETS_PATH
        super().__init__(
            js_url=f"{assets}/swagger-ui-bundle.js",
            css_url=f"{assets}/swagger-ui.css",
            standalone_preset_js_url=f"{assets}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{assets}/favicon-32x32.png'>",
            path="/swagger",
        )
        self._complete = complete

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self._complete(openapi_schema, request.app))

    def receive_router(self, router: Router) -> None:
        # Instead of the OAuth2 redirect page (no OAuth here): the assets.
        router.register(
            create_static_files_router(
                path=ASSETS_PATH,
                directories=[swagger_assets()],
                name="swagger-assets",
                cache_control=CacheControlHeader(public=True, max_age=_ASSETS_MAX_AGE),
            )
        )
