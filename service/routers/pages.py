"""The people's pages: storefront (``/``), associate tablet (``/associate``), merchandiser
(``/admin``) and evaluation report (``/report``).

Static HTML, CSS and JavaScript shipped in the package (``service/pages``), no build step. The pages
are public, like ``/docs``: they hold no data. Every figure on them comes from the public API, called
from the browser with a key the person types (kept in the tab's ``sessionStorage``), or, for the
storefront, with the public storefront key the operator configured (``OMNIRANK_STOREFRONT_KEY``, a
``search`` key, the one kind that is safe to ship in a web page; ``GET /pages/config.json`` hands
it out only when it is a valid search key). Every page writes catalog and customer text with
``textContent`` only, and the Content-Security-Policy forbids inline scripts, so a product title
holding ``<script>`` is shown as text.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from service.security import public

logger = logging.getLogger(__name__)
PAGES_DIR = Path(__file__).resolve().parents[1] / "pages"
ASSETS_URL = "/pages-assets"
PAGES = {"/": "index.html", "/associate": "associate.html", "/admin": "admin.html", "/report": "report.html"}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False, dependencies=[Depends(public)], tags=["pages"])


def _page(file: str):
    async def page() -> FileResponse:
        return FileResponse(PAGES_DIR / file, media_type="text/html; charset=utf-8", headers=HEADERS)

    page.__name__ = f"page_{file.removesuffix('.html')}"
    return page


for _path, _file in PAGES.items():
    router.add_api_route(_path, _page(_file), methods=["GET"])


@router.get("/pages/config.json")
async def pages_config(request: Request) -> JSONResponse:
    """What the pages need before their first call: the public storefront key (only when it is a
    valid ``search`` key: a key of a wider scope is never handed out) and whether the service runs
    in development mode (no key needed)."""
    settings = request.app.state.settings
    serving = request.app.state.serving
    storefront_key = None
    configured = settings.storefront_key.get_secret_value() if settings.storefront_key else None
    if configured:
        found = serving.keyring().authenticate(configured, serving.clock().timestamp())
        if found is not None and found.scope == "search":
            storefront_key = configured
        else:
            logger.warning("OMNIRANK_STOREFRONT_KEY is not a valid search-scope key: not handed to pages")
    return JSONResponse(
        {"storefront_key": storefront_key, "dev_mode": bool(settings.dev_mode)},
        headers={"Cache-Control": "no-store"},
    )


def serve_pages(app: FastAPI) -> None:
    """Add the four pages, their assets under ``/pages-assets`` and ``/pages/config.json``."""
    app.mount(ASSETS_URL, StaticFiles(directory=PAGES_DIR.as_posix()), name="pages-assets")
    app.include_router(router)
