"""A shop's and its tills' exports all the way to an answer: import-dataset shopify + pos-receipts +
square into one directory -> omnirank train -> the service answers with the variants, the stock per
Shopify location and the product page and image URLs."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from models.catalog import Catalog
from models.clock import fixed_clock
from models.config import Settings
from service.app import create_app
from training.cli import app as cli
from training.pipeline import train

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.mark.slow
def test_shop_and_till_exports_train_a_bundle_that_answers_with_urls(tmp_path):
    data = tmp_path / "data"
    for tool, extra in (
        ("shopify", ["--shop-domain", "trailhead.example"]),
        ("pos-receipts", []),
        ("square", []),
    ):
        result = CliRunner().invoke(
            cli, ["import-dataset", tool, "--source", str(FIXTURES / tool), "--out", str(data), *extra]
        )
        assert result.exit_code == 0, result.output
    state = tmp_path / "state"
    state.mkdir()
    settings = Settings(
        bundles_dir=tmp_path / "bundles",
        event_store_path=state / "events.sqlite3",
        rules_path=state / "rules.json",
        dev_mode=True,
    )
    bundle = train(data, settings.bundles_dir, settings, evaluate=False)
    catalog = Catalog.load(bundle / "catalog")
    assert sorted(catalog.skus) == ["TR-BLU-42", "TR-RED-42", "TR-RED-43", "WS-M", "canvas-tote"]
    assert catalog.store_ids == ["downtown-store", "mall-store", "pop-up-market"]
    tr42 = catalog.sku_index["TR-RED-42"]
    assert (
        int(catalog.stock_in("downtown-store", tr42)) == 3 and int(catalog.stock_in("mall-store", tr42)) == 0
    )

    with TestClient(
        create_app(settings, clock=fixed_clock(datetime(2026, 9, 26, tzinfo=timezone.utc)))
    ) as client:
        hits = client.get("/v1/search", params={"q": "trail runner", "k": 10}).json()["hits"]
        shown = {h["product"]["sku"]: h["product"] for h in hits}
        assert {"TR-RED-42", "TR-RED-43", "TR-BLU-42"} <= set(shown)
        assert shown["TR-BLU-42"]["url"] == "https://trailhead.example/products/trail-runner"
        assert (
            shown["TR-BLU-42"]["image_url"] == "https://cdn.shopify.com/s/files/1/0001/files/trail-blue.jpg"
        )
        assert shown["TR-BLU-42"]["color"] == "blue" and shown["TR-BLU-42"]["size"] == "42"
        in_store = client.get("/v1/search", params={"q": "trail runner", "store_id": "downtown-store"}).json()
        assert {h["product"]["sku"]: h["product"]["stock_in_store"] for h in in_store["hits"]}[
            "TR-RED-42"
        ] == 3
        similar = client.get("/v1/recommendations/items/TR-RED-42/similar", params={"k": 4}).json()["items"]
        assert similar and all(
            i["product"]["url"].startswith("https://trailhead.example/products/") for i in similar
        )
