"""Customer recommendations over HTTP show a due consumable with the restock reason (issue 19).

A new shopper buys a consumable at a till (a POS event with their loyalty card) one purchase cycle
before the session clock: their web list pins it with reason_code ``replenish``.
"""

from __future__ import annotations

import json
import uuid

import pandas as pd


def _cycle(knowledge: dict, sku: str, category: str) -> float | None:
    """The engine's cycle for the sku: its own where learned, else its consumable category's."""
    kind = knowledge["categories"].get(category)
    if not kind or not kind["consumable"]:
        return None
    own = knowledge.get("products", {}).get(sku)
    return float(own[0]) if own else kind["cycle_days"]


def test_a_pos_purchase_one_cycle_ago_is_pinned_as_time_to_restock(client, trained_bundle, service_now):
    bundle = trained_bundle / "latest"
    knowledge = json.loads((bundle / "recs" / "product_knowledge.json").read_text())
    products = pd.read_parquet(bundle / "catalog" / "products.parquet")
    web = products[products["available_web"].astype(bool)]
    choices = [
        (sku, title, _cycle(knowledge, sku, category))
        for sku, title, category in zip(web["sku"], web["title"], web["category"], strict=True)
    ]
    sku, title, cycle = next((s, t, c) for s, t, c in choices if c and 14 < c <= 60)
    loyalty = "LY" + uuid.uuid4().hex[:9].upper()
    event = {
        "event_id": uuid.uuid4().hex,
        "type": "purchase",
        "timestamp": (pd.Timestamp(service_now) - pd.Timedelta(days=cycle)).isoformat(),
        "channel": "store",
        "store_id": "ST-NYC",
        "sku": sku,
        "loyalty_id": loyalty,
        "quantity": 1,
        "price": 10.0,
    }
    assert client.post("/v1/events", json={"events": [event]}).status_code == 202
    response = client.get(f"/v1/recommendations/customers/{loyalty}", params={"k": 10, "channel": "web"})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    restock = [i for i in items if i["reason_code"] == "replenish"]
    assert [i["product"]["sku"] for i in restock] == [sku]
    assert restock[0]["reason"].startswith(f"Time to restock {title}: you bought it ")
    # the same purchase a week ago is not due yet: it is left out, not pinned
    fresh = "LY" + uuid.uuid4().hex[:9].upper()
    recent = {
        **event,
        "event_id": uuid.uuid4().hex,
        "loyalty_id": fresh,
        "timestamp": (pd.Timestamp(service_now) - pd.Timedelta(days=7)).isoformat(),
    }
    assert client.post("/v1/events", json={"events": [recent]}).status_code == 202
    body = client.get(f"/v1/recommendations/customers/{fresh}", params={"k": 10}).json()
    assert sku not in {i["product"]["sku"] for i in body["items"]}
    assert all(i["reason_code"] != "replenish" for i in body["items"])
