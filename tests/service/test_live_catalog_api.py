"""The live catalog over HTTP (in-process): stock, prices and products change between trainings and
every answer reads the live values; live identity links; bundle swaps that keep the live state.

The app here has its own live store and a pinned clock, so the session ``client`` never sees these
changes and timed prices do not depend on today's date.
"""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from models.bundle import point_latest
from models.clock import fixed_clock
from service.app import create_app

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def live_settings(service_settings, tmp_path_factory):
    state = tmp_path_factory.mktemp("live-api")
    return service_settings.model_copy(
        update={
            "event_store_path": state / "live.sqlite3",
            "rules_path": state / "rules.json",
            "reload_poll_seconds": 0,
        }
    )


@pytest.fixture(scope="module")
def live(live_settings):
    with TestClient(create_app(live_settings, clock=fixed_clock(NOW))) as client:
        yield client


@pytest.fixture(scope="module")
def products(trained_bundle) -> pd.DataFrame:
    return pd.read_parquet(trained_bundle / "latest" / "catalog" / "products.parquet")


def hits(client: TestClient, q: str, **params) -> list[dict]:
    response = client.get("/v1/search", params={"q": q, "k": 50, **params})
    assert response.status_code == 200, response.text
    return [h["product"] for h in response.json()["hits"]]


def hit_skus(client: TestClient, q: str, **params) -> list[str]:
    return [p["sku"] for p in hits(client, q, **params)]


def put(client: TestClient, path: str, rows: list[dict], status: int = 200) -> dict:
    response = client.put(path, json=rows)
    assert response.status_code == status, response.text
    return response.json()


def test_selling_out_in_a_store_removes_it_from_that_store_only(live):
    store = "ST-SAO"
    sku = hit_skus(live, "running shoes", store_id=store)[0]
    answer = put(live, "/v1/inventory", [{"store_id": store, "sku": sku, "quantity": 0}])
    assert answer["applied"] == 1 and answer["rejected"] == []
    assert sku not in hit_skus(live, "running shoes", store_id=store)
    availability = live.get(f"/v1/products/{sku}/availability").json()
    assert store not in {s["store_id"] for s in availability["stores"]}
    assert availability["channels"]["store"] is True  # still sold in the stores that have it
    put(live, "/v1/inventory", [{"store_id": store, "sku": sku, "quantity": 7}])
    restocked = hits(live, "running shoes", store_id=store)
    assert sku in [p["sku"] for p in restocked]
    assert next(p for p in restocked if p["sku"] == sku)["stock_in_store"] == 7


def test_web_stock_zero_takes_a_product_off_the_online_channels(live):
    sku = hit_skus(live, "coffee machine", channel="web")[0]
    put(live, "/v1/inventory", [{"store_id": "warehouse", "sku": sku, "quantity": 0}])
    assert sku not in hit_skus(live, "coffee machine", channel="web")
    assert live.get(f"/v1/products/{sku}/availability").json()["web_quantity"] == 0
    put(live, "/v1/inventory", [{"store_id": "web", "sku": sku, "quantity": 3}])
    assert sku in hit_skus(live, "coffee machine", channel="web")


def test_rows_are_rejected_one_by_one_with_reasons(live, products):
    sku = products["sku"].iat[0]
    answer = put(
        live,
        "/v1/inventory",
        [
            {"store_id": "ST-NOPE", "sku": sku, "quantity": 1},
            {"store_id": "ST-RIO", "sku": "SKU-DOES-NOT-EXIST", "quantity": 1},
            {"store_id": "ST-RIO", "sku": sku, "quantity": -2},
            {"store_id": "ST-RIO", "sku": sku, "quantity": 4},
        ],
    )
    assert answer["applied"] == 1
    reasons = {r["index"]: r["reason"] for r in answer["rejected"]}
    assert set(reasons) == {0, 1, 2}
    assert (
        "unknown store_id 'ST-NOPE'" in reasons[0]
        and "unknown sku" in reasons[1]
        and "greater than or equal to 0" in reasons[2]
    )
    prices = put(
        live,
        "/v1/prices",
        [{"sku": sku, "price": 10, "list_price": 5}, {"sku": sku, "price": -1}],
        status=422,
    )
    assert prices["applied"] == 0 and [r["index"] for r in prices["rejected"]] == [0, 1]
    assert "list_price 5.0 is below price 10.0" in prices["rejected"][0]["reason"]
    assert live.put("/v1/inventory", json=[]).status_code == 422


