"""Live catalog updates: stock, prices and products between trainings.

Each PUT validates every row like the import format (unknown store or sku, negative quantity, bad
price...), stores the valid rows in one transaction of the live store and answers which rows were
rejected and why; the rest is applied. The write bumps the store's live version, so every worker
serves it from its next request on (``service.serving.Serving.refresh_live``), and it survives
restarts and bundle swaps (the overlay is rebuilt from the store).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

import numpy as np
from fastapi import APIRouter, Body, Depends, HTTPException, Query, Security
from fastapi.responses import JSONResponse
from pydantic import BaseModel, TypeAdapter, ValidationError

from models.live.overlay import product_row
from models.loyalty import TIER_PRICE_PREFIX
from models.schemas import SALES_CHANNELS
from models.store import PriceEntry, ProductRecord, StockLevel
from models.text import product_text
from service.deps import get_now, get_serving, get_view, item_of
from service.schemas import (
    WEB_LOCATIONS,
    Availability,
    LiveUpdateResponse,
    PriceDifference,
    PriceIn,
    ProductIn,
    StockIn,
    StoreStock,
    rows_body,
)
from service.security import admin_scope, search_scope
from service.serving import Serving
from service.state import ServingView

router = APIRouter(prefix="/v1", tags=["live catalog"])
MAX_STOCK_ROWS = 100_000
MAX_PRICE_ROWS = 100_000
MAX_PRODUCT_ROWS = 5_000
Row = TypeVar("Row", bound=BaseModel)


@functools.cache
def _list_adapter(model: type[BaseModel]) -> TypeAdapter:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def _validated(
    rows: list[Any], model: type[Row], check: Callable[[Row], str | None], limit: int
) -> tuple[list[tuple[int, Row]], list[dict]]:
    """Each row parsed and checked on its own: (index, row) of the good ones, index and reason of the rest."""
    if not isinstance(rows, list) or not rows:
        raise HTTPException(422, "body must be a JSON array with at least one row")
    if len(rows) > limit:
        raise HTTPException(413, f"at most {limit} rows per request, got {len(rows)}")
    good, rejected = [], []
    try:  # the usual bulk update is all valid: one validation call for the whole list is ~2x faster
        parsed: list[Row | None] = _list_adapter(model).validate_python(rows)
    except ValidationError:
        parsed = [None] * len(rows)
    for i, raw in enumerate(rows):
        row = parsed[i]
        if row is None:
            try:
                row = model.model_validate(raw)
            except ValidationError as exc:
                reason = "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in exc.errors()
                )
                rejected.append({"index": i, "reason": reason})
                continue
        problem = check(row)
        if problem:
            rejected.append({"index": i, "reason": problem})
        else:
            good.append((i, row))
    return good, rejected


def _answer(serving: Serving, applied: int, rejected: list[dict], version: int | None) -> JSONResponse:
    if applied:
        serving.refresh_live()  # this worker serves it from the very next request
    body = LiveUpdateResponse(
        applied=applied,
        rejected=rejected,
        version=version if version is not None else serving.view.overlay.version,
    )
    return JSONResponse(status_code=200 if applied or not rejected else 422, content=body.model_dump())


def _unknown_sku(view: ServingView, sku: str) -> str | None:
    return None if sku in view.catalog.sku_index else f"unknown sku {sku!r} (PUT /v1/products first)"


@router.put(
    "/inventory",
    response_model=LiveUpdateResponse,
    responses={422: {"model": LiveUpdateResponse}},
    dependencies=[Security(admin_scope)],
    openapi_extra=rows_body(StockIn, MAX_STOCK_ROWS),
)
def put_inventory(
    rows: list[Any] = Body(
        ...,
        examples=[
            [
                {"store_id": "ST-SAO", "sku": "SKU-1", "quantity": 0},
                {"store_id": "web", "sku": "SKU-1", "quantity": 12},
            ]
        ],
    ),
    view: ServingView = Depends(get_view),
    serving: Serving = Depends(get_serving),
    now: datetime = Depends(get_now),
) -> JSONResponse:
    """Units on hand per (location, sku), absolute: a store id, or ``web`` / ``warehouse`` for the
    web shop's own stock (0 there takes the product off the online channels)."""

    def check(row: StockIn) -> str | None:
        if row.store_id not in WEB_LOCATIONS and not view.catalog.has_store(row.store_id):
            return f"unknown store_id {row.store_id!r}; known: {view.catalog.store_ids} or 'web'"
        return _unknown_sku(view, row.sku)

    good, rejected = _validated(rows, StockIn, check, MAX_STOCK_ROWS)
    levels = [
        StockLevel("web" if r.store_id in WEB_LOCATIONS else r.store_id, r.sku, r.quantity) for _, r in good
    ]
    version = serving.store.put_stock(levels, now.timestamp()) if levels else None
    return _answer(serving, len(levels), rejected, version)


