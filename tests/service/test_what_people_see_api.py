"""Issue 21's examples, over HTTP on the sample bundle: what a shopper or an associate sees.

Each test is one example the issue reported as wrong, asserting the corrected behaviour. The
products are taken from the generator's hidden truth (planted bundles) and the catalog's product
types, never picked by hand for passing.
"""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest

RUNNER_KIT = "runner kit"
COFFEE_STARTER = "coffee starter"


@pytest.fixture(scope="module")
def products(trained_bundle) -> pd.DataFrame:
    return pd.read_parquet(trained_bundle / "latest" / "catalog" / "products.parquet")


@pytest.fixture(scope="module")
def planted(sample_dir) -> pd.DataFrame:
    return pd.read_parquet(sample_dir / "truth" / "bundles.parquet")


def anchor_of(planted: pd.DataFrame, name: str) -> tuple[str, set[str]]:
    """The first planted bundle called ``name``: (anchor sku, its companion skus)."""
    rows = planted[planted["name"] == name]
    first = rows["bundle_id"].iloc[0]
    mine = rows[rows["bundle_id"] == first]
    return str(mine["anchor_sku"].iloc[0]), set(mine["companion_sku"].astype(str))


def category_of(products: pd.DataFrame) -> dict[str, str]:
    return dict(zip(products["sku"], products["category"], strict=True))


def durable(products: pd.DataFrame) -> set[str]:
    """Durable skus on the sample: categories with no declared replenishment cycle."""
    cycles = products.groupby("category")["replenishment_days"].median()
    kinds = set(cycles[cycles.isna()].index)
    return set(products.loc[products["category"].isin(kinds), "sku"])


def test_similar_items_to_a_running_shoe_are_running_shoes(client, products, planted):
    shoe, _ = anchor_of(planted, RUNNER_KIT)
    body = client.get(f"/v1/recommendations/items/{shoe}/similar", params={"k": 10}).json()
    cats = [i["product"]["category"] for i in body["items"]]
    assert len(cats) == 10
    assert sum(c == "Footwear > Running Shoes" for c in cats) >= 9, cats
    # never "what is trending": every item is there for content or behaviour
    assert {i["reason_code"] for i in body["items"]} <= {"similar_content", "similar_behaviour"}
    assert shoe not in [i["product"]["sku"] for i in body["items"]]


def test_similar_items_for_every_product_type_stay_in_type(client, products):
    """One product per product type: >= 90% of each top 10 in the same type on average."""
    shares = []
    for _, rows in products.groupby("category"):
        sku = rows["sku"].iloc[0]
        body = client.get(f"/v1/recommendations/items/{sku}/similar", params={"k": 10}).json()
        cats = [i["product"]["category"] for i in body["items"]]
        shares.append(np.mean([c == rows["category"].iloc[0] for c in cats]) if cats else 0.0)
    assert np.mean(shares) >= 0.9, np.mean(shares)


def test_profile_offers_never_re_offer_owned_durables(client, products):
    """The README's own example: the associate looks up LY510877278 at ST-RIO."""
    body = client.post(
        "/v1/customers/lookup", json={"loyalty_id": "LY510877278", "store_id": "ST-RIO"}
    ).json()
    bought = {e["product"]["sku"] for e in body["timeline"] if e["type"] == "purchase"}
    offered = [o["product"]["sku"] for o in body["offers"]]
    assert offered
    assert not (set(offered) & bought & durable(products)), set(offered) & bought
    recs = client.get(f"/v1/recommendations/customers/{body['customer_id']}", params={"k": 20}).json()
    assert not ({i["product"]["sku"] for i in recs["items"]} & bought & durable(products))


def test_a_coffee_machine_just_bought_is_not_offered_back(client, products, planted, service_now):
    """A new customer buys a coffee machine: it never comes back, its complements do."""
    machine, companions = anchor_of(planted, COFFEE_STARTER)
    loyalty = "LY" + uuid.uuid4().hex[:9].upper()
    post_purchase(client, loyalty, machine, service_now - pd.Timedelta(days=40))
    body = client.get(f"/v1/recommendations/customers/{loyalty}", params={"k": 20}).json()
    assert machine not in [i["product"]["sku"] for i in body["items"]]


def test_bought_together_for_the_coffee_machine_answers_k_items(client, planted):
    machine, companions = anchor_of(planted, COFFEE_STARTER)
    body = client.get(f"/v1/recommendations/items/{machine}/bought-together", params={"k": 5}).json()
    got = [i["product"]["sku"] for i in body["items"]]
    assert len(got) == 5 and machine not in got
    assert companions & set(got)  # the planted companion is among them
    # the sources are declared, in order: own pairs, category complements, co-view
    order = {"bought_together": 0, "category_complement": 1, "also_viewed": 2}
    codes = [order[i["reason_code"]] for i in body["items"]]
    assert codes == sorted(codes)