def test_a_price_drop_moves_a_product_into_under_50(live, products):
    query = "running shoes"
    above = [p for p in hits(live, query) if 60 < p["price"] < 200]
    sku = above[0]["sku"]
    assert sku not in hit_skus(live, f"{query} under 50")
    put(live, "/v1/prices", [{"sku": sku, "price": 45.0}])
    under = hits(live, f"{query} under 50")
    assert sku in [p["sku"] for p in under]
    assert next(p for p in under if p["sku"] == sku)["price"] == 45.0
    assert all(p["price"] <= 50 for p in under)


def test_channel_store_and_timed_prices_resolve_by_specificity(live, products, sample_dir):
    inventory = pd.read_parquet(sample_dir / "inventory.parquet")
    stocked = inventory[inventory["stock"] > 0].groupby("sku")["store_id"].agg(set)
    in_both = set(stocked[stocked.map(lambda stores: {"ST-RIO", "ST-SAO"} <= stores)].index)
    row = products[
        (products["price"] > 20)
        & products["available_app"]
        & products["available_store"]
        & products["sku"].isin(in_both)
    ].iloc[3]
    sku, base = row["sku"], float(row["price"])
    put(
        live,
        "/v1/prices",
        [
            {"sku": sku, "price": base - 5, "channel": "app"},
            {"sku": sku, "price": base - 7, "store_id": "ST-RIO"},
            # a sale running now (the pinned clock) and one that has not started yet
            {
                "sku": sku,
                "price": base - 9,
                "channel": "app",
                "valid_from": "2026-09-30T00:00:00Z",
                "valid_to": "2026-10-02T00:00:00Z",
            },
            {
                "sku": sku,
                "price": 1.0,
                "valid_from": "2026-12-24T00:00:00Z",
                "valid_to": "2026-12-26T00:00:00Z",
            },
        ],
    )
    title = row["title"]

    def price(**params) -> tuple[float, float | None]:
        p = next(p for p in hits(live, title, **params) if p["sku"] == sku)
        return p["price"], p["list_price"]

    assert price(channel="web") == (base, None)
    assert price(channel="app") == (
        pytest.approx(base - 9),
        pytest.approx(base),
    )  # the sale beats the open-ended app price
    assert price(store_id="ST-RIO")[0] == pytest.approx(base - 7)
    assert price(store_id="ST-SAO")[0] == pytest.approx(base)
    differences = {d["sku"]: d for d in live.get("/v1/prices/differences", params={"limit": 10_000}).json()}
    assert differences[sku]["channels"]["app"] == pytest.approx(base - 9)
    assert differences[sku]["stores"] == {"ST-RIO": pytest.approx(base - 7)}


