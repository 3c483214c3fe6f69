"""batch-recommend --format mailchimp-csv | csv: the audience file an email tool imports.

The planted retailer of test_batch.py (alice, dave and erin consent; bob unsubscribed after the
bundle was trained; carol never consented), with product page and image URLs in its catalog.
"""

from __future__ import annotations

import csv
import stat
from pathlib import Path

import pandas as pd
import pytest
from test_batch import SALT, TRAINED_UNTIL, _build_bundle, _events, _write_data
from typer.testing import CliRunner

from training.batch.export import MERGE_TAG_MAX, merge_tags
from training.cli import app

SHOP = "https://shop.example/products/"


def _with_urls(data: Path) -> Path:
    products = pd.read_parquet(data / "products.parquet")
    products["url"] = SHOP + products["sku"].str.lower()
    products["image_url"] = "https://cdn.example/" + products["sku"].str.lower() + ".jpg"
    products.to_parquet(data / "products.parquet", index=False)
    return data


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("export_world")
    events = _events()
    trained = [e for e in events if pd.Timestamp(e["timestamp"]) <= TRAINED_UNTIL]
    bundle = _build_bundle(_with_urls(_write_data(root / "train", trained, [])), root / "bundles")
    data = _with_urls(_write_data(root / "data", events, ["BOB@x.com "]))
    return {"bundle": bundle, "data": data, "products": root / "train" / "products.parquet"}


def _batch(world: dict[str, Path], out: Path, *extra: str, data: Path | None = None):
    env = {
        "OMNIRANK_PII_SALT": SALT,
        "OMNIRANK_BATCH_K": "5",
        "OMNIRANK_EVENT_STORE_PATH": str(out.parent / "no-such-store.sqlite3"),
    }
    args = ["batch-recommend", "--campaign", "newsletter", "--bundle", str(world["bundle"])]
    args += ["--data", str(data or world["data"]), "--out", str(out), *extra]
    return CliRunner().invoke(app, args, env=env)


def _expected_people(out: Path, emails: dict[str, str], products: pd.DataFrame, n: int) -> list[list[str]]:
    """What each Mailchimp row must hold: the parts' first n products, as the catalog describes them."""
    parts = pd.read_parquet(out).sort_values(["customer_id", "rank"])
    rows = []
    for customer_id, group in parts.groupby("customer_id"):
        if customer_id not in emails:
            continue
        cells = [emails[customer_id]]
        for sku in group["sku"].head(n):
            p = products.loc[sku]
            cells += [sku, p["title"], f"{p['price']:.2f}", p["image_url"], p["url"]]
        rows.append(cells)
    return sorted(rows)


def _customer_ids(world: dict[str, Path]) -> dict[str, str]:
    from models.pii import identifier_key

    imap = pd.read_parquet(world["bundle"] / "identity/identity_map.parquet")
    out = {}
    for person in ("alice", "bob", "carol", "dave", "erin"):
        email = f"{person}@x.com"
        match = imap.loc[imap["identifier_hash"] == identifier_key("email", email, SALT), "customer_id"]
        out[str(match.iloc[0])] = email
    return out


def test_mailchimp_csv_has_one_row_per_consenting_person_with_merge_fields(world, tmp_path):
    out = tmp_path / "news"
    result = _batch(world, out, "--format", "mailchimp-csv", "--email-products", "3")
    assert result.exit_code == 0, result.output
    path = out / "_mailchimp.csv"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with open(path, newline="", encoding="utf-8") as fh:
        header, *rows = list(csv.reader(fh))
    assert header == ["Email Address", *merge_tags(3)]
    assert header[1:6] == ["P1_SKU", "P1_TITLE", "P1_PRICE", "P1_IMG", "P1_URL"]
    assert all(len(tag) <= MERGE_TAG_MAX and tag == tag.upper() for tag in header[1:])
    assert [r[0] for r in rows] == ["alice@x.com", "dave@x.com", "erin@x.com"]  # bob, carol never
    products = pd.read_parquet(world["products"]).set_index("sku")
    assert sorted(rows) == _expected_people(out, _customer_ids(world), products, 3)
    assert all(len(r) == 16 and all(r) for r in rows)  # every person has 3 products, every field set
    assert (
        rows[0][5] == SHOP + rows[0][1].lower()
        and rows[0][4] == f"https://cdn.example/{rows[0][1].lower()}.jpg"
    )
    for secret in ("alice@x.com", "dave@x.com", "erin@x.com"):
        assert secret not in result.output  # addresses only in the file


def test_csv_format_is_one_row_per_product_and_consent_in_data_is_enforced(world, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for f in world["data"].iterdir():
        (data / f.name).write_bytes(f.read_bytes())
    customers = pd.read_parquet(data / "customers.parquet")
    customers.loc[customers["email"] == "erin@x.com", "email_consent"] = False  # withdrawn since training
    customers.to_parquet(data / "customers.parquet", index=False)
    out = tmp_path / "news"
    result = _batch(world, out, "--format", "csv", "--email-products", "2", data=data)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE((out / "_recommendations.csv").stat().st_mode) == 0o600
    table = pd.read_csv(out / "_recommendations.csv", dtype={"price": str})
    assert list(table.columns) == [
        "email",
        "campaign",
        "rank",
        "sku",
        "title",
        "price",
        "url",
        "image_url",
        "reason",
    ]
    assert table.groupby("email").size().to_dict() == {"alice@x.com": 2, "dave@x.com": 2}  # not erin
    parts = pd.read_parquet(out)
    assert set(parts["customer_id"].map(_customer_ids(world))) >= {"erin@x.com"}  # the job picked her
    assert (table["campaign"] == "newsletter").all() and (
        table["url"] == SHOP + table["sku"].str.lower()
    ).all()
    assert table.groupby("email")["rank"].apply(list).to_dict() == {
        "alice@x.com": [1, 2],
        "dave@x.com": [1, 2],
    }


def test_bad_format_or_too_many_mailchimp_products_fail_before_the_job(world, tmp_path):
    bad = _batch(world, tmp_path / "a", "--format", "xlsx")
    assert bad.exit_code == 2 and "unknown --format" in bad.output
    many = _batch(world, tmp_path / "b", "--format", "mailchimp-csv", "--email-products", "6")
    assert many.exit_code == 2 and "at most 5" in many.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_default_format_writes_no_audience_file(world, tmp_path):
    out = tmp_path / "news"
    assert _batch(world, out).exit_code == 0
    assert not (out / "_mailchimp.csv").exists() and not (out / "_recommendations.csv").exists()
