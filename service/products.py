"""Rendering catalog rows for responses."""

from __future__ import annotations

import math

from service.schemas import Product
from service.state import ServingState


def optional_text(value: object) -> str | None:
    """Missing values of any kind (None, NaN from Parquet) as None, anything else as text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def product(state: ServingState, item: int, store_id: str | None = None) -> Product:
    col = state.catalog.column
    return Product(
        sku=str(col["sku"][item]),
        title=str(col["title"][item]),
        brand=optional_text(col["brand"][item]) if "brand" in col else None,
        category=str(col["category"][item]),
        price=float(state.catalog.prices[item]),
        color=optional_text(col["color"][item]) if "color" in col else None,
        size=optional_text(col["size"][item]) if "size" in col else None,
        stock_in_store=int(state.catalog.stock_in(store_id, item)) if store_id else None,
    )