def test_a_new_product_is_searchable_recommendable_and_accepts_events(live, products):
    sku = "LIVE-" + uuid.uuid4().hex[:8].upper()
    title = "Zorblax Quantum Trail Runner - Lime"
    row = {
        "sku": sku,
        "title": title,
        "category": "Footwear > Running Shoes",
        "price": 42.0,
        "brand": "Zorblax",
        "color": "green",
    }
    answer = put(live, "/v1/products", [row, {"sku": "BAD", "title": "", "category": "X", "price": 1}])
    assert answer["applied"] == 1 and answer["rejected"][0]["index"] == 1
    assert hit_skus(live, title)[0] == sku
    assert hit_skus(live, "zorblax")[0] == sku  # a word no trained product has
    put(live, "/v1/inventory", [{"store_id": "ST-NYC", "sku": sku, "quantity": 5}])
    assert hit_skus(live, "zorblax", store_id="ST-NYC")[0] == sku
    similar = live.get(f"/v1/recommendations/items/{sku}/similar", params={"k": 5}).json()["items"]
    assert len(similar) == 5 and all(i["reason_code"] == "similar_content" for i in similar)
    assert sum(i["product"]["category"] == "Footwear > Running Shoes" for i in similar) >= 3
    event = {
        "event_id": uuid.uuid4().hex,
        "type": "purchase",
        "timestamp": NOW.isoformat(),
        "channel": "web",
        "sku": sku,
        "loyalty_id": "LYNEW" + uuid.uuid4().hex[:6],
    }
    assert live.post("/v1/events", json={"events": [event]}).json()["accepted"] == 1
    assert live.delete(f"/v1/products/{sku}").status_code == 200
    assert sku not in hit_skus(live, "zorblax")
    assert live.get(f"/v1/recommendations/items/{sku}/similar").status_code == 404
    assert live.get("/health").json()["live"]["discontinued_products"] >= 1


def test_a_discontinued_trained_product_leaves_every_answer(live, products):
    trending = live.get("/v1/recommendations/trending", params={"k": 5}).json()["items"]
    sku = trending[0]["product"]["sku"]
    title = products.loc[products["sku"] == sku, "title"].iat[0]
    assert sku in hit_skus(live, title)
    live.delete(f"/v1/products/{sku}")
    assert sku not in hit_skus(live, title)
    assert sku not in [
        i["product"]["sku"]
        for i in live.get("/v1/recommendations/trending", params={"k": 20}).json()["items"]
    ]
    neighbour = hit_skus(live, title)[0]
    similar = live.get(f"/v1/recommendations/items/{neighbour}/similar", params={"k": 20}).json()["items"]
    assert sku not in [i["product"]["sku"] for i in similar]
    put(
        live,
        "/v1/products",
        [
            {
                k: v
                for k, v in products[products["sku"] == sku].iloc[0].items()
                if k in ("sku", "title", "category", "price", "brand")
            }
        ],
    )
    assert sku in hit_skus(live, title)  # put back on sale


def test_two_identifiers_in_one_event_link_a_card_and_an_email_live(live, trained_bundle):
    history = pd.read_parquet(trained_bundle / "latest" / "recs" / "history.parquet")
    customer = history["customer_id"].value_counts().index[5]
    email = f"till.{uuid.uuid4().hex[:8]}@example.com"
    # the email alone first: an unknown web shopper
    web = {
        "event_id": uuid.uuid4().hex,
        "type": "add_to_cart",
        "timestamp": NOW.isoformat(),
        "channel": "web",
        "sku": str(history["item"].iat[0]),
        "email": email,
    }
    sku = pd.read_parquet(trained_bundle / "latest" / "catalog" / "products.parquet")["sku"].iat[11]
    web["sku"] = sku
    assert live.post("/v1/events", json={"events": [web]}).json()["accepted"] == 1
    assert live.post("/v1/customers/lookup", json={"email": email}).json()["customer_id"] != customer
    # at the till: the customer gives the email with their customer id
    both = live.post(
        "/v1/customers/lookup", json={"customer_id": customer, "email": email, "store_id": "ST-RIO"}
    )
    assert both.status_code == 200 and both.json()["customer_id"] == customer
    by_email = live.post("/v1/customers/lookup", json={"email": email}).json()
    assert by_email["customer_id"] == customer
    assert (
        by_email["timeline"][0]["product"]["sku"] == sku and by_email["timeline"][0]["type"] == "add_to_cart"
    )
    assert live.post("/v1/customers/lookup", json={"email": "not-an-email"}).status_code == 422


