"""Shop and POS connectors: each tool's export (tests/fixtures/<tool>/, shaped as the tool writes it)
-> the import format, exactly; every row it cannot map rejected with its reason; the output passes
``training/ingest.py`` validation with nothing quarantined."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from models.catalog import Catalog
from training.adapters.connectors import money, strip_html
from training.cli import app
from training.ingest import ingest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CDN = "https://cdn.shopify.com/s/files/1/0001/files/"
WP = "https://shop.example/wp-content/uploads/2026/09/"


def run(*args: str) -> str:
    result = CliRunner().invoke(app, ["import-dataset", *args])
    assert result.exit_code == 0, result.output
    return result.output


def table(out: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(out / f"{name}.parquet")


def records(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    return [tuple(None if pd.isna(v) else v for v in row) for row in frame[columns].itertuples(index=False)]


def rejected(out: Path) -> list[tuple[str, int, str]]:
    lines = (out / "rejected.jsonl").read_text(encoding="utf-8").splitlines()
    return sorted((r["file"], r["line"], r["reason"]) for r in map(json.loads, lines))


def assert_clean_ingest(out: Path, tmp_path: Path) -> None:
    result = ingest(out, tmp_path / "quarantine.jsonl")
    assert result.report()["quarantined_total"] == 0, result.report()


def test_shopify_products_inventory_and_orders(tmp_path):
    out = tmp_path / "shop"
    run(
        "shopify",
        "--source",
        str(FIXTURES / "shopify"),
        "--out",
        str(out),
        "--shop-domain",
        "trailhead.example",
    )
    products = table(out, "products")
    assert records(
        products, ["sku", "title", "brand", "category", "color", "size", "price", "list_price", "available_web"]
    ) == [
        ("TR-RED-42", "Trail Runner", "Stridex", "Apparel & Accessories > Shoes > Running Shoes", "red", "42", 79.9, 99.0, True),
        ("TR-RED-43", "Trail Runner", "Stridex", "Apparel & Accessories > Shoes > Running Shoes", "red", "43", 79.9, 99.0, True),
        ("TR-BLU-42", "Trail Runner", "Stridex", "Apparel & Accessories > Shoes > Running Shoes", "blue", "42", 74.9, None, True),
        ("canvas-tote", "Canvas Tote", "Hemp & Co", "Bags", None, None, 25.0, None, False),
        ("WS-M", "Wool Socks", "Stridex", "Apparel & Accessories > Clothing > Socks", None, "M", 9.5, None, True),
    ]  # fmt: skip
    by_sku = products.set_index("sku")
    assert by_sku.loc["TR-RED-42", "description"] == "Grippy trail shoe & light. Vibram sole"
    assert by_sku.loc["WS-M", "description"] == "Merino warm socks"  # the script is gone too
    assert by_sku.loc["canvas-tote", "description"] == "Sturdy tote for the market"
    assert by_sku["url"].to_dict() == {
        "TR-RED-42": "https://trailhead.example/products/trail-runner",
        "TR-RED-43": "https://trailhead.example/products/trail-runner",
        "TR-BLU-42": "https://trailhead.example/products/trail-runner",
        "canvas-tote": "https://trailhead.example/products/canvas-tote",
        "WS-M": "https://trailhead.example/products/wool-socks",
    }
    assert by_sku["image_url"].to_dict() == {
        "TR-RED-42": CDN + "trail-red.jpg",
        "TR-RED-43": CDN + "trail-red.jpg",
        "TR-BLU-42": CDN + "trail-blue.jpg",  # its Variant Image
        "canvas-tote": CDN + "tote.jpg",
        "WS-M": CDN + "socks.jpg",
    }
    assert records(table(out, "stores"), ["store_id", "name"]) == [
        ("downtown-store", "Downtown Store"),
        ("mall-store", "Mall Store"),
    ]
    assert sorted(records(table(out, "inventory"), ["store_id", "sku", "stock"])) == [
        ("downtown-store", "TR-RED-42", 3),  # Available, not On hand (one unit is committed)
        ("downtown-store", "TR-RED-43", 5),
        ("downtown-store", "canvas-tote", 7),  # a variant without a SKU, found by handle and options
        ("mall-store", "TR-RED-42", 0),
        ("mall-store", "WS-M", 0),  # oversold (-2) is no stock
    ]
    events = table(out, "events")
    assert records(
        events, ["event_id", "type", "channel", "sku", "quantity", "price", "store_id", "basket_id", "email", "phone"]
    ) == [
        ("shopify-1001-1", "purchase", "web", "TR-RED-42", 1, 79.9, None, "#1001", "ann@example.com", "+1 (555) 010-2345"),
        ("shopify-1001-2", "purchase", "web", "WS-M", 2, 9.5, None, "#1001", "ann@example.com", "+1 (555) 010-2345"),
        ("shopify-1002-1", "purchase", "web", "canvas-tote", 1, 25.0, None, "#1002", "bob@example.com", None),
        ("shopify-1003-1", "purchase", "web", "TR-BLU-42", 1, 74.9, None, "#1003", "ann@example.com", None),
        ("shopify-1003-1-return", "return", "web", "TR-BLU-42", 1, 74.9, None, "#1003", "ann@example.com", None),
        ("shopify-1006-3", "purchase", "store", "TR-RED-43", 1, 79.9, "downtown-store", "#1006", None, "555-010-9999"),
    ]  # fmt: skip
    assert str(events["timestamp"].iloc[0]) == "2026-09-01 14:15:00+00:00"  # -0400 in the export
    customers = table(out, "customers")
    assert records(customers, ["source", "email", "phone", "email_consent"]) == [
        ("web", "ann@example.com", "+1 (555) 010-2345", True),
        ("web", "bob@example.com", None, True),  # "no" on his order, "yes" in today's customers export
        ("web", None, "555-010-9999", False),
        ("web", "cara@example.com", "+1 555 010 7777", True),  # subscribed, no order yet
    ]
    assert customers["record_id"].is_unique and not customers["record_id"].str.contains("@").any()
    products_csv, inventory_csv, orders_csv, customers_csv = (
        "products_export_1.csv",
        "inventory_export_1.csv",
        "orders_export_1.csv",
        "customers_export.csv",
    )
    assert rejected(out) == sorted(
        [
            (products_csv, 7, "product Status is archived (not for sale)"),
            (products_csv, 8, "gift card (not a product to recommend)"),
            (products_csv, 9, "no Product Category or Type (the import format needs a category)"),
            (products_csv, 10, "missing or invalid Variant Price"),
            (products_csv, 12, "duplicate sku 'TR-RED-42' (first at line 2)"),
            (products_csv, 13, "variant of a Handle whose first row (with the Title) is missing"),
            (inventory_csv, 8, "unknown SKU (not in the products export)"),
            (inventory_csv, 9, "invalid Available (not editable) 'lots'"),
            (orders_csv, 6, "order cancelled"),
            (orders_csv, 7, "order not paid (Financial Status 'pending')"),
            (orders_csv, 8, "line item has no SKU (custom item, tip or shipping)"),
            (orders_csv, 9, "unknown Lineitem sku (not in the products export)"),
            (customers_csv, 4, "no valid Email or Phone"),
        ]
    )
    assert stat.S_IMODE((out / "rejected.jsonl").stat().st_mode) == 0o600  # rejected rows hold emails
    assert_clean_ingest(out, tmp_path)
    catalog = Catalog.build(table(out, "products"), table(out, "inventory"), ["downtown-store", "mall-store"])
    assert catalog.column["url"][catalog.sku_index["WS-M"]] == "https://trailhead.example/products/wool-socks"


def test_shopify_without_a_shop_domain_has_no_urls_and_a_reimport_replaces_its_rows(tmp_path):
    out = tmp_path / "shop"
    for _ in range(2):
        run("shopify", "--source", str(FIXTURES / "shopify"), "--out", str(out))
    products = table(out, "products")
    assert len(products) == 5 and products["url"].isna().all() and products["image_url"].notna().all()
    assert (
        len(table(out, "events")) == 6
        and len(table(out, "customers")) == 4
        and len(table(out, "inventory")) == 5
    )


def test_woocommerce_products_and_orders(tmp_path):
    out = tmp_path / "woo"
    run(
        "woocommerce",
        "--source",
        str(FIXTURES / "woocommerce"),
        "--out",
        str(out),
        "--shop-domain",
        "shop.example",
    )
    products = table(out, "products")
    assert records(
        products, ["sku", "title", "brand", "category", "color", "size", "price", "list_price", "url", "image_url"]
    ) == [
        ("HOOD-GREY-S", "Merino Hoodie", "Northpeak", "Clothing > Hoodies", "grey", "S", 45.0, 60.0,
         "https://shop.example/?post_type=product&p=10", WP + "hoodie.jpg"),
        ("HOOD-NAVY-M", "Merino Hoodie", "Northpeak", "Clothing > Hoodies", "navy", "M", 60.0, None,
         "https://shop.example/?post_type=product&p=10", WP + "hoodie-navy.jpg"),
        ("BOTTLE-1", "Steel Bottle", None, "Kitchen > Bottles", "silver", None, 19.99, None,
         "https://shop.example/?post_type=product&p=20", WP + "bottle.jpg"),
        ("woo-21", "Trail Guide (ebook)", None, "Books", None, None, 5.0, None,
         "https://shop.example/?post_type=product&p=21", None),
    ]  # fmt: skip
    assert products.set_index("sku").loc["HOOD-GREY-S", "description"] == "Soft merino hoodie. Warm & light."
    assert records(
        table(out, "events"),
        ["event_id", "type", "channel", "sku", "quantity", "price", "basket_id", "email"],
    ) == [
        ("woo-501-1", "purchase", "web", "HOOD-GREY-S", 1, 45.0, "501", "eve@example.com"),
        ("woo-501-2", "purchase", "web", "BOTTLE-1", 2, 19.99, "501", "eve@example.com"),
        ("woo-501-2-return", "return", "web", "BOTTLE-1", 1, 19.99, "501", "eve@example.com"),
        ("woo-502-1", "purchase", "web", "woo-21", 1, 5.0, "502", "frank@example.com"),
        ("woo-505-1", "purchase", "web", "HOOD-NAVY-M", 1, 60.0, "505", "eve@example.com"),
        ("woo-505-1-return", "return", "web", "HOOD-NAVY-M", 1, 60.0, "505", "eve@example.com"),
    ]
    assert records(table(out, "customers"), ["email", "phone", "email_consent"]) == [
        ("eve@example.com", "+44 7700 900123", False),  # the order export says nothing of consent
        ("frank@example.com", None, False),
    ]
    products_csv, orders_csv = "wc-product-export-2-12-2026.csv", "orders-export-2026-09.csv"
    assert rejected(out) == sorted(
        [
            (products_csv, 5, "not published (Published private)"),
            (products_csv, 8, "grouped product (not sold by this shop itself)"),
            (products_csv, 9, "external product (not sold by this shop itself)"),
            (products_csv, 10, "not published (Published draft)"),
            (products_csv, 11, "no Categories (the import format needs a category)"),
            (products_csv, 12, "variation of an unknown Parent 'id:99'"),
            (products_csv, 13, "missing or invalid Regular price"),
            (orders_csv, 5, "order not sold (status 'cancelled')"),
            (orders_csv, 6, "line item has no SKU"),
            (orders_csv, 7, "unknown item_sku (not in the products export)"),
        ]
    )
    assert_clean_ingest(out, tmp_path)


def test_pos_receipts_and_square_merge_into_the_shop_import(tmp_path):
    out = tmp_path / "retailer"
    run("shopify", "--source", str(FIXTURES / "shopify"), "--out", str(out))
    run("pos-receipts", "--source", str(FIXTURES / "pos-receipts"), "--out", str(out))
    receipts = "receipts-2026-09-20.csv"
    assert rejected(out) == [
        (receipts, 6, "invalid timestamp 'yesterday' (ISO 8601 expected)"),
        (receipts, 7, "invalid quantity '0' (a non-zero whole number)"),
        (receipts, 8, "unknown sku (not in the products table of --out)"),
        (receipts, 9, "invalid unit_price '-2'"),
        (receipts, 10, "duplicate receipt line (first at line 2)"),
        (receipts, 11, "missing receipt_id"),
    ]
    run("square", "--source", str(FIXTURES / "square"), "--out", str(out))
    square = "items-2026-09-22-2026-09-26.csv"
    assert rejected(out) == [
        (square, 6, "item has no SKU (custom amount or an item without one)"),
        (square, 7, "unknown Time Zone 'Mars Standard Time'"),
        (square, 8, "invalid Qty '0.5' (a non-zero whole number of units)"),
    ]
    events = table(out, "events")
    store_events = events[~events["event_id"].str.startswith("shopify-")]
    columns = [
        "event_id",
        "type",
        "channel",
        "sku",
        "quantity",
        "price",
        "store_id",
        "basket_id",
        "loyalty_id",
    ]
    assert records(store_events, columns) == [
        ("pos-downtown-store-R100-1", "purchase", "store", "TR-RED-42", 1, 79.9, "downtown-store", "downtown-store-R100", "LC 0001"),
        ("pos-downtown-store-R100-2", "purchase", "store", "WS-M", 3, 9.5, "downtown-store", "downtown-store-R100", "LC 0001"),
        ("pos-mall-store-R101-1", "purchase", "store", "canvas-tote", 1, 25.0, "mall-store", "mall-store-R101", None),
        ("pos-downtown-store-R102-1", "return", "store", "TR-RED-42", 1, 79.9, "downtown-store", "downtown-store-R102", "LC 0002"),
        ("square-txnA1-1", "purchase", "store", "TR-RED-42", 1, 79.9, "downtown-store", "txnA1", "LC 0001"),
        ("square-txnA1-2", "purchase", "store", "WS-M", 2, 8.55, "downtown-store", "txnA1", "LC 0001"),
        ("square-txnB2-1", "purchase", "store", "canvas-tote", 1, 25.0, "pop-up-market", "txnB2", None),
        ("square-txnR3-1", "return", "store", "TR-RED-42", 1, 79.9, "downtown-store", "txnR3", "LC 0001"),
        ("square-txnD5-1", "purchase", "web", "TR-RED-43", 1, 79.9, None, "txnD5", "CUST9"),
    ]  # fmt: skip
    when = dict(zip(store_events["event_id"], store_events["timestamp"].astype(str), strict=True))
    assert when["pos-downtown-store-R100-1"] == "2026-09-20 14:05:00+00:00"
    assert when["pos-downtown-store-R102-1"] == "2026-09-21 09:00:00+00:00"  # no offset: UTC
    assert when["square-txnA1-1"] == "2026-09-22 13:15:02+00:00"  # Eastern daylight time
    assert when["square-txnB2-1"] == "2026-09-23 21:00:00+00:00"  # Pacific daylight time
    assert len(events) == 6 + 9  # the shop's orders are still there
    assert records(table(out, "stores"), ["store_id", "name"]) == [
        ("downtown-store", "Downtown Store"),  # the shop's name, kept
        ("mall-store", "Mall Store"),
        ("pop-up-market", "Pop-up Market"),
    ]
    assert_clean_ingest(out, tmp_path)


def test_timezone_places_times_written_without_an_offset(tmp_path):
    out = tmp_path / "retailer"
    run("shopify", "--source", str(FIXTURES / "shopify"), "--out", str(out))
    run(
        "pos-receipts",
        "--source",
        str(FIXTURES / "pos-receipts"),
        "--out",
        str(out),
        "--timezone",
        "America/New_York",
    )
    events = table(out, "events").set_index("event_id")["timestamp"].astype(str)
    assert events["pos-downtown-store-R102-1"] == "2026-09-21 13:00:00+00:00"  # 09:00 EDT
    assert events["pos-downtown-store-R100-1"] == "2026-09-20 14:05:00+00:00"  # its own offset wins
    woo = tmp_path / "woo"
    run(
        "woocommerce",
        "--source",
        str(FIXTURES / "woocommerce"),
        "--out",
        str(woo),
        "--timezone",
        "Europe/London",
    )
    assert table(woo, "events").set_index("event_id")["timestamp"].astype(str)["woo-501-1"] == (
        "2026-09-10 10:00:00+00:00"  # 11:00 BST
    )
    bad = CliRunner().invoke(
        app, ["import-dataset", "pos-receipts", "--source", str(FIXTURES / "pos-receipts"), "--out", str(out),
              "--timezone", "Mars/Olympus"],
    )  # fmt: skip
    assert bad.exit_code == 2 and "is not a time zone" in bad.output


def test_a_folder_without_an_export_and_a_wrong_file_are_clear_errors(tmp_path):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    runner = CliRunner()
    for tool in ("shopify", "woocommerce", "pos-receipts", "square"):
        result = runner.invoke(
            app, ["import-dataset", tool, "--source", str(junk), "--out", str(tmp_path / "o")]
        )
        assert result.exit_code == 2 and "holds no" in result.output, result.output
    inventory_only = tmp_path / "inv"
    inventory_only.mkdir()
    shutil.copy(FIXTURES / "shopify" / "inventory_export_1.csv", inventory_only)
    result = runner.invoke(
        app, ["import-dataset", "shopify", "--source", str(inventory_only), "--out", str(tmp_path / "o2")]
    )
    assert result.exit_code == 2 and "needs the products export" in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<p>Soft <b>merino</b>.</p><p>Warm&nbsp;&amp; light</p>", "Soft merino. Warm & light"),
        ("<style>p{}</style>Plain<br>text", "Plain text"),
        ("   ", None),
    ],
)
def test_strip_html(text, expected):
    assert strip_html(text) == expected


def test_money_reads_the_tools_formats():
    assert [money(v) for v in ("12.5", "$1,234.50", "-$3.00", "($3.00)", "1.234,50 €", "")] == [
        12.5,
        1234.5,
        -3.0,
        -3.0,
        1234.5,
        None,
    ]
