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
    row = state.catalog.products.iloc[item]
    return Product(
        sku=str(row["sku"]),
        title=str(row["title"]),
        brand=_opt(row.get("brand")),
        category=str(row["category"]),
        price=float(row["price"]),
        color=_opt(row.get("color")),
        size=_opt(row.get("size")),
        stock_in_store=int(state.catalog.stock_in(store_id, item)) if store_id else None,
    )
