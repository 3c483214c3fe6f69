"""Each customer's latest interactions: written by training (``history_table``), read by the service
(``load_history``) for the business rules of its lists and the associate's timeline. One module,
because the writer and the reader of one artifact must agree on its columns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models.catalog import Catalog
from models.columns import as_str


@dataclass
class Interaction:
    """One past event of a customer, as the rules need it."""

    item: int
    type: str
    timestamp: pd.Timestamp
    channel: str
    weight: float = 1.0
    store_id: str | None = None
    quantity: int = 1
    price: float | None = None  # unit price paid (purchases, returns)


HISTORY_TYPES = ("purchase", "return", "add_to_cart", "view")


def history_table(events: pd.DataFrame, catalog: Catalog, per_customer: int = 100) -> pd.DataFrame:
    """Each identified customer's latest interactions (any channel), for rules and the timeline.

    The latest rows are chosen on two narrow columns (timestamp, an integer code per customer) and
    each output column is then taken once at those rows, kept in Arrow: at 20M events, sorting and
    grouping the five columns and turning them into Python objects was the training's memory peak.
    """
    rows = np.flatnonzero((events["customer_id"].notna() & events["type"].isin(HISTORY_TYPES)).to_numpy())
    customer_codes, _ = pd.factorize(events["customer_id"].array[rows])
    narrow = pd.DataFrame({"timestamp": events["timestamp"].array[rows], "customer": customer_codes})
    latest = narrow.sort_values("timestamp", ascending=False).groupby("customer").head(per_customer)
    taken = rows[latest.index.to_numpy()]

    def column(name: str) -> pd.Series:
        return events[name].iloc[taken]

    return pd.DataFrame(
        {
            "customer_id": as_str(column("customer_id")).array,
            "item": catalog.indices(column("sku")),
            "type": as_str(column("type")).array,
            "timestamp": pd.to_datetime(column("timestamp"), utc=True).array,
            "channel": as_str(column("channel")).array,
            "store_id": pd.array(_optional(events, "store_id", taken), dtype="str"),
            "quantity": pd.to_numeric(_optional(events, "quantity", taken), errors="coerce")
            .fillna(1)
            .astype("int64")
            .to_numpy(),
            "price": pd.to_numeric(_optional(events, "price", taken), errors="coerce").to_numpy(dtype=float),
        }
    )


def _optional(events: pd.DataFrame, name: str, rows: np.ndarray) -> pd.Series:
    """Column ``name`` at ``rows`` as plain values (empty when the events have no such column)."""
    if name not in events.columns:
        return pd.Series([None] * len(rows), dtype=object)
    values = events[name].iloc[rows].astype(object)
    return values.where(values.notna(), None).reset_index(drop=True)


def load_history(path: Path) -> dict[str, list[Interaction]]:
    table = pd.read_parquet(path)
    out: dict[str, list[Interaction]] = {}
    ts = pd.to_datetime(table["timestamp"], utc=True)
    n = len(table)
    # bundles from before the timeline carried store, quantity and price load without them
    stores = table["store_id"] if "store_id" in table else [None] * n
    quantities = table["quantity"] if "quantity" in table else [1] * n
    prices = table["price"] if "price" in table else [None] * n
    for cid, item, etype, t, ch, store, qty, price in zip(
        table["customer_id"],
        table["item"],
        table["type"],
        ts,
        table["channel"],
        stores,
        quantities,
        prices,
        strict=True,
    ):
        out.setdefault(cid, []).append(
            Interaction(
                int(item),
                etype,
                t,
                ch,
                store_id=store if isinstance(store, str) else None,
                quantity=int(qty) if pd.notna(qty) else 1,
                price=float(price) if price is not None and pd.notna(price) else None,
            )
        )
    return out