@router.put(
    "/prices",
    response_model=LiveUpdateResponse,
    responses={422: {"model": LiveUpdateResponse}},
    dependencies=[Security(admin_scope)],
    openapi_extra=rows_body(PriceIn, MAX_PRICE_ROWS),
)
def put_prices(
    rows: list[Any] = Body(
        ...,
        examples=[
            [
                {"sku": "SKU-1", "price": 39.9},
                {
                    "sku": "SKU-1",
                    "price": 29.9,
                    "channel": "app",
                    "valid_from": "2026-11-27T00:00:00Z",
                    "valid_to": "2026-11-30T00:00:00Z",
                },
            ]
        ],
    ),
    view: ServingView = Depends(get_view),
    serving: Serving = Depends(get_serving),
    now: datetime = Depends(get_now),
) -> JSONResponse:
    """Base prices (no channel, store or window) and overrides for a channel, a store and/or a time
    window (a sale). The most specific price that applies wins; a sale shows its list price. To end
    an override early, PUT it again with ``valid_to``."""

    def check(row: PriceIn) -> str | None:
        if row.store_id is not None and not view.catalog.has_store(row.store_id):
            return f"unknown store_id {row.store_id!r}"
        tiers = [t.name.casefold() for t in view.rules.loyalty.tiers]
        if row.tier is not None and tiers and row.tier.casefold() not in tiers:
            return f"unknown loyalty tier {row.tier!r}; the rules file's loyalty tiers are {tiers}"
        return _unknown_sku(view, row.sku)

    good, rejected = _validated(rows, PriceIn, check, MAX_PRICE_ROWS)
    entries = [
        PriceEntry(
            r.sku,
            r.price,
            r.list_price,
            f"{TIER_PRICE_PREFIX}{r.tier.casefold()}" if r.tier is not None else r.channel,
            r.store_id,
            _unix(r.valid_from),
            _unix(r.valid_to),
        )
        for _, r in good
    ]
    version = serving.store.put_prices(entries, now.timestamp()) if entries else None
    return _answer(serving, len(entries), rejected, version)


@router.put(
    "/products",
    response_model=LiveUpdateResponse,
    responses={422: {"model": LiveUpdateResponse}},
    dependencies=[Security(admin_scope)],
    openapi_extra=rows_body(ProductIn, MAX_PRODUCT_ROWS),
)
def put_products(
    rows: list[Any] = Body(
        ...,
        examples=[
            [
                {
                    "sku": "SKU-NEW-1",
                    "title": "Trailblaze Runner 2 - Red",
                    "category": "Footwear > Running Shoes",
                    "price": 79.9,
                    "brand": "Stridex",
                    "color": "red",
                }
            ]
        ],
    ),
    view: ServingView = Depends(get_view),
    serving: Serving = Depends(get_serving),
    now: datetime = Depends(get_now),
) -> JSONResponse:
    """Add or change products (the import format's product columns). A new product is searchable
    (keywords and meaning: its text is encoded now with the served encoder), recommendable by
    content similarity and accepts events from the next request on; the next training folds it in."""
    good, rejected = _validated(rows, ProductIn, lambda row: None, MAX_PRODUCT_ROWS)
    latest = {r.sku: r for _, r in good}  # a sku twice in one request: the last row wins
    fields = [r.model_dump(exclude_none=True, exclude={"sku"}) for r in latest.values()]
    texts = [product_text(product_row(ProductRecord(sku, f))) for sku, f in zip(latest, fields, strict=True)]
    vectors = view.base.search.encoder.encode(texts) if texts else np.empty((0, 0))
    records = [
        ProductRecord(sku, f, vectors[j], encoder=view.base.encoder_id)
        for j, (sku, f) in enumerate(zip(latest, fields, strict=True))
    ]
    version = serving.store.put_products(records, now.timestamp()) if records else None
    return _answer(serving, len(records), rejected, version)


