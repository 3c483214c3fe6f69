"""The stores a shopper or an associate can pick (the storefront's store picker, the tablet's store)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd
from fastapi import APIRouter, Depends, Security
from pydantic import BaseModel

from service.deps import get_view
from service.security import search_scope
from service.state import ServingView

router = APIRouter(prefix="/v1", tags=["stores"])


class StoreOut(BaseModel):
    store_id: str
    name: str | None = None
    city: str | None = None
    country: str | None = None


@lru_cache(maxsize=4)
def _store_names(bundle_path: Path) -> dict[str, dict[str, str | None]]:
    """The stores table the bundle was trained with (names and cities), if it ships one."""
    path = bundle_path / "catalog" / "stores.parquet"
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError):
        return {}
    out = {}
    for row in frame.to_dict("records"):
        out[str(row["store_id"])] = {
            f: (None if pd.isna(row.get(f)) else str(row.get(f))) for f in ("name", "city", "country")
        }
    return out


@router.get("/stores", response_model=list[StoreOut], dependencies=[Security(search_scope)])
def stores(view: ServingView = Depends(get_view)) -> list[StoreOut]:
    """Every store the served catalog holds stock for (the ``store_id`` values other routes accept)."""
    names = _store_names(view.bundle.path)
    return [StoreOut(store_id=s, **names.get(s, {})) for s in view.catalog.store_ids]
