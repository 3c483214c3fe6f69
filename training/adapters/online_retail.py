"""UCI Online Retail II -> the ``eval-recs`` interactions format and the omnirank import format.

The raw file is a real shop's invoice lines, mess included. Every line that is not a positive,
personal purchase of a real product is either re-labelled (cancellations become returns, guest
lines stay for co-purchase signal without a user) or dropped with its count reported, never
dropped silently.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.errors import InputError, InputNotFound

RAW_COLUMNS = ("Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID")

NON_PRODUCT = re.compile(
    r"^(POST|DOT|M|C2|C3|D|S|B|PADS|AMAZONFEE|BANK CHARGES|CRUK|GIFT)$|^ADJUST|^TEST|^GIFT_",
    re.IGNORECASE,
)
"""Postage, fees, manual adjustments, discounts, bad-debt write-offs, test lines, gift vouchers."""


def read_online_retail(path: str | Path) -> pd.DataFrame:
    """The raw sheet (Parquet or CSV) with its columns checked."""
    p = Path(path)
    if not p.exists():
        raise InputNotFound(f"Online Retail file not found: {p}")
    try:
        raw = (
            pd.read_parquet(p)
            if p.suffix == ".parquet"
            else pd.read_csv(p, dtype={"Invoice": str, "StockCode": str})
        )
    except ValueError as exc:  # a malformed file (pandas' and pyarrow's parse errors are ValueErrors)
        raise InputError(f"cannot read {p}: {exc}") from exc
    missing = [c for c in RAW_COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(f"{p} is not Online Retail II: missing column(s) {missing}")
    return raw


def online_retail_to_interactions(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Interactions (user_id, item_id, timestamp, quantity, basket_id, channel, type) and a drop report.

    ``type`` is ``purchase`` or ``return`` (cancellation invoices 'C...' / negative quantities);
    returns are kept for the record but are not positives. ``user_id`` is empty for guest lines.
    """
    report: dict[str, Any] = {"raw_lines": len(raw)}
    df = raw.copy()
    code = df["StockCode"].astype(str).str.strip().str.upper()
    non_product = code.str.match(NON_PRODUCT)
    report["dropped_non_product_lines"] = int(non_product.sum())
    report["dropped_non_product_by_code"] = {
        str(k): int(v) for k, v in code[non_product].value_counts().items()
    }
    df, code = df[~non_product], code[~non_product]

    is_return = df["Invoice"].astype(str).str.upper().str.startswith("C") | (df["Quantity"] < 0)
    report["returns_lines"] = int(is_return.sum())
    zero_price = ~is_return & (df["Price"] <= 0)
    report["dropped_price_zero_lines"] = int(zero_price.sum())
    zero_qty = df["Quantity"] == 0
    report["dropped_zero_quantity_lines"] = int((zero_qty & ~zero_price).sum())
    keep = ~zero_price & ~zero_qty
    df, code, is_return = df[keep], code[keep], is_return[keep]

    report["missing_description_lines_kept"] = int(df["Description"].isna().sum())
    customer = df["Customer ID"]
    guest = customer.isna()
    report["guest_lines"] = int(guest.sum())
    report["guest_purchase_lines"] = int((guest & ~is_return).sum())
    user = customer.map(lambda x: "" if pd.isna(x) else str(int(x)))
    out = pd.DataFrame(
        {
            "user_id": user.to_numpy(),
            "item_id": code.to_numpy(),
            "timestamp": pd.to_datetime(df["InvoiceDate"]).dt.tz_localize("UTC").to_numpy(),
            "quantity": df["Quantity"].abs().astype(np.int64).to_numpy(),
            "basket_id": df["Invoice"].astype(str).to_numpy(),
            "channel": "web",
            "type": np.where(is_return.to_numpy(), "return", "purchase"),
            "price": df["Price"].astype(float).to_numpy(),
            "description": df["Description"].to_numpy(),
        }
    )
    report["kept_lines"] = len(out)
    report["kept_purchase_lines"] = int((out["type"] == "purchase").sum())
    report["customers"] = int(out.loc[out["user_id"] != "", "user_id"].nunique())
    report["items"] = int(out["item_id"].nunique())
    return out, report


def interactions_to_import_format(interactions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(products, events) in the import format, for ``omnirank train`` on this retailer.

    The dataset has no categories, so every product gets one; the title is the most frequent
    description of the code and the price its median purchase price.
    """
    buys = interactions[interactions["type"] == "purchase"]
    titles = (
        interactions.dropna(subset=["description"])
        .groupby("item_id")["description"]
        .agg(lambda s: s.value_counts().index[0].strip())
    )
    prices = buys.groupby("item_id")["price"].median()
    items = pd.Index(interactions["item_id"].unique())
    products = pd.DataFrame(
        {
            "sku": items,
            "title": titles.reindex(items).fillna(pd.Series(items, index=items)).to_numpy(),
            "category": "Gifts & Homeware",
            "price": prices.reindex(items).fillna(0.0).to_numpy(),
        }
    )
    events = pd.DataFrame(
        {
            "event_id": [f"or-{i}" for i in range(len(interactions))],
            "type": interactions["type"].to_numpy(),
            "timestamp": interactions["timestamp"].to_numpy(),
            "channel": interactions["channel"].to_numpy(),
            "sku": interactions["item_id"].to_numpy(),
            "quantity": interactions["quantity"].to_numpy(),
            "price": interactions["price"].to_numpy(),
            "basket_id": interactions["basket_id"].to_numpy(),
            "loyalty_id": interactions["user_id"].replace("", None).to_numpy(),
        }
    )
    return products, events


def write_import_format(interactions: pd.DataFrame, out_dir: str | Path) -> Path:
    """products.parquet + events.parquet under ``out_dir``."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    products, events = interactions_to_import_format(interactions)
    products.to_parquet(d / "products.parquet", index=False)
    events.to_parquet(d / "events.parquet", index=False)
    return d