@router.delete("/products/{sku}", response_model=LiveUpdateResponse, dependencies=[Security(admin_scope)])
def discontinue_product(
    sku: str,
    view: ServingView = Depends(get_view),
    serving: Serving = Depends(get_serving),
    now: datetime = Depends(get_now),
) -> JSONResponse:
    """Take a product off sale everywhere at once: no search, recommendation or email shows it.
    Its history stays; PUT it again to bring it back."""
    if sku not in view.catalog.sku_index:
        raise HTTPException(404, f"unknown sku {sku!r}")
    version = serving.store.put_products([ProductRecord(sku, {}, None, discontinued=True)], now.timestamp())
    return _answer(serving, 1, [], version)


@router.get(
    "/products/{sku}/availability", response_model=Availability, dependencies=[Security(search_scope)]
)
def availability(sku: str, view: ServingView = Depends(get_view)) -> Availability:
    """Where the product can be bought now: stores with units on hand, and the online channels."""
    item = item_of(view, sku)
    catalog = view.catalog
    quantities = catalog.stock[:, item]
    stores = [
        StoreStock(store_id=s, quantity=int(q))
        for s, q in zip(catalog.store_ids, quantities, strict=True)
        if q > 0
    ]
    web = int(catalog.web_stock[item])
    return Availability(
        sku=sku,
        stores=sorted(stores, key=lambda s: (-s.quantity, s.store_id)),
        web_quantity=None if web < 0 else web,
        channels={ch: bool(catalog.available(ch)[item]) for ch in SALES_CHANNELS},
    )


@router.get("/prices/differences", response_model=list[PriceDifference], dependencies=[Security(admin_scope)])
def price_differences(
    limit: int = Query(100, ge=1, le=10_000),
    view: ServingView = Depends(get_view),
    now: datetime = Depends(get_now),
) -> list[PriceDifference]:
    """Products whose price now differs between channels or stores, so differences stay on purpose."""
    catalog, t = view.catalog, now.timestamp()
    by_channel = {ch: catalog.price_view(ch, None, t).price for ch in SALES_CHANNELS}
    stores = sorted({str(s) for s in catalog.price_book.store if s})
    by_store = {s: catalog.price_view("store", s, t).price for s in stores}
    listed = np.stack([catalog.available(ch) for ch in SALES_CHANNELS])
    matrix = np.stack([by_channel[ch] for ch in SALES_CHANNELS] + [by_store[s] for s in stores])
    listed = np.vstack([listed, np.repeat(catalog.available("store")[None, :], len(stores), axis=0)])
    shown = np.where(listed, matrix, np.nan)
    with np.errstate(invalid="ignore"):
        spread = np.nanmax(shown, axis=0) - np.nanmin(shown, axis=0)
    items = np.flatnonzero(np.nan_to_num(spread) > 1e-9)[:limit]
    return [
        PriceDifference(
            sku=str(catalog.skus[i]),
            title=str(catalog.column["title"][i]),
            channels={ch: float(by_channel[ch][i]) for ch in SALES_CHANNELS if catalog.available(ch)[i]},
            stores={s: float(by_store[s][i]) for s in stores if by_store[s][i] != by_channel["store"][i]},
        )
        for i in items
    ]


def _unix(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
