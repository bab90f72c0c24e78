"""``/docs`` (Swagger UI) and ``/redoc`` with their assets served by this app, not by a CDN.

FastAPI's own pages load Swagger UI and ReDoc from jsdelivr, so ``/docs`` is blank on a machine
without internet (the usual case for this service). The assets come from the ``fastapi-offline``
wheel (Swagger UI 5, which renders the OpenAPI 3.1 FastAPI writes, and ReDoc 2); only the page
wiring lives here. The asset paths are fixed (``ASSET_PATHS``) so the auth layer can leave them
open, like the docs pages themselves.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.responses import HTMLResponse, Response

ASSET_PREFIX = "/docs/assets/"
_ASSETS = {
    "swagger-ui-bundle.js": "application/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "application/javascript",
    "favicon.png": "image/png",
}
ASSET_PATHS = frozenset(ASSET_PREFIX + name for name in _ASSETS)


def _asset_bytes(name: str) -> bytes:
    return (resources.files("fastapi_offline") / "static" / name).read_bytes()


def install_offline_docs(app: FastAPI, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Add the docs pages and their assets; ``app`` must be built with ``docs_url=None, redoc_url=None``."""
    oauth2_redirect = docs_url + "/oauth2-redirect"
    cache: dict[str, bytes] = {}

    async def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{oauth2_redirect}",
            swagger_js_url=f"{root}{ASSET_PREFIX}swagger-ui-bundle.js", swagger_css_url=f"{root}{ASSET_PREFIX}swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSET_PREFIX}favicon.png", swagger_ui_parameters=app.swagger_ui_parameters,
        )

    async def redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSET_PREFIX}redoc.standalone.js", redoc_favicon_url=f"{root}{ASSET_PREFIX}favicon.png",
            with_google_fonts=False,
        )

    async def asset(name: str) -> Response:
        if name not in _ASSETS:
            raise HTTPException(404, "no such documentation asset")
        if name not in cache:
            cache[name] = _asset_bytes(name)
        return Response(cache[name], media_type=_ASSETS[name], headers={"Cache-Control": "public, max-age=86400"})

    app.add_api_route(docs_url, swagger, methods=["GET"], include_in_schema=False)
    app.add_api_route(oauth2_redirect, redirect, methods=["GET"], include_in_schema=False)
    app.add_api_route(redoc_url, redoc, methods=["GET"], include_in_schema=False)
    app.add_api_route(ASSET_PREFIX + "{name}", asset, methods=["GET"], include_in_schema=False)
