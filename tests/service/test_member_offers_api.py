"""Member offers over HTTP (in-process): the member-only products a member's tier unlocks are
boosted in their recommendations and the associate's offers (reason ``member_offer``, in the
reader's language), and never reach a non-member or a lower tier.

Own live store, rules file and pinned clock, so the session ``client`` never sees these changes."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest
from fastapi.testclient import TestClient

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)
CARD = "LY510877278"
TIERS = [{"name": "silver"}, {"name": "gold"}]


@pytest.fixture(scope="module")
def app(own_client):
    with own_client("member-offers-api", NOW) as client:
        yield client


@pytest.fixture(scope="module")
def products(trained_bundle) -> pd.DataFrame:
    return pd.read_parquet(trained_bundle / "latest" / "catalog" / "products.parquet")


def put_loyalty_rules(client: TestClient, boost: float) -> None:
    current = client.get("/v1/admin/rules").json()
    body = {**current, "rules": [], "loyalty": {"tiers": TIERS, "member_offer_boost": boost}}
    response = client.put("/v1/admin/rules", json=body)
    assert response.status_code == 200, response.text


def items(client: TestClient, cid: str, **params) -> list[dict]:
    response = client.get(f"/v1/recommendations/customers/{cid}", params={"k": 10, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def as_member(client: TestClient, tier: str) -> None:
    answer = client.put("/v1/customers/loyalty", json=[{"loyalty_id": CARD, "tier": tier}])
    assert answer.status_code == 200 and answer.json()["applied"] == 1, answer.text


def test_unlocked_member_offer_boosted_for_the_member_only(app, products):
    put_loyalty_rules(app, 100.0)
    cid = app.post("/v1/customers/lookup", json={"loyalty_id": CARD}).json()["customer_id"]
    before = items(app, cid)  # nothing is member-only yet: the plain list
    assert len(before) == 10 and "member_offer" not in {i["reason_code"] for i in before}
    offer = before[3]["product"]["sku"]
    row = products[products["sku"] == offer].iloc[0]
    put = app.put(
        "/v1/products",
        json=[
            {
                "sku": offer,
                "title": row["title"],
                "category": row["category"],
                "price": float(row["price"]),
                "member_tier_min": "gold",
            }
        ],
    )
    assert put.status_code == 200, put.text

    as_member(app, "silver")  # a lower tier: never sees it, the rest of the list moves up
    silver = [i["product"]["sku"] for i in items(app, cid)]
    assert offer not in silver and len(silver) == 10
    assert silver[:3] == [i["product"]["sku"] for i in before[:3]]
    anchor = before[0]["product"]["sku"]  # anonymous surfaces never show it either
    similar = app.get(f"/v1/recommendations/items/{anchor}/similar", params={"k": 50}).json()["items"]
    assert offer not in [i["product"]["sku"] for i in similar]

    as_member(app, "gold")  # unlocked: boosted to the top, with its reason; the rest keep their order
    gold = items(app, cid)
    assert [i["product"]["sku"] for i in gold] == [offer] + [
        i["product"]["sku"] for i in before if i["product"]["sku"] != offer
    ]
    assert gold[0]["reason_code"] == "member_offer"
    assert gold[0]["reason"] == "Member offer, unlocked by your gold tier"
    assert [i["reason_code"] for i in gold].count("member_offer") == 1
    assert [i["reason"] for i in gold[1:]] == [i["reason"] for i in before if i["product"]["sku"] != offer]
    pt = items(app, cid, lang="pt")
    assert pt[0]["reason"] == "Oferta para membros, liberada pelo seu nível gold"
    hi = items(app, cid, lang="hi")
    assert hi[0]["reason"] == "सदस्यों का ऑफ़र, आपके gold स्तर से खुला"
    # the associate's offers are the member's list too
    offers = app.get(f"/v1/customers/{cid}/profile", params={"k": 10}).json()["offers"]
    assert offers[0]["product"]["sku"] == offer and offers[0]["reason_code"] == "member_offer"

    put_loyalty_rules(app, 1.0)  # a boost of 1 turns it off: the member sees the plain list
    assert [i["product"]["sku"] for i in items(app, cid)] == [i["product"]["sku"] for i in before]
