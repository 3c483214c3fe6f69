"""The import format: the files a retailer exports so omnirank can train on its data.

This module is the single source of truth for table names, columns, types and which columns are
required. The sample generator writes it, the pipeline validates against it, and
``data_samples/README.md`` documents it for users.

A data directory holds (Parquet preferred; CSV accepted for every table, ``.jsonl``,
``.jsonl.gz`` or ``.csv`` for events)::

    products.parquet     the catalog, one row per sku
    stores.parquet       physical stores
    inventory.parquet    stock per (store, sku)
    customers.parquet    customer records as the retailer's systems know them (loyalty, web, app)
    unsubscribes.parquet email addresses that opted out
    events.jsonl.gz      every interaction, one JSON object per line
    queries.parquet      labelled search queries (optional: evaluation only)
    judgments.parquet    graded relevance of (query, sku) (optional: evaluation only)
    truth/               hidden ground truth of the sample generator; never read by training
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

CHANNELS = ("store", "web", "app", "email", "marketplace")
"""Where an interaction happened. ``store`` is a physical store (POS)."""

SALES_CHANNELS = ("store", "web", "app", "marketplace")
"""Channels a product can be available in."""

EVENT_TYPES = (
    "view",  # product detail page view (web/app)
    "add_to_cart",  # web/app
    "purchase",  # one basket line: POS receipt line or online order line
    "return",  # a returned line (store or online)
    "search",  # a search query (sku empty; clicked/bought in the following events)
    "search_click",  # the product clicked from a search result page (carries the query)
    "email_send",  # a campaign email sent (sku empty)
    "email_click",  # a product clicked in an email
    "click",  # a product clicked from a recommendation list (carries the answer's request_id)
)

TARGETS = ("men", "women", "kids", "unisex")

WANDS_GAIN = {"exact": 1.0, "partial": 0.5, "irrelevant": 0.0}
"""WANDS labels and their gains, used by every search evaluation."""


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    required: bool
    doc: str


@dataclass(frozen=True)
class TableSpec:
    name: str
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = field(default=())

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=not c.required) for c in self.columns])


def _c(name: str, type_: pa.DataType, required: bool, doc: str) -> Column:
    return Column(name, type_, required, doc)


STR, F64, I64, BOOL = pa.string(), pa.float64(), pa.int64(), pa.bool_()
TS = pa.timestamp("us", tz="UTC")

PRODUCTS = TableSpec(
    "products",
    "The catalog: one row per sku.",
    (
        _c("sku", STR, True, "Unique product id."),
        _c("title", STR, True, "Product name as shown to shoppers."),
        _c("title_bn", STR, False, "The name in Bengali, when the catalog has it (searched beside title)."),
        _c("title_hi", STR, False, "The name in Hindi (Devanagari), when the catalog has it."),
        _c("title_pt", STR, False, "The name in Portuguese, when the catalog has it."),
        _c("description", STR, False, "Free text, several sentences."),
        _c("brand", STR, False, "Brand name."),
        _c(
            "category",
            STR,
            True,
            "Category path, levels separated by ' > ' (e.g. 'Footwear > Running Shoes').",
        ),
        _c("color", STR, False, "Main colour, lower case (e.g. 'red')."),
        _c("size", STR, False, "Size label ('42', 'M', '1 L', '500 g')."),
        _c("material", STR, False, "Main material."),
        _c("target", STR, False, "One of men, women, kids, unisex."),
        _c("price", F64, True, "Current selling price, in the shop's currency."),
        _c("list_price", F64, False, "Price before discount; >= price."),
        _c("available_store", BOOL, False, "Sold in physical stores (default true)."),
        _c("available_web", BOOL, False, "Sold on the web shop (default true)."),
        _c("available_app", BOOL, False, "Sold in the app (default true)."),
        _c("available_marketplace", BOOL, False, "Listed on marketplaces (default false)."),
        _c(
            "replenishment_days",
            F64,
            False,
            "Typical re-buy cycle in days for consumables (empty otherwise).",
        ),
        _c("created_at", TS, False, "When the product was listed; new products have no behaviour yet."),
        _c("url", STR, False, "The product page on the shop (absolute URL); shown in every answer."),
        _c("image_url", STR, False, "The product's main image (absolute URL); shown in every answer."),
        _c(
            "member_tier_min",
            STR,
            False,
            "Member-only: the lowest loyalty tier that may see it (empty: everyone); hidden from anonymous "
            "shoppers, non-members and lower tiers everywhere.",
        ),
    ),
    key=("sku",),
)

STORES = TableSpec(
    "stores",
    "Physical stores.",
    (
        _c("store_id", STR, True, "Unique store id."),
        _c("name", STR, True, "Display name."),
        _c("city", STR, False, "City."),
        _c("country", STR, False, "ISO country code."),
    ),
    key=("store_id",),
)

INVENTORY = TableSpec(
    "inventory",
    "Stock on hand per store and sku (a missing row means zero stock).",
    (
        _c("store_id", STR, True, "Store id from stores."),
        _c("sku", STR, True, "Sku from products."),
        _c("stock", I64, True, "Units on hand, >= 0."),
    ),
    key=("store_id", "sku"),
)

CUSTOMERS = TableSpec(
    "customers",
    "Customer records as each system knows them: a loyalty card, a web account, an app account. "
    "One person may have several records; identity resolution links them. At least one of "
    "loyalty_id, email, phone is set.",
    (
        _c("record_id", STR, True, "Unique id of this record in the source system."),
        _c("source", STR, True, "System the record comes from: loyalty, web, app."),
        _c("loyalty_id", STR, False, "Loyalty card number."),
        _c("email", STR, False, "Email address (any case/whitespace; normalised by training)."),
        _c("phone", STR, False, "Phone number in any format (normalised by training)."),
        _c("email_consent", BOOL, False, "Marketing email consent given (default false)."),
        _c("home_store_id", STR, False, "Preferred store."),
        _c("created_at", TS, False, "When the record was created."),
        _c(
            "loyalty_tier",
            STR,
            False,
            "The member's loyalty tier (a name of the rules file's loyalty tiers; empty: not a member).",
        ),
        _c("loyalty_points", I64, False, "The member's points balance, >= 0."),
        _c(
            "loyalty_joined",
            TS,
            False,
            "When the member joined the loyalty programme (not after the export).",
        ),
    ),
    key=("record_id",),
)

UNSUBSCRIBES = TableSpec(
    "unsubscribes",
    "Email addresses that opted out of marketing email; they win over any consent flag.",
    (
        _c("email", STR, True, "Email address."),
        _c("unsubscribed_at", TS, False, "When."),
    ),
    key=("email",),
)

EVENTS = TableSpec(
    "events",
    "Every interaction, one JSON object per line. An event carries whichever identifiers its "
    "channel knows: a POS receipt only the loyalty id (or none), a guest web order only the email, "
    "an app event both.",
    (
        _c("event_id", STR, True, "Unique id; replays of the same id are ignored."),
        _c("type", STR, True, "One of: " + ", ".join(EVENT_TYPES) + "."),
        _c("timestamp", TS, True, "ISO 8601 with timezone (UTC assumed when missing)."),
        _c("channel", STR, True, "One of: " + ", ".join(CHANNELS) + "."),
        _c("sku", STR, False, "Product (required for every type but search and email_send)."),
        _c("quantity", I64, False, "Units (purchase/return/add_to_cart; default 1), > 0."),
        _c("price", F64, False, "Unit price paid (purchase/return)."),
        _c("store_id", STR, False, "Store of a POS event."),
        _c("basket_id", STR, False, "Receipt or order id grouping purchase lines."),
        _c("session_id", STR, False, "Web/app session."),
        _c("loyalty_id", STR, False, "Loyalty card scanned or logged in."),
        _c("email", STR, False, "Email of the account or guest checkout."),
        _c("phone", STR, False, "Phone given at checkout."),
        _c("query", STR, False, "Search text (search, search_click)."),
        _c("campaign", STR, False, "Email campaign (email_send, email_click)."),
        _c(
            "request_id",
            STR,
            False,
            "The omnirank answer that showed the product (click, search_click, add_to_cart, purchase).",
        ),
        _c("position", I64, False, "1-based rank of the clicked product in that answer."),
    ),
    key=("event_id",),
)

QUERIES = TableSpec(
    "queries",
    "Labelled search queries for evaluation.",
    (
        _c("query_id", STR, True, "Unique id."),
        _c("query", STR, True, "What the shopper typed."),
        _c("language", STR, True, "ISO 639-1 code: en, pt, hi."),
        _c("kind", STR, True, "intent, misspelling, attribute, brand, category, product, multilingual."),
    ),
    key=("query_id",),
)

JUDGMENTS = TableSpec(
    "judgments",
    "Graded relevance on the WANDS scheme, derived from product attributes by explicit rules.",
    (
        _c("query_id", STR, True, "Query id."),
        _c("sku", STR, True, "Judged product."),
        _c("label", STR, True, "exact, partial or irrelevant."),
        _c("gain", F64, True, "1.0 exact, 0.5 partial, 0.0 irrelevant."),
    ),
    key=("query_id", "sku"),
)

TABLES: dict[str, TableSpec] = {
    t.name: t for t in (PRODUCTS, STORES, INVENTORY, CUSTOMERS, UNSUBSCRIBES, EVENTS, QUERIES, JUDGMENTS)
}
REQUIRED_TABLES = ("products",)
"""The minimum to train: everything else improves results but may be missing. Without events the
bundle is search-only (no customers to resolve, no behaviour to learn recommendations from)."""

TABLE_SUFFIXES = (".parquet", ".csv")
EVENT_SUFFIXES = (".jsonl.gz", ".jsonl", ".csv", ".parquet")


def find_table_file(data_dir: Path, name: str) -> Path | None:
    """The file holding table ``name`` in ``data_dir``, whichever accepted format it uses."""
    suffixes = EVENT_SUFFIXES if name == "events" else TABLE_SUFFIXES
    for suffix in suffixes:
        path = Path(data_dir) / f"{name}{suffix}"
        if path.exists():
            return path
    return None


def iter_event_batches(path: Path, batch_size: int = 100_000) -> Iterator[pa.Table]:
    """Stream events in Arrow batches so 100M-event files never sit in memory at once."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    name = path.name
    if name.endswith(".parquet"):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size):
            yield pa.Table.from_batches([batch])
        return
    if name.endswith(".csv"):
        reader = pacsv.open_csv(
            path, convert_options=pacsv.ConvertOptions(column_types=_string_types(EVENTS))
        )
        for batch in reader:
            yield pa.Table.from_batches([batch])
        return
    # JSONL (optionally gzip): read in line chunks so malformed lines can be reported per line.
    yield from _iter_jsonl(path, batch_size)


def _string_types(spec: TableSpec) -> dict[str, pa.DataType]:
    return {c.name: pa.string() for c in spec.columns}


def _iter_jsonl(path: Path, batch_size: int) -> Iterator[pa.Table]:
    import gzip
    import json

    opener = gzip.open if path.name.endswith(".gz") else open
    names = [c.name for c in EVENTS.columns]
    rows: list[dict] = []
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        for line_no, line in enumerate(fh, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                obj = {"_error": f"line {line_no}: invalid JSON ({exc})", "_raw": line[:500]}
            rows.append(obj)
            if len(rows) >= batch_size:
                yield _rows_to_table(rows, names)
                rows = []
    if rows:
        yield _rows_to_table(rows, names)


def _rows_to_table(rows: list[dict], names: list[str]) -> pa.Table:
    """Every column as string, so a bad value becomes a quarantined row rather than a crash."""
    cols = {n: [None if r.get(n) is None else str(r.get(n)) for r in rows] for n in names}
    cols["_error"] = [r.get("_error") for r in rows]
    return pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()})
