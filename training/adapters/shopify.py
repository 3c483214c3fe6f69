"""Shopify's CSV exports -> the import format (``omnirank import-dataset shopify``).

Reads, from a folder (or one file), whichever of Shopify admin's three exports it holds, each
recognised by its header (file names do not matter):

* **products** (Products > Export; columns as documented at
  https://help.shopify.com/en/manual/products/import-export/using-csv): one row per variant, rows
  of one product share the ``Handle``; only the product's first row carries Title, Body (HTML),
  Vendor, Product Category/Type, Tags, Published, Status and the option *names*; later rows carry
  only variant fields (option values, Variant SKU, Variant Price, ...) or only an extra image.
  Each variant becomes one sku row with its product's title, vendor (brand) and category; an option
  named Color/Colour (Size) fills ``color`` (``size``).
* **inventory** (Products > Inventory > Export; one row per variant and location): ``Available``
  (else ``On hand``) per ``Location`` -> ``inventory``, every location a store.
* **customers** (Customers > Export): a customer record per email (else phone) with
  ``email_consent`` from Accepts Email Marketing (Accepts Marketing in older exports), buyers or not;
  it states today's consent, so it wins over the orders' Accepts Marketing.
* **orders** (Orders > Export; one row per line item, order fields on the order's first line):
  each line a ``purchase`` with ``basket_id`` = the order name, channel ``web`` (``store`` for
  Shopify POS orders, ``Source`` = pos), identifiers from Email and the phones; one customer record
  per email (else phone), ``email_consent`` from Accepts Marketing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    slug,
    strip_html,
    truthy,
    write_tables,
)

KINDS = {
    "orders": ("Name", "Lineitem sku", "Lineitem quantity"),
    "products": ("Handle", "Title", "Variant SKU", "Variant Price"),
    "inventory": ("Handle", "SKU", "Location"),
    "customers": ("First Name", "Last Name", "Email", "Total Orders"),
}
CATEGORY_COLUMNS = ("Product Category", "Type", "Standard Product Type", "Custom Product Type")
STOCK_COLUMNS = ("Available", "Available (not editable)", "On hand", "On hand (current)")
INACTIVE = {"draft", "archived"}
PAID = {"paid", "partially_paid", "authorized", "partially_refunded", "refunded"}
ORDER_FIELDS = (
    "Email",
    "Financial Status",
    "Paid at",
    "Created at",
    "Cancelled at",
    "Accepts Marketing",
    "Accepts Email Marketing",
    "Billing Phone",
    "Shipping Phone",
    "Phone",
    "Source",
    "Location",
)


def variant_key(handle: str, values: list[str]) -> str:
    """The sku of a variant without a Variant SKU: its handle, plus its option values when it has
    any (Shopify's single variant has the one value 'Default Title')."""
    real = [v for v in values if v and v != "Default Title"]
    return "/".join([handle, *real]) if real else handle


def _options(row: pd.Series) -> list[str]:
    return [row.get(f"Option{k} Value", "") for k in (1, 2, 3)]


def _products(
    path: Path, frame: pd.DataFrame, rejects: Rejects, base: str | None, report: dict, names: dict[str, str]
) -> list[dict]:
    """Variant rows -> product rows; ``names`` gets each variant's line item name (Shopify's
    'Title - Value1 / Value2'), by which orders find the variants that have no SKU."""
    parents: dict[str, dict[str, Any]] = {}
    images: dict[str, tuple[float, str]] = {}
    variants: list[tuple[int, pd.Series]] = []
    for i, row in frame.iterrows():
        line = int(i) + 2
        handle = row["Handle"]
        if not handle:
            rejects.add(path, line, "missing Handle", row)
            continue
        if handle not in parents and row["Title"]:
            parents[handle] = {
                "title": row["Title"],
                "description": strip_html(row.get("Body (HTML)", "")),
                "brand": row.get("Vendor") or None,
                "category": next((row[c] for c in CATEGORY_COLUMNS if row.get(c)), None),
                "published": truthy(row.get("Published", "")),
                "status": row.get("Status", "").lower(),
                "gift_card": truthy(row.get("Gift Card", "")),
                "option_names": [row.get(f"Option{k} Name", "") for k in (1, 2, 3)],
            }
        src = row.get("Image Src", "")
        if src:
            position = pd.to_numeric(row.get("Image Position", ""), errors="coerce")
            position = float(line) + 1e6 if pd.isna(position) else float(position)
            if handle not in images or position < images[handle][0]:
                images[handle] = (position, src)
        if row["Variant SKU"] or row["Variant Price"] or any(_options(row)):
            variants.append((line, row))
        else:
            report["image_rows"] += 1
    out: list[dict] = []
    seen: dict[str, int] = {}
    for line, row in variants:
        handle = row["Handle"]
        parent = parents.get(handle)
        if parent is None:
            rejects.add(path, line, "variant of a Handle whose first row (with the Title) is missing", row)
            continue
        if parent["status"] in INACTIVE:
            rejects.add(path, line, f"product Status is {parent['status']} (not for sale)", row)
            continue
        if parent["gift_card"]:
            rejects.add(path, line, "gift card (not a product to recommend)", row)
            continue
        if not parent["category"]:
            rejects.add(path, line, "no Product Category or Type (the import format needs a category)", row)
            continue
        price = money(row["Variant Price"])
        if price is None or np.isnan(price) or price < 0:
            rejects.add(path, line, "missing or invalid Variant Price", row)
            continue
        values = _options(row)
        sku = row["Variant SKU"] or variant_key(handle, values)
        if sku in seen:
            rejects.add(path, line, f"duplicate sku {sku!r} (first at line {seen[sku]})", row)
            continue
        seen[sku] = line
        compare = money(row.get("Variant Compare At Price", ""))
        record = {
            "sku": sku,
            "title": parent["title"],
            "description": parent["description"],
            "brand": parent["brand"],
            "category": parent["category"],
            "color": None,
            "size": None,
            "price": price,
            "list_price": compare
            if compare is not None and not np.isnan(compare) and compare > price
            else None,
            "available_web": parent["published"] is not False,
            "url": f"{base}/products/{handle}" if base else None,
            "image_url": row.get("Variant Image") or images.get(handle, (0, None))[1],
        }
        for name, value in zip(parent["option_names"], values, strict=True):
            kind = option_kind(name)
            if kind and value:
                record[kind] = value.lower() if kind == "color" else value
        out.append(record)
        real = [v for v in values if v and v != "Default Title"]
        names[f"{parent['title']} - {' / '.join(real)}" if real else parent["title"]] = sku
    return out


def _inventory(path: Path, frame: pd.DataFrame, rejects: Rejects, skus: set[str], report: dict) -> list[dict]:
    column = next((c for c in STOCK_COLUMNS if c in frame.columns), None)
    if column is None:
        raise InputError(f"{path} is not a Shopify inventory export: no column of {list(STOCK_COLUMNS)}")
    rows = []
    for i, row in frame.iterrows():
        line = int(i) + 2
        sku = row["SKU"] or variant_key(row["Handle"], _options(row))  # as the products without a SKU
        location = row["Location"]
        if not location:
            rejects.add(path, line, "missing Location", row)
            continue
        if row[column].strip().lower() == "not stocked":
            report["not_stocked_rows"] += 1
            continue
        stock = integer(row[column])
        if stock is None:
            rejects.add(path, line, f"invalid {column} {row[column]!r}", row)
            continue
        if sku not in skus:
            rejects.add(path, line, "unknown SKU (not in the products export)", row)
            continue
        rows.append({"store_id": slug(location), "name": location, "sku": sku, "stock": max(stock, 0)})
    return rows


def _orders(
    path: Path,
    frame: pd.DataFrame,
    rejects: Rejects,
    skus: set[str] | None,
    names: dict[str, str],
    report: dict,
) -> tuple[list[dict], list[dict]]:
    frame = frame.copy()
    present = [c for c in ORDER_FIELDS if c in frame.columns]
    # Order fields are on an order's first line only: carry them to its other lines.
    frame[present] = frame[present].replace("", np.nan).groupby(frame["Name"]).ffill().fillna("")
    events, people = [], []
    line_no: dict[str, int] = {}
    for i, row in frame.iterrows():
        line = int(i) + 2
        name = row["Name"]
        if not name:
            rejects.add(path, line, "missing Name (order number)", row)
            continue
        n = line_no[name] = line_no.get(name, 0) + 1
        status = row.get("Financial Status", "").lower()
        if row.get("Cancelled at"):
            rejects.add(path, line, "order cancelled", row)
            continue
        if status not in PAID:
            rejects.add(path, line, f"order not paid (Financial Status {status or 'empty'!r})", row)
            continue
        when = pd.to_datetime(row.get("Created at") or row.get("Paid at"), utc=True, errors="coerce")
        if pd.isna(when):
            rejects.add(path, line, "missing or invalid Created at", row)
            continue
        sku = row["Lineitem sku"] or names.get(row.get("Lineitem name", ""), "")
        if not sku:
            rejects.add(path, line, "line item has no SKU (custom item, tip or shipping)", row)
            continue
        if skus is not None and sku not in skus:
            rejects.add(path, line, "unknown Lineitem sku (not in the products export)", row)
            continue
        quantity = integer(row["Lineitem quantity"])
        if quantity is None or quantity <= 0:
            rejects.add(path, line, f"invalid Lineitem quantity {row['Lineitem quantity']!r}", row)
            continue
        price = money(row.get("Lineitem price", ""))
        if price is not None and (np.isnan(price) or price < 0):
            rejects.add(path, line, f"invalid Lineitem price {row['Lineitem price']!r}", row)
            continue
        phone_raw = row.get("Billing Phone") or row.get("Phone") or row.get("Shipping Phone") or ""
        email, phone = contact(row.get("Email", ""), phone_raw)
        report["identifiers_dropped"] += int(bool(row.get("Email")) and email is None)
        report["identifiers_dropped"] += int(bool(phone_raw) and phone is None)
        pos = row.get("Source", "").lower() == "pos"
        event = {
            "event_id": f"shopify-{name.lstrip('#')}-{n}",
            "type": "purchase",
            "timestamp": when,
            "channel": "store" if pos else "web",
            "sku": sku,
            "quantity": quantity,
            "price": price,
            "store_id": slug(row["Location"]) if pos and row.get("Location") else None,
            "basket_id": name,
            "email": email,
            "phone": phone,
        }
        events.append({**event, "location": row["Location"]} if event["store_id"] else event)
        if status == "refunded":  # the whole order came back (the export says not when: at the order's time)
            events.append({**event, "event_id": event["event_id"] + "-return", "type": "return"})
        accepts = row.get("Accepts Marketing") or row.get("Accepts Email Marketing", "")  # newer exports
        people.append({"email": email, "phone": phone, "email_consent": truthy(accepts)})
    return events, people


def _customers(path: Path, frame: pd.DataFrame, rejects: Rejects, report: dict) -> list[dict]:
    """The customers export (Customers > Export): every customer's email, phone and marketing consent,
    buyers or not."""
    people = []
    for i, row in frame.iterrows():
        email, phone = contact(row["Email"], row.get("Phone", ""))
        if email is None and phone is None:
            rejects.add(path, int(i) + 2, "no valid Email or Phone", row)
            continue
        report["identifiers_dropped"] += int(bool(row["Email"]) and email is None)
        accepts = row.get("Accepts Email Marketing") or row.get("Accepts Marketing", "")
        people.append({"email": email, "phone": phone, "email_consent": bool(truthy(accepts))})
    return people


def convert(source: Path, out_dir: Path, shop_domain: str | None = None) -> dict[str, Any]:
    """Write the import-format tables of the Shopify exports in ``source`` to ``out_dir``."""
    base = shop_base(shop_domain)
    found = find_exports(source, KINDS)
    if not any(found.values()):
        raise InputError(
            f"{source} holds no Shopify export (products: {list(KINDS['products'])}, "
            f"inventory: {list(KINDS['inventory'])}, orders: {list(KINDS['orders'])}, "
            f"customers: {list(KINDS['customers'])} columns)"
        )
    rejects = Rejects()
    report = {"image_rows": 0, "not_stocked_rows": 0, "identifiers_dropped": 0}
    products: list[dict] = []
    names: dict[str, str] = {}
    for path in found["products"]:
        products += _products(path, read_export(path), rejects, base, report, names)
    skus = {p["sku"] for p in products} | (existing_skus(out_dir) or set())
    if not products and not skus:
        skus = None
    stock: list[dict] = []
    for path in found["inventory"]:
        if skus is None:
            raise InputError(f"{path}: an inventory export needs the products export beside it")
        stock += _inventory(path, read_export(path), rejects, skus, report)
    events: list[dict] = []
    people: list[dict] = []
    for path in found["orders"]:
        e, p = _orders(path, read_export(path), rejects, skus, names, report)
        events += e
        people += p
    for path in found["customers"]:  # after the orders: the customers export states today's consent
        people += _customers(path, read_export(path), rejects, report)
    tables: dict[str, pd.DataFrame] = {}
    if products:
        tables["products"] = pd.DataFrame(products)
    locations = [(s["store_id"], s["name"]) for s in stock] + [
        (e["store_id"], e.pop("location")) for e in events if "location" in e
    ]
    if locations:
        tables["stores"] = pd.DataFrame(locations, columns=["store_id", "name"]).drop_duplicates("store_id")
    if stock:
        frame = pd.DataFrame(stock)
        tables["inventory"] = frame.groupby(["store_id", "sku"], as_index=False)["stock"].sum()
    if events:
        tables["events"] = pd.DataFrame(events)
    customers = customers_from(people, "shopify", "web")
    if len(customers):
        tables["customers"] = customers
    write_tables(out_dir, tables)
    rejects.write(out_dir)
    return {
        "files": {k: [p.name for p in v] for k, v in found.items() if v},
        "rows": {k: len(v) for k, v in tables.items()},
        **{k: int(v) for k, v in report.items()},
        "rejected": rejects.report(),
    }