def test_a_cart_of_a_coffee_machine_and_a_running_shoe_gets_items_for_both(client, products, planted):
    machine, coffee_companions = anchor_of(planted, COFFEE_STARTER)
    shoe, shoe_companions = anchor_of(planted, RUNNER_KIT)
    body = client.post("/v1/recommendations/cart", json={"skus": [machine, shoe], "k": 6}).json()
    got = [i["product"]["sku"] for i in body["items"]]
    assert len(got) == 6 and not {machine, shoe} & set(got)
    cats = category_of(products)
    coffee_side = {cats[s] for s in coffee_companions}
    shoe_side = {cats[s] for s in shoe_companions}
    assert any(cats[s] in coffee_side for s in got), [cats[s] for s in got]
    assert any(cats[s] in shoe_side for s in got), [cats[s] for s in got]


def post_purchase(client, loyalty: str, sku: str, when) -> None:
    event = {
        "event_id": uuid.uuid4().hex,
        "type": "purchase",
        "timestamp": pd.Timestamp(when).isoformat(),
        "channel": "web",
        "sku": sku,
        "loyalty_id": loyalty,
        "quantity": 1,
        "price": 50.0,
    }
    response = client.post("/v1/events", json={"events": [event]})
    assert response.status_code == 202 and response.json()["accepted"] == 1, response.text


def test_buying_running_shoes_moves_their_complements_up(client, sample_dir, products, planted, service_now):
    """A customer with a history buys running shoes: socks move into the top 8 at once."""
    shoe, socks = anchor_of(planted, RUNNER_KIT)
    cats = category_of(products)
    sock_type = {cats[s] for s in socks}
    customers = pd.read_parquet(sample_dir / "customers.parquet").dropna(subset=["loyalty_id"])
    for loyalty in customers["loyalty_id"].iloc[200:260]:  # a later slice: other tests use the first rows
        profile = client.post("/v1/customers/lookup", json={"loyalty_id": loyalty}).json()
        bought = {e["product"]["sku"] for e in profile.get("timeline", []) if e["type"] == "purchase"}
        if len(bought) >= 3 and shoe not in bought:
            break
    customer = profile["customer_id"]
    before = client.get(f"/v1/recommendations/customers/{customer}", params={"k": 20}).json()
    rank_before = next(
        (n for n, i in enumerate(before["items"], 1) if i["product"]["category"] in sock_type), 21
    )
    post_purchase(client, loyalty, shoe, pd.Timestamp(service_now) - pd.Timedelta(minutes=10))
    after = client.get(f"/v1/recommendations/customers/{customer}", params={"k": 20}).json()
    top8 = after["items"][:8]
    socks_now = [n for n, i in enumerate(top8, 1) if i["product"]["category"] in sock_type]
    assert socks_now and socks_now[0] < rank_before, (rank_before, socks_now)
    assert any(i["reason_code"] == "complements_recent" for i in top8)
    assert shoe not in [i["product"]["sku"] for i in after["items"]]  # a durable: owned now


def test_gift_for_dad_under_50_satisfies_every_parsed_constraint(client, products):
    body = client.get("/v1/search", params={"q": "gift for dad under 50", "k": 10}).json()
    assert body["intent"]["target"] == "men" and body["intent"]["price_max"] == 50
    by_sku = products.set_index("sku")
    hits = body["hits"]
    assert len(hits) == 10
    assert all(by_sku.loc[h["product"]["sku"], "target"] == "men" for h in hits)
    assert all(h["product"]["price"] <= 50 for h in hits)
    assert len({h["product"]["category"] for h in hits}) >= 3
    assert all(h["matches"] for h in hits)
    # total counts what matches: men's products under 50 (the unisex ones come after the marker)
    men_under_50 = int(((products["target"] == "men") & (products["price"] <= 50)).sum())
    assert body["total"] <= men_under_50


def test_running_shoes_are_not_padded_with_other_categories(client):
    body = client.get("/v1/search", params={"q": "running shoes", "k": 20}).json()
    assert body["intent"]["category"]["applied"]
    path = body["intent"]["category"]["path"]
    marker = body["relaxed_from"]
    for rank, hit in enumerate(body["hits"]):
        in_category = hit["product"]["category"] == path
        if marker is None or rank < marker:
            assert in_category and hit["matches"], (rank, hit["product"]["category"])
        else:
            assert not hit["matches"]
    if marker is not None:
        assert body["total"] == marker
        assert any("follow after result" in r for r in body["relaxed"])


def test_api_docs_load_offline(client):
    for page, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        html = client.get(page)
        assert html.status_code == 200
        assert f"/docs-assets/{asset}" in html.text
        assert "cdn." not in html.text and "fonts.googleapis" not in html.text
        script = client.get(f"/docs-assets/{asset}")
        assert script.status_code == 200 and len(script.content) > 100_000
    assert client.get("/docs-assets/swagger-ui.css").status_code == 200