def test_a_new_bundle_is_swapped_in_and_keeps_the_live_state(
    live_settings, trained_bundle, products, tmp_path
):
    bundles = tmp_path / "bundles"
    bundles.mkdir()
    served = (trained_bundle / "latest").resolve()
    shutil.copytree(served, bundles / served.name)
    point_latest(bundles, served.name)
    settings = live_settings.model_copy(
        update={
            "bundles_dir": bundles,
            "event_store_path": tmp_path / "s.sqlite3",
            "rules_path": tmp_path / "r.json",
        }
    )
    with TestClient(create_app(settings, clock=fixed_clock(NOW))) as client:
        sku = hit_skus(client, "running shoes", store_id="ST-AUS")[0]
        put(client, "/v1/inventory", [{"store_id": "ST-AUS", "sku": sku, "quantity": 0}])
        # corrupt copies are refused; the old bundle keeps serving
        for name, damage in (("flipped", _flip_byte), ("missing", _remove_file), ("half", _remove_manifest)):
            shutil.copytree(served, bundles / name)
            damage(bundles / name)
            if name == "half":
                (bundles / "latest").unlink()
                (bundles / "latest").symlink_to(name)
            else:
                point_latest(bundles, name)
            outcome = client.post("/v1/admin/reload").json()
            assert outcome["status"] == "refused" and outcome["bundle_version"] == served.name, outcome
            assert client.get("/v1/search", params={"q": "tee"}).status_code == 200
        refused = client.get("/health").json()["refused_bundles"]
        assert [r["path"].rsplit("/", 1)[-1] for r in refused][:2] == ["flipped", "missing"]
        assert "checksum mismatch" in refused[0]["reason"] and "missing" in refused[1]["reason"]
        # a good new version is swapped in, with the live stock carried over
        shutil.copytree(served, bundles / "v2")
        manifest = json.loads((bundles / "v2" / "manifest.json").read_text())
        manifest["version"] = "v2"
        (bundles / "v2" / "manifest.json").write_text(json.dumps(manifest))
        point_latest(bundles, "v2")
        assert client.post("/v1/admin/reload").json() == {
            "status": "loaded",
            "bundle_version": "v2",
            "detail": "",
        }
        assert client.get("/health").json()["bundle_version"] == "v2"
        assert sku not in hit_skus(client, "running shoes", store_id="ST-AUS")
    # and across a restart on the same store
    with TestClient(create_app(settings, clock=fixed_clock(NOW))) as client:
        assert client.get("/health").json()["live"]["stock_levels"] == 1
        assert sku not in hit_skus(client, "running shoes", store_id="ST-AUS")


def _flip_byte(bundle: Path) -> None:
    target = bundle / "catalog" / "products.parquet"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))


def _remove_file(bundle: Path) -> None:
    (bundle / "search" / "popularity.npy").unlink()


def _remove_manifest(bundle: Path) -> None:
    (bundle / "manifest.json").unlink()


def test_a_discontinued_product_is_not_suggested(live, products):
    suggestions = live.get("/v1/suggest", params={"q": "stridex", "k": 10}).json()["suggestions"]
    sku = next(s["sku"] for s in suggestions if s["kind"] == "product")
    live.delete(f"/v1/products/{sku}")
    after = live.get("/v1/suggest", params={"q": "stridex", "k": 10}).json()["suggestions"]
    assert sku not in [s["sku"] for s in after] and len(after) == min(10, len(suggestions))
    row = products[products["sku"] == sku].iloc[0]
    put(live, "/v1/products", [{k: row[k] for k in ("sku", "title", "category", "price")}])
    assert sku in [
        s["sku"] for s in live.get("/v1/suggest", params={"q": "stridex", "k": 10}).json()["suggestions"]
    ]


def test_a_bundle_too_large_for_the_memory_budget_is_refused(live_settings):
    from models.bundle import BundleError
    from service.state import BundleView

    with pytest.raises(BundleError, match=r"needs about \d+ MB to serve and 1 MB are available"):
        BundleView.load(live_settings.model_copy(update={"memory_budget_mb": 1}))
    BundleView.load(live_settings.model_copy(update={"memory_budget_mb": 4096}))
