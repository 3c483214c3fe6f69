"""WooCommerce's CSV exports -> the import format (``omnirank import-dataset woocommerce``).

* **products**: the built-in product CSV exporter (Products > Export; columns as in
  https://woocommerce.com/document/product-csv-importer-exporter/ and the "Product CSV Import
  Schema" of the WooCommerce wiki): ID, Type (simple, variable, variation, grouped, external; may
  carry ", virtual"/", downloadable"), SKU, Name, Published (1 published, 0 private, -1 draft),
  Short description, Description, Sale price, Regular price, Categories ('A > B, C'), Tags, Images
  (comma-separated URLs), Parent ('id:123' or the parent's SKU), Stock, Attribute N name / value(s),
  Brands. A *variable* product is not sold itself: each of its *variations* becomes one sku row with
  the parent's name, brand, category and description; an attribute named Color/Colour (Size)
  fills ``color`` (``size``). The first category path and the first image are kept; the price is
  the sale price when there is one (``list_price`` the regular one). WooCommerce keeps one
  shop-wide stock count, not stock per store, so ``Stock`` is not imported (post it as web stock
  to ``PUT /v1/inventory``).
* **orders**: WooCommerce core exports no orders; the shape read is the official "Customer / Order /
  Coupon Export" extension's CSV, one row per line item (https://woocommerce.com/document/ordercustomer-csv-export/):
  order_id (or order_number), order_date (in the site's time zone: ``--timezone``), status, billing_email, billing_phone, item_sku,
  item_quantity, item_total (the line total after discounts) and optionally item_refunded_qty.
  Completed, processing and on-hold orders are purchases (refunded ones a purchase and a return, a
  refunded quantity a return), channel ``web``, ``basket_id`` = the order id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from models.errors import InputError
from training.adapters.connectors import (
    Rejects,
    contact,
    customers_from,
    existing_skus,
    find_exports,
    integer,
    money,
    option_kind,
    read_export,
    shop_base,
    strip_html,
    time_zone,
    timestamp,
    write_tables,
)

KINDS = {
    "orders": ("order_date", "status", "item_sku", "item_quantity"),
    "products": ("ID", "Type", "SKU", "Name", "Regular price"),
}
SOLD = {"completed", "processing", "on-hold", "refunded"}


def _attributes(row: pd.Series) -> list[tuple[str, str]]:
    out, k = [], 1
    while f"Attribute {k} name" in row.index:
        out.append((row[f"Attribute {k} name"], row.get(f"Attribute {k} value(s)", "")))
        k += 1
    return out


def _parent_key(value: str) -> tuple[str, str]:
    return ("id", value[3:].strip()) if value.lower().startswith("id:") else ("sku", value)


def _products(path: Path, frame: pd.DataFrame, rejects: Rejects, base: str | None) -> list[dict]:
    by_id = {r["ID"]: r for _, r in frame.iterrows() if r["ID"]}
    by_sku = {r["SKU"]: r for _, r in frame.iterrows() if r["SKU"]}
    out: list[dict] = []
    seen: dict[str, int] = {}
    for i, row in frame.iterrows():
        line = int(i) + 2
        kind = row["Type"].split(",")[0].strip().lower()
        if kind == "variable":
            continue  # sold through its variations
        if kind in {"grouped", "external"}:
            rejects.add(path, line, f"{kind} product (not sold by this shop itself)", row)
            continue
        if kind not in {"simple", "variation"}:
            rejects.add(path, line, f"unknown Type {row['Type']!r}", row)
            continue
        parent = row
        if kind == "variation":
            how, key = _parent_key(row.get("Parent", ""))
            parent = (by_id if how == "id" else by_sku).get(key)
            if parent is None:
                rejects.add(path, line, f"variation of an unknown Parent {row.get('Parent', '')!r}", row)
                continue
        published = row.get("Published", "1")
        if published != "1" or parent.get("Published", "1") != "1":
            state = {"0": "private", "-1": "draft"}.get(published, published)
            rejects.add(path, line, f"not published (Published {state})", row)
            continue
        categories = parent.get("Categories", "")
        category = categories.split(",")[0].strip() if categories else ""
        if not category:
            rejects.add(path, line, "no Categories (the import format needs a category)", row)
            continue
        regular, sale = money(row.get("Regular price", "")), money(row.get("Sale price", ""))
        price = sale if sale is not None else regular
        if price is None or np.isnan(price) or price < 0:
            rejects.add(path, line, "missing or invalid Regular price", row)
            continue
        sku = row["SKU"] or (f"woo-{row['ID']}" if row["ID"] else "")
        if not sku:
            rejects.add(path, line, "no SKU and no ID", row)
            continue
        if sku in seen:
            rejects.add(path, line, f"duplicate SKU {sku!r} (first at line {seen[sku]})", row)
            continue
        seen[sku] = line
        images = [u.strip() for u in (row.get("Images") or parent.get("Images", "")).split(",") if u.strip()]
        attributes = dict(_attributes(parent))
        brand = parent.get("Brands", "") or next(
            (v for n, v in attributes.items() if n.strip().lower() == "brand"), ""
        )
        record = {
            "sku": sku,
            "title": parent["Name"],
            "description": strip_html(parent.get("Description") or parent.get("Short description", "")),
            "brand": brand.split(",")[0].strip() or None,
            "category": category,
            "color": None,
            "size": None,
            "price": price,
            "list_price": regular if sale is not None and regular is not None and regular > sale else None,
            "url": f"{base}/?post_type=product&p={parent['ID']}" if base and parent["ID"] else None,
            "image_url": images[0] if images else None,
        }
        for name, value in _attributes(row):
            which = option_kind(name)
            if which and value and "," not in value:  # a simple product listing several values has none
                record[which] = value.lower() if which == "color" else value
        out.append(record)
    return out


def _orders(
    path: Path, frame: pd.DataFrame, rejects: Rejects, skus: set[str] | None, zone: ZoneInfo | None
) -> tuple[list, list]:
    order_col = "order_id" if "order_id" in frame.columns else "order_number"
    if order_col not in frame.columns:
        raise InputError(f"{path} is not a WooCommerce order export: no order_id or order_number column")
    events, people = [], []
    line_no: dict[str, int] = {}
    for i, row in frame.iterrows():
        line = int(i) + 2
        order = row[order_col]
        if not order:
            rejects.add(path, line, f"missing {order_col}", row)
            continue
        n = line_no[order] = line_no.get(order, 0) + 1
        status = row["status"].lower().removeprefix("wc-")
        if status not in SOLD:
            rejects.add(path, line, f"order not sold (status {status or 'empty'!r})", row)
            continue
        when = timestamp(row["order_date"], zone)
        if pd.isna(when):
            rejects.add(path, line, "missing or invalid order_date", row)
            continue
        sku = row["item_sku"]
        if not sku:
            rejects.add(path, line, "line item has no SKU", row)
            continue
        if skus is not None and sku not in skus:
            rejects.add(path, line, "unknown item_sku (not in the products export)", row)
            continue
        quantity = integer(row["item_quantity"])
        if quantity is None or quantity <= 0:
            rejects.add(path, line, f"invalid item_quantity {row['item_quantity']!r}", row)
            continue
        total = money(row.get("item_total", ""))
        if total is not None and (np.isnan(total) or total < 0):
            rejects.add(path, line, f"invalid item_total {row['item_total']!r}", row)
            continue
        email, phone = contact(row.get("billing_email", ""), row.get("billing_phone", ""))
        event = {
            "event_id": f"woo-{order}-{n}",
            "type": "purchase",
            "timestamp": when,
            "channel": "web",
            "sku": sku,
            "quantity": quantity,
            "price": None if total is None else round(total / quantity, 4),
            "basket_id": order,
            "email": email,
            "phone": phone,
        }
        events.append(event)
        refunded = quantity if status == "refunded" else abs(integer(row.get("item_refunded_qty", "")) or 0)
        if refunded:
            events.append(
                {**event, "event_id": f"{event['event_id']}-return", "type": "return", "quantity": refunded}
            )
        people.append({"email": email, "phone": phone, "email_consent": None})
    return events, people


def convert(
    source: Path, out_dir: Path, shop_domain: str | None = None, timezone: str | None = None
) -> dict[str, Any]:
    """Write the import-format tables of the WooCommerce exports in ``source`` to ``out_dir``;
    ``timezone``: the site's time zone, in which the order dates are written (default UTC)."""
    base = shop_base(shop_domain)
    zone = time_zone(timezone)
    found = find_exports(source, KINDS)
    if not found["products"] and not found["orders"]:
        raise InputError(
            f"{source} holds no WooCommerce export (products: {list(KINDS['products'])}, "
            f"orders: {list(KINDS['orders'])} columns)"
        )
    rejects = Rejects()
    products: list[dict] = []
    for path in found["products"]:
        products += _products(path, read_export(path), rejects, base)
    skus = {p["sku"] for p in products} | (existing_skus(out_dir) or set()) or None
    events: list[dict] = []
    people: list[dict] = []
    for path in found["orders"]:
        e, p = _orders(path, read_export(path), rejects, skus, zone)
        events += e
        people += p
    tables: dict[str, pd.DataFrame] = {}
    if products:
        tables["products"] = pd.DataFrame(products)
    if events:
        tables["events"] = pd.DataFrame(events)
        customers = customers_from(people, "woo", "web")
        if len(customers):
            tables["customers"] = customers
    write_tables(out_dir, tables)
    rejects.write(out_dir)
    return {
        "files": {k: [p.name for p in v] for k, v in found.items() if v},
        "rows": {k: len(v) for k, v in tables.items()},
        "rejected": rejects.report(),
    }
