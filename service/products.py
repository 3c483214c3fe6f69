"""Rendering catalog rows for responses, with the live price for the caller's channel and store."""

from __future__ import annotations

import math
from datetime import datetime

from models.live.prices import PriceView
from service.schemas import Product
from service.state import ServingView


def optional_text(value: object) -> str | None:
    """Missing values of any kind (None, NaN from Parquet) as None, anything else as text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def prices_for(view: ServingView, channel: str | None, store_id: str | None, now: datetime) -> PriceView:
    """Every product's live price for a shopper in ``channel`` (web when unsaid) and ``store_id``."""
    return view.catalog.price_view(channel or ("store" if store_id else "web"), store_id, now.timestamp())


def product(view: ServingView, item: int, prices: PriceView, store_id: str | None = None) -> Product:
    col = view.catalog.column
    list_price = float(prices.list_price[item])
    return Product(
        sku=str(col["sku"][item]),
        title=str(col["title"][item]),
        brand=optional_text(col["brand"][item]) if "brand" in col else None,
        category=str(col["category"][item]),
        price=float(prices.price[item]),
        list_price=None if math.isnan(list_price) else list_price,
        color=optional_text(col["color"][item]) if "color" in col else None,
        size=optional_text(col["size"][item]) if "size" in col else None,
        stock_in_store=int(view.catalog.stock_in(store_id, item)) if store_id else None,
        url=optional_text(col["url"][item]) if "url" in col else None,
        image_url=optional_text(col["image_url"][item]) if "image_url" in col else None,
    )
