"""The import format's loyalty columns: customers' loyalty_tier / loyalty_points / loyalty_joined
validated per row and carried into the bundle's customer table, products' member_tier_min into the
catalog, on a planted copy of the sample (two members, one member-only product)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from models.catalog import Catalog
from models.config import Settings
from models.loyalty import hidden_products, member_from_row, unlocked_products
from models.rules import Loyalty
from training import identity, ingest

PROGRAM = Loyalty.model_validate({"tiers": [{"name": "silver"}, {"name": "gold"}]})


@pytest.fixture(scope="module")
def planted(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    data = tmp_path_factory.mktemp("loyalty-import")
    for name in ("stores", "inventory", "unsubscribes"):
        shutil.copy(sample_dir / f"{name}.parquet", data / f"{name}.parquet")
    shutil.copy(sample_dir / "events.jsonl.gz", data / "events.jsonl.gz")
    products = pd.read_parquet(sample_dir / "products.parquet")
    products["member_tier_min"] = None
    products.loc[5, "member_tier_min"] = " gold "
    products.loc[6, "member_tier_min"] = "  "  # blank: everyone
    products.to_parquet(data / "products.parquet", index=False)
    customers = pd.read_parquet(sample_dir / "customers.parquet")
    cards = customers.index[customers["loyalty_id"].notna()][:6]
    customers["loyalty_tier"] = None
    customers["loyalty_points"] = None
    customers["loyalty_joined"] = None
    plant = {
        cards[0]: ("gold", "1200", "2024-03-01"),
        cards[1]: ("silver", "40", "2025-01-15"),
        cards[2]: ("gold", "-5", "2024-03-01"),  # negative points: loyalty facts rejected
        cards[3]: ("gold", "10", "2031-01-01"),  # joined after the export: rejected
        cards[4]: ("", "10", None),  # blank tier: not a member, not an error
        cards[5]: ("silver", "ten", None),  # not a number: rejected
    }
    for row, (tier, points, joined) in plant.items():
        customers.loc[row, ["loyalty_tier", "loyalty_points", "loyalty_joined"]] = [tier, points, joined]
    customers.to_csv(data / "customers.csv", index=False)  # CSV: every value arrives as text
    return data, customers.loc[list(plant)]


@pytest.fixture(scope="module")
def ingested(planted, tmp_path_factory) -> tuple[ingest.IngestResult, Path]:
    data, _ = planted
    quarantine = tmp_path_factory.mktemp("loyalty-q") / "quarantine.jsonl"
    return ingest.ingest(data, quarantine), quarantine


def test_loyalty_columns_are_validated_per_row(planted, ingested) -> None:
    _, rows = planted
    result, quarantine = ingested
    entries = [json.loads(line) for line in quarantine.read_text().splitlines()]
    loyalty = {e["row"]["record_id"]: e["reason"] for e in entries if "loyalty" in e["reason"]}
    ids = rows["record_id"].tolist()
    assert loyalty == {
        ids[2]: "negative loyalty_points",
        ids[3]: "loyalty_joined in the future",
        ids[5]: "invalid loyalty_points",
    }
    assert result.report()["quarantined"]["customers"] == {
        "invalid loyalty_points": 1,
        "loyalty_joined in the future": 1,
        "negative loyalty_points": 1,
    }
    customers = result.customers.set_index("record_id")
    assert customers.loc[ids, "loyalty_tier"].tolist() == ["gold", "silver", None, None, None, None]
    assert customers.loc[ids[0], "loyalty_points"] == 1200.0
    assert pd.isna(customers.loc[ids[2], "loyalty_points"])  # the record stays, without loyalty facts
    assert customers.loc[ids[0], "loyalty_joined"] == pd.Timestamp("2024-03-01", tz="UTC")
    assert customers["loyalty_tier"].notna().sum() == 2
    products = result.products.set_index("sku")
    assert products["member_tier_min"].notna().sum() == 1
    assert products["member_tier_min"].iloc[5] == "gold"


def test_members_reach_the_customer_table_and_member_only_products_the_catalog(planted, ingested) -> None:
    _, rows = planted
    result, _ = ingested
    salt = Settings().pii_salt
    graph = identity.resolve(result.customers, result.events, salt, result.unsubscribes["email"])
    table = graph.customers.set_index("customer_id")
    cards = pd.DataFrame({"loyalty_id": rows["loyalty_id"].tolist()})
    cids = graph.customer_of(cards, salt).tolist()
    gold, silver = table.loc[cids[0]], table.loc[cids[1]]
    assert (gold["loyalty_tier"], gold["loyalty_points"]) == ("gold", 1200.0)
    assert gold["loyalty_joined"] == pd.Timestamp("2024-03-01", tz="UTC")
    assert (silver["loyalty_tier"], silver["loyalty_points"]) == ("silver", 40.0)
    assert table["loyalty_tier"].notna().sum() == 2  # the rejected and blank ones are no members
    assert table.loc[cids[2], "loyalty_tier"] is None or pd.isna(table.loc[cids[2], "loyalty_tier"])

    # what the service reads from the bundle's customer table (service/loyalty.py member_of)
    gold_member = member_from_row(gold["loyalty_tier"], gold["loyalty_points"], gold["loyalty_joined"])
    silver_member = member_from_row(
        silver["loyalty_tier"], silver["loyalty_points"], silver["loyalty_joined"]
    )
    assert gold_member is not None and (gold_member.tier, gold_member.points) == ("gold", 1200)
    assert str(gold_member.joined) == "2024-03-01"

    catalog = Catalog.build(result.products, result.inventory, result.stores["store_id"].tolist())
    member_only = catalog.sku_index[result.products["sku"].iloc[5]]
    anonymous = hidden_products(catalog, PROGRAM, None)
    assert anonymous is not None and anonymous.nonzero()[0].tolist() == [member_only]
    assert hidden_products(catalog, PROGRAM, silver_member).nonzero()[0].tolist() == [member_only]
    assert hidden_products(catalog, PROGRAM, gold_member) is None
    assert unlocked_products(catalog, PROGRAM, gold_member).nonzero()[0].tolist() == [member_only]
    assert unlocked_products(catalog, PROGRAM, silver_member) is None


def test_sample_without_loyalty_columns_has_no_members(sample_dir: Path, tmp_path: Path) -> None:
    products = ingest._validate_products(
        ingest.read_table(sample_dir, "products"), ingest.Quarantine(tmp_path / "q.jsonl")
    )
    assert products["member_tier_min"].isna().all()
