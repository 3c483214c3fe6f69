"""Ready-to-import audience files for email tools, written from a finished batch job's parts.

``batch-recommend --format mailchimp-csv`` writes ``_mailchimp.csv`` beside the parts: one row per person, the
``Email Address`` column first (the column Mailchimp's audience import matches on), then, for each
of the first N products of the email, the merge fields ``P<n>_SKU``, ``P<n>_TITLE``, ``P<n>_PRICE``,
``P<n>_IMG`` and ``P<n>_URL`` (upper case, at most 10 characters: Mailchimp's merge tag limit;
``PROD1_TITLE`` would be 11). N is at most 5, so the 25 product fields stay within the 30 audience
fields Mailchimp allows. ``--format csv`` writes ``_recommendations.csv``, a long table any tool can
join: email, campaign, rank, sku, title, price, url, image_url, reason.

The raw address is joined here and nowhere else: the parts keep only the salted email hash, and
the address comes from ``--data``'s customers records with marketing consent (a person whose
address has no consenting record, or is in ``--data``'s unsubscribes, is left out even if the job
selected them). The file is created owner-only (0600) and atomically; no address is printed or logged.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from models.catalog import Catalog
from models.errors import InputError
from models.files import atomic_write
from models.pii import identifier_key, normalize_email
from training.ingest import read_table

FORMATS = ("parquet", "csv", "mailchimp-csv")
FILES = {"csv": "_recommendations.csv", "mailchimp-csv": "_mailchimp.csv"}
"""Named with a leading underscore, as ``_SUCCESS.json``: readers of the output directory as a Parquet
dataset (``pd.read_parquet(out)``, Spark, DuckDB) skip such files."""
MAILCHIMP_MAX_PRODUCTS = 5
MAILCHIMP_FIELDS = ("SKU", "TITLE", "PRICE", "IMG", "URL")
MERGE_TAG_MAX = 10
CSV_COLUMNS = ("email", "campaign", "rank", "sku", "title", "price", "url", "image_url", "reason")


def check_format(output_format: str, products: int) -> None:
    """Refuse an unknown format or too many products for Mailchimp before the job runs."""
    if output_format not in FORMATS:
        raise InputError(f"unknown --format {output_format!r}; choose one of {', '.join(FORMATS)}")
    if products < 1:
        raise InputError("--email-products must be at least 1")
    if output_format == "mailchimp-csv" and products > MAILCHIMP_MAX_PRODUCTS:
        raise InputError(
            f"--email-products {products}: a Mailchimp audience holds at most {MAILCHIMP_MAX_PRODUCTS} products "
            f"of {len(MAILCHIMP_FIELDS)} merge fields each (30 audience fields in all)"
        )


def merge_tags(products: int) -> list[str]:
    tags = [f"P{n}_{field}" for n in range(1, products + 1) for field in MAILCHIMP_FIELDS]
    assert all(len(t) <= MERGE_TAG_MAX for t in tags)
    return tags


def addresses(data_dir: Path, salt: str) -> dict[str, str]:
    """email hash -> normalised address, for addresses of ``--data`` that may be emailed: at least
    one customers record with that address has consent, and it is not in unsubscribes."""
    customers = read_table(Path(data_dir), "customers")
    if customers is None:
        return {}
    unsubscribes = read_table(Path(data_dir), "unsubscribes")
    gone = set()
    if unsubscribes is not None:
        gone = {normalize_email(e) for e in unsubscribes["email"].dropna().astype(str)} - {None}
    consent = customers["email_consent"].map(
        lambda v: str(v).strip().lower() in {"true", "1", "yes", "y", "t"}
    )
    out: dict[str, str] = {}
    for email in customers.loc[consent & customers["email"].notna(), "email"].astype(str):
        address = normalize_email(email)
        if address and address not in gone:
            key = identifier_key("email", address, salt)
            if key:
                out[key] = address
    return out


def _parts(out_dir: Path) -> pd.DataFrame:
    paths = sorted(Path(out_dir).glob("part-*.parquet"))
    if not paths:
        return pd.DataFrame(columns=["customer_id", "email_hash", "campaign", "rank", "sku", "reason"])
    return pd.concat([pq.read_table(p).to_pandas() for p in paths], ignore_index=True)


def _price(value: float) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.2f}"


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def export_audience(
    out_dir: Path,
    output_format: str,
    catalog: Catalog,
    data_dir: Path,
    salt: str,
    products: int,
) -> dict[str, Any]:
    """Write the audience file of ``output_format`` beside the parts; returns its path and counts."""
    check_format(output_format, products)
    rows = _parts(out_dir).sort_values(["customer_id", "rank"], kind="stable")
    known = addresses(data_dir, salt)
    email = rows["email_hash"].map(known)
    people = rows["customer_id"].nunique()
    rows = rows.assign(email=email)[email.notna()]
    addressed = rows["customer_id"].nunique()
    items = catalog.indices(rows["sku"].astype(str))
    rows = rows[items >= 0].assign(item=items[items >= 0])

    def product(item: int) -> dict[str, str]:
        col = catalog.column
        return {
            "sku": str(col["sku"][item]),
            "title": _text(col["title"][item]),
            "price": _price(float(catalog.prices[item])),
            "url": _text(col["url"][item]) if "url" in col else "",
            "image_url": _text(col["image_url"][item]) if "image_url" in col else "",
        }

    buffer = io.StringIO()
    if output_format == "mailchimp-csv":
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["Email Address", *merge_tags(products)])
        by_person = rows.groupby("email", sort=True)
        for address, group in by_person:
            cells = [address]
            for item in group["item"].head(products):
                p = product(int(item))
                cells += [p["sku"], p["title"], p["price"], p["image_url"], p["url"]]
            cells += [""] * (1 + products * len(MAILCHIMP_FIELDS) - len(cells))
            writer.writerow(cells)
        written = by_person.ngroups
    else:
        writer = csv.DictWriter(buffer, CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        rows = rows.sort_values(["email", "rank"], kind="stable")
        rows = rows[rows.groupby("email").cumcount() < products]
        for r in rows.itertuples(index=False):
            p = product(int(r.item))
            writer.writerow(
                {"email": r.email, "campaign": r.campaign, "rank": int(r.rank), "reason": r.reason, **p}
            )
        written = len(rows)
    path = atomic_write(Path(out_dir) / FILES[output_format], buffer.getvalue(), mode=0o600)
    return {
        "format": output_format,
        "path": str(path),
        "rows": int(written),
        "people": int(rows["email"].nunique()),
        "left_out_no_consenting_address": int(people - addressed),
    }
