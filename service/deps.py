"""Dependencies shared by routers: the current serving view, settings, the clock, validation helpers.

The dependencies here are ``async`` because they never wait: FastAPI runs a sync dependency in the
thread pool, and each such hop costs more than the dependency itself under load.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Query, Request

from models import i18n
from models.config import Settings
from service.serving import Serving
from service.state import ServingView


async def get_serving(request: Request) -> Serving:
    return request.app.state.serving


async def get_view(request: Request) -> ServingView:
    """The view this request reads from start to end, with live rules, stock, prices and products
    brought up to date first (one ``stat`` and one indexed read when nothing changed): a change
    written by any worker process is in effect from this process's next request on. During an A/B
    test it is the view of the shopper's arm (``service/experiment.py``)."""
    return request.app.state.arms.pick(request).current()


async def require_recs(view: ServingView = Depends(get_view)) -> ServingView:
    """The view of a bundle that has recommendation models; 503 for a search-only one.

    Why 503 and not 404: the route and the customer may well exist; this deployment cannot answer
    until a bundle trained on customer events is served.
    """
    if view.recs is None:
        raise HTTPException(
            503,
            f"bundle {view.bundle.version} is search-only (trained from a catalog without customer "
            "events): recommendations and customer profiles need a bundle trained with an events table",
        )
    return view


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_now(request: Request) -> datetime:
    """The service clock's now (injected in ``create_app``, so tests pin it)."""
    return request.app.state.serving.clock()


def clean_text(value: str, field: str, max_chars: int, allow_empty: bool = False) -> str:
    """Reject what a search box should never send: control characters, undecodable bytes, 10 kB."""
    if len(value) > max_chars:
        raise HTTPException(422, f"{field} is {len(value)} characters long; the limit is {max_chars}")
    if "\ufffd" in value:
        raise HTTPException(422, f"{field} is not valid UTF-8")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise HTTPException(422, f"{field} contains control characters")
    value = " ".join(value.split())
    if not value and not allow_empty:
        raise HTTPException(422, f"{field} must not be empty")
    return value


def check_store(view: ServingView, store_id: str | None) -> None:
    if store_id is not None and not view.catalog.has_store(store_id):
        raise HTTPException(404, f"unknown store_id {store_id!r}; known stores: {view.catalog.store_ids}")


def item_of(view: ServingView, sku: str) -> int:
    """The live item index of a product that is on sale (404 for an unknown or discontinued sku)."""
    item = view.catalog.sku_index.get(sku)
    if item is None or not view.catalog.active[item]:
        raise HTTPException(404, f"unknown sku {sku!r}" if item is None else f"sku {sku!r} is discontinued")
    return item


async def get_language(
    lang: Annotated[
        str | None,
        Query(
            max_length=16,
            description="Language of labels, notes and reasons: en, bn, hi or pt (a region such as "
            "bn-BD is fine). Default: the best of the Accept-Language header, else en.",
        ),
    ] = None,
    accept_language: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> str:
    """The reader's language; an explicit ``lang`` the service cannot speak is a 422, a header
    one is negotiated away (browsers send many)."""
    if lang is not None and i18n.pick_language(lang) != lang.strip().lower()[:2]:
        raise HTTPException(422, f"lang must be one of {', '.join(i18n.LANGUAGES)}; got {lang!r}")
    return i18n.pick_language(lang, accept_language)
