"""Loyalty and promotions over HTTP (in-process): a member's tier on the profile, member prices and
member-only products in search, and merchandising rules on the recommendation surfaces.

Own live store, rules file and pinned clock, so the session ``client`` never sees these changes."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pandas as pd
import pytest
from fastapi.testclient import TestClient

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)
CARD = "LY510877278"
TIERS = [
    {"name": "silver", "min_points": 0},
    {"name": "gold", "min_points": 1000, "min_purchases": 500},
]


@pytest.fixture(scope="module")
def app(own_client):
    with own_client("loyalty-api", NOW) as client:
        yield client


@pytest.fixture(scope="module")
def products(trained_bundle) -> pd.DataFrame:
    return pd.read_parquet(trained_bundle / "latest" / "catalog" / "products.parquet")


def put_rules(client: TestClient, rules: list[dict]) -> None:
    current = client.get("/v1/admin/rules").json()
    body = {**current, "rules": rules, "loyalty": {"tiers": TIERS}}
    response = client.put("/v1/admin/rules", json=body)
    assert response.status_code == 200, response.text


def customer_id(client: TestClient) -> str:
    response = client.post("/v1/customers/lookup", json={"loyalty_id": CARD})
    assert response.status_code == 200, response.text
    return response.json()["customer_id"]


def search(client: TestClient, q: str, **params) -> list[dict]:
    response = client.get("/v1/search", params={"q": q, "k": 50, **params})
    assert response.status_code == 200, response.text
    return [h["product"] for h in response.json()["hits"]]


def recs(client: TestClient, path: str, **params) -> list[dict]:
    response = client.get(f"/v1/recommendations/{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_member_tier_on_profile_and_member_price_for_that_member_only(app, products):
    put_rules(app, [])
    cid = customer_id(app)
    answer = app.put(
        "/v1/customers/loyalty",
        json=[
            {"loyalty_id": CARD, "tier": "silver", "points": 400, "joined": "2024-03-01"},
            {"loyalty_id": "LY000000001", "tier": "platinum"},
            {"loyalty_id": "LY000000002", "tier": "gold", "joined": "2030-01-01"},
        ],
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["applied"] == 1
    assert [r["index"] for r in body["rejected"]] == [1, 2]
    assert "unknown loyalty tier 'platinum'" in body["rejected"][0]["reason"]

    profile = app.get(f"/v1/customers/{cid}/profile").json()
    purchases = sum(1 for e in profile["timeline"] if e["type"] == "purchase")
    assert len(profile["timeline"]) < 50  # the whole history, so the count is exact
    assert profile["loyalty"] == {
        "tier": "silver",
        "points": 400,
        "joined": "2024-03-01",
        "next_tier": "gold",
        "facts": [f"{500 - purchases} purchases from gold", "600 points from gold"],
    }
    pt = app.get(f"/v1/customers/{cid}/profile", params={"lang": "pt"}).json()
    assert pt["loyalty"]["facts"] == [
        f"faltam {500 - purchases} compras para gold",
        "faltam 600 pontos para gold",
    ]

    row = products[products["available_web"].fillna(True).astype(bool)].iloc[7]
    sku, title, price = row["sku"], row["title"], float(row["price"])
    member_price = round(price * 0.8, 2)
    put = app.put("/v1/prices", json=[{"sku": sku, "price": member_price, "tier": "silver"}])
    assert put.status_code == 200, put.text
    anonymous = {p["sku"]: p for p in search(app, title)}
    member = {p["sku"]: p for p in search(app, title, customer_id=cid)}
    assert anonymous[sku]["price"] == pytest.approx(price)
    assert anonymous[sku]["list_price"] is None
    assert member[sku]["price"] == pytest.approx(member_price)
    assert member[sku]["list_price"] == pytest.approx(price)


def test_member_only_product_hidden_from_non_members(app):
    put_rules(app, [])
    cid = customer_id(app)
    product = {
        "sku": "SKU-MEMBERS-1",
        "title": "Zephyrine Members Espresso Grinder",
        "category": "Kitchen > Coffee Machines",
        "price": 120.0,
        "brand": "Zephyrine",
        "member_tier_min": "gold",
    }
    assert app.put("/v1/products", json=[product]).status_code == 200
    app.put("/v1/customers/loyalty", json=[{"loyalty_id": CARD, "tier": "silver", "points": 400}])
    q = "zephyrine members espresso grinder"
    assert "SKU-MEMBERS-1" not in [p["sku"] for p in search(app, q)]
    assert "SKU-MEMBERS-1" not in [p["sku"] for p in search(app, q, customer_id=cid)]
    assert "SKU-MEMBERS-1" not in [r["product"]["sku"] for r in recs(app, f"customers/{cid}", k=100)]
    app.put("/v1/customers/loyalty", json=[{"loyalty_id": CARD, "tier": "gold", "points": 1200}])
    assert search(app, q, customer_id=cid)[0]["sku"] == "SKU-MEMBERS-1"
    assert "SKU-MEMBERS-1" not in [p["sku"] for p in search(app, q)]  # still not for anonymous shoppers
    profile = app.get(f"/v1/customers/{cid}/profile").json()
    assert profile["loyalty"]["tier"] == "gold" and profile["loyalty"]["next_tier"] is None
    assert profile["loyalty"]["facts"] == []


def test_pinned_promotion_in_customer_recommendations_with_its_reason(app, products):
    cid = customer_id(app)
    before = [r["product"]["sku"] for r in recs(app, f"customers/{cid}", k=10)]
    web = products[products["available_web"].fillna(True).astype(bool)]
    promo = next(s for s in web["sku"].iloc[100:] if s not in before)
    put_rules(
        app, [{"id": "promo-customer", "surfaces": ["customer"], "pin": [{"sku": promo, "position": 2}]}]
    )
    items = recs(app, f"customers/{cid}", k=10)
    assert len(items) == 10
    assert items[1]["product"]["sku"] == promo
    assert items[1]["reason_code"] == "promoted"
    assert items[1]["reason"] == "Featured by the shop"
    assert [i["reason_code"] for i in items].count("promoted") == 1
    pt = recs(app, f"customers/{cid}", k=10, lang="pt")
    assert pt[1]["reason"] == "Destaque da loja"
    # the associate's offers are the customer surface too
    offers = app.get(f"/v1/customers/{cid}/profile", params={"k": 10}).json()["offers"]
    assert offers[1]["product"]["sku"] == promo and offers[1]["reason_code"] == "promoted"


def test_hidden_product_never_in_similar_or_bought_together(app, products):
    put_rules(app, [])
    anchor = products["sku"].iloc[3]
    similar = [r["product"]["sku"] for r in recs(app, f"items/{anchor}/similar", k=10)]
    together = [r["product"]["sku"] for r in recs(app, f"items/{anchor}/bought-together", k=10)]
    assert similar and together
    hide = sorted({similar[0], together[0]})
    put_rules(app, [{"id": "hide-recs", "surfaces": ["similar", "bought_together"], "hide": hide}])
    similar_after = [r["product"]["sku"] for r in recs(app, f"items/{anchor}/similar", k=10)]
    together_after = [r["product"]["sku"] for r in recs(app, f"items/{anchor}/bought-together", k=10)]
    assert not set(hide) & set(similar_after)
    assert not set(hide) & set(together_after)
    assert len(similar_after) == len(similar)  # the list is filled from the next candidates
    for sku in hide:  # other surfaces are untouched: search still finds them
        title = products.loc[products["sku"] == sku, "title"].iloc[0]
        assert sku in [p["sku"] for p in search(app, title)]


def test_rule_without_surfaces_affects_search_only(app, products):
    cid = customer_id(app)
    sku = products["sku"].iloc[42]
    put_rules(app, [{"id": "pin-drill", "match": {"exact": "drill"}, "pin": [{"sku": sku, "position": 1}]}])
    rules = app.get("/v1/admin/rules").json()["rules"]
    assert rules[0]["surfaces"] == ["search"]
    assert search(app, "drill")[0]["sku"] == sku
    items = recs(app, f"customers/{cid}", k=20)
    assert "promoted" not in {i["reason_code"] for i in items}
    bad = app.put(
        "/v1/admin/rules",
        json={
            **app.get("/v1/admin/rules").json(),
            "rules": [{"id": "x", "surfaces": ["search"], "hide": [sku]}],
        },
    )
    assert bad.status_code == 422 and "needs a 'match'" in bad.text
    assert re.search("surfaces", app.get("/openapi.json").text)
