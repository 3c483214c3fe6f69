"""Rendering catalog rows for responses."""

from __future__ import annotations

import math

from service.schemas import Product
from service.state import ServingState


def _opt(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def product(state: ServingState, item: int, store_id: str | None = None) -> Product:
    col = state.catalog.column
    return Product(
        sku=str(col["sku"][item]),
        title=str(col["title"][item]),
        brand=_opt(col["brand"][item]) if "brand" in col else None,
        category=str(col["category"][item]),
        price=float(state.catalog.prices[item]),
        color=_opt(col["color"][item]) if "color" in col else None,
        size=_opt(col["size"][item]) if "size" in col else None,
        stock_in_store=int(state.catalog.stock_in(store_id, item)) if store_id else None,
    )
