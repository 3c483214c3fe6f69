"""Point-of-sale receipts -> import-format events (``import-dataset pos-receipts`` and ``square``).

**The generic POS receipt CSV** (any till system can write it; documented in the README,
"Connectors"): one row per receipt line,

    receipt_id, line, store_id, loyalty_card, timestamp, sku, quantity, unit_price[, email][, phone]

``receipt_id`` + ``line`` identify a line within a store (the event id is
``pos-<store_id>-<receipt_id>-<line>``, so a re-export of the same receipts replaces them), the
timestamp is ISO 8601 (without an offset: local time in ``--timezone``, else UTC), a negative quantity is a returned line.
``loyalty_card``, ``email`` and ``phone`` may be empty (an anonymous receipt). Each line becomes a
``purchase`` or ``return`` event, channel ``store``, ``basket_id`` = ``<store_id>-<receipt_id>``.

**Square** (the "Item Sales Detail" CSV of Square Dashboard > Reports > Sales > Item Sales >
Export, as described in Square's Support Center, https://squareup.com/help): Date, Time, Time Zone, Category, Item, Qty, Price
Point Name, SKU, Modifiers Applied, Gross Sales, Discounts, Net Sales, Tax, Transaction ID, Payment
ID, Device Name, Notes, Details, Event Type (Payment / Refund), Location, Dining Option, Customer ID,
Customer Name, Customer Reference ID, Unit, Count, Itemization Type, Channel. Each row is one event:
a Payment a ``purchase``, a Refund (or a negative Qty) a ``return``; the unit price is Net Sales /
Qty; ``Location`` is the store; the customer's ``Customer Reference ID`` (the shop's own number,
usually the loyalty card) else Square's ``Customer ID`` is the ``loyalty_id``; rows sold through
Square Online are channel ``web``.

Stores seen in the receipts are added to ``stores`` by id (a store table already in ``--out``
keeps its names). Skus are checked against a ``products`` table already in ``--out`` when there
is one (import the catalog first), else left to ``omnirank train``'s validation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from models.errors import InputError
from training.adapters.connectors import (
    Rejects,
    contact,
    existing_skus,
    find_exports,
    integer,
    money,
    read_export,
    require_columns,
    slug,
    time_zone,
    timestamp,
    write_tables,
)

RECEIPT_COLUMNS = (
    "receipt_id",
    "line",
    "store_id",
    "loyalty_card",
    "timestamp",
    "sku",
    "quantity",
    "unit_price",
)
SQUARE_COLUMNS = ("Date", "Time", "Time Zone", "Qty", "SKU", "Net Sales", "Transaction ID", "Location")

SQUARE_ZONES = {
    "Eastern Time (US & Canada)": "America/New_York",
    "Central Time (US & Canada)": "America/Chicago",
    "Mountain Time (US & Canada)": "America/Denver",
    "Arizona": "America/Phoenix",
    "Pacific Time (US & Canada)": "America/Los_Angeles",
    "Alaska": "America/Anchorage",
    "Hawaii": "Pacific/Honolulu",
    "Atlantic Time (Canada)": "America/Halifax",
    "Newfoundland": "America/St_Johns",
    "Saskatchewan": "America/Regina",
    "London": "Europe/London",
    "Edinburgh": "Europe/London",
    "Dublin": "Europe/Dublin",
    "Paris": "Europe/Paris",
    "Madrid": "Europe/Madrid",
    "Berlin": "Europe/Berlin",
    "Amsterdam": "Europe/Amsterdam",
    "Rome": "Europe/Rome",
    "Tokyo": "Asia/Tokyo",
    "Sydney": "Australia/Sydney",
    "Melbourne": "Australia/Melbourne",
    "Brisbane": "Australia/Brisbane",
    "Adelaide": "Australia/Adelaide",
    "Perth": "Australia/Perth",
    "Auckland": "Pacific/Auckland",
    "UTC": "UTC",
}
"""Square writes the Rails names of time zones; an IANA name ('Europe/Lisbon') is accepted too."""


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(SQUARE_ZONES.get(name, name)) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _receipts(
    path: Path, frame: pd.DataFrame, rejects: Rejects, skus: set[str] | None, zone: ZoneInfo | None
) -> list[dict]:
    require_columns(frame, path, RECEIPT_COLUMNS, "a POS receipt CSV (see README: Connectors)")
    events, seen = [], {}
    for i, row in frame.iterrows():
        line = int(i) + 2
        missing = next(
            (c for c in ("receipt_id", "line", "store_id", "timestamp", "sku") if not row[c]), None
        )
        if missing:
            rejects.add(path, line, f"missing {missing}", row)
            continue
        when = timestamp(row["timestamp"], zone, iso=True)
        if pd.isna(when):
            rejects.add(path, line, f"invalid timestamp {row['timestamp']!r} (ISO 8601 expected)", row)
            continue
        quantity = integer(row["quantity"])
        if quantity is None or quantity == 0:
            rejects.add(path, line, f"invalid quantity {row['quantity']!r} (a non-zero whole number)", row)
            continue
        price = money(row["unit_price"])
        if price is None or np.isnan(price) or price < 0:
            rejects.add(path, line, f"invalid unit_price {row['unit_price']!r}", row)
            continue
        if skus is not None and row["sku"] not in skus:
            rejects.add(path, line, "unknown sku (not in the products table of --out)", row)
            continue
        event_id = f"pos-{row['store_id']}-{row['receipt_id']}-{row['line']}"
        if event_id in seen:
            rejects.add(path, line, f"duplicate receipt line (first at line {seen[event_id]})", row)
            continue
        seen[event_id] = line
        email, phone = contact(row.get("email", ""), row.get("phone", ""))
        events.append(
            {
                "event_id": event_id,
                "type": "return" if quantity < 0 else "purchase",
                "timestamp": when,
                "channel": "store",
                "sku": row["sku"],
                "quantity": abs(quantity),
                "price": price,
                "store_id": row["store_id"],
                "basket_id": f"{row['store_id']}-{row['receipt_id']}",
                "loyalty_id": row["loyalty_card"] or None,
                "email": email,
                "phone": phone,
            }
        )
    return events


def _square(
    path: Path, frame: pd.DataFrame, rejects: Rejects, skus: set[str] | None, zone: ZoneInfo | None = None
) -> list[dict]:
    """``zone`` is unused: every Square row names its own time zone."""
    require_columns(frame, path, SQUARE_COLUMNS, "a Square Item Sales Detail export")
    events = []
    counter: dict[str, int] = {}
    for i, row in frame.iterrows():
        line = int(i) + 2
        txn = row["Transaction ID"]
        if not txn:
            rejects.add(path, line, "missing Transaction ID", row)
            continue
        n = counter[txn] = counter.get(txn, 0) + 1
        zone = _zone(row["Time Zone"])
        if zone is None:
            rejects.add(path, line, f"unknown Time Zone {row['Time Zone']!r}", row)
            continue
        local = pd.to_datetime(f"{row['Date']} {row['Time']}", errors="coerce")
        if pd.isna(local):
            rejects.add(path, line, f"invalid Date/Time {row['Date']!r} {row['Time']!r}", row)
            continue
        when = local.tz_localize(zone, ambiguous=True, nonexistent="shift_forward").tz_convert("UTC")
        if not row["SKU"]:
            rejects.add(path, line, "item has no SKU (custom amount or an item without one)", row)
            continue
        if skus is not None and row["SKU"] not in skus:
            rejects.add(path, line, "unknown SKU (not in the products table of --out)", row)
            continue
        quantity = integer(row["Qty"])
        if quantity is None or quantity == 0:
            rejects.add(path, line, f"invalid Qty {row['Qty']!r} (a non-zero whole number of units)", row)
            continue
        net = money(row["Net Sales"])
        if net is None or np.isnan(net):
            rejects.add(path, line, f"invalid Net Sales {row['Net Sales']!r}", row)
            continue
        refund = row.get("Event Type", "").lower() == "refund" or quantity < 0
        location = row["Location"]
        online = "online" in row.get("Channel", "").lower()
        customer = row.get("Customer Reference ID") or row.get("Customer ID") or None
        events.append(
            {
                "event_id": f"square-{txn}-{n}",
                "type": "return" if refund else "purchase",
                "timestamp": when,
                "channel": "web" if online else "store",
                "sku": row["SKU"],
                "quantity": abs(quantity),
                "price": round(abs(net) / abs(quantity), 4),
                "store_id": None if online or not location else slug(location),
                "basket_id": txn,
                "loyalty_id": customer,
                "location": location,
            }
        )
    return events


def convert(kind: str, source: Path, out_dir: Path, timezone: str | None = None) -> dict[str, Any]:
    """``kind`` 'pos-receipts' or 'square': the receipts in ``source`` -> events (and stores) in
    ``out_dir``; ``timezone``: the zone of receipt timestamps without an offset (default UTC)."""
    zone = time_zone(timezone)
    columns = RECEIPT_COLUMNS if kind == "pos-receipts" else SQUARE_COLUMNS
    files = find_exports(source, {kind: columns})[kind]
    if not files:
        raise InputError(f"{source} holds no {kind} CSV (expected columns {list(columns)})")
    rejects = Rejects()
    skus = existing_skus(out_dir)
    read = _receipts if kind == "pos-receipts" else _square
    events: list[dict] = []
    for path in files:
        events += read(path, read_export(path), rejects, skus, zone)
    tables: dict[str, pd.DataFrame] = {}
    if events:
        frame = pd.DataFrame(events)
        names = frame["location"] if "location" in frame.columns else frame["store_id"]
        stores = (
            pd.DataFrame({"store_id": frame["store_id"], "name": names}).dropna().drop_duplicates("store_id")
        )
        tables["events"] = frame.drop(columns=["location"], errors="ignore")
        if len(stores):
            tables["stores"] = stores
    write_tables(out_dir, tables, keep_existing=("stores",))
    rejects.write(out_dir)
    return {
        "files": [p.name for p in files],
        "rows": {k: len(v) for k, v in tables.items()},
        "returns": int(sum(e["type"] == "return" for e in events)),
        "rejected": rejects.report(),
    }
