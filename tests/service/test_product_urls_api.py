"""Product page and image URLs flow from the catalog into search and recommendation answers.

The trained sample has no URLs (both fields are null there); products put through the live API
with ``url``/``image_url`` carry them into every answer that shows them.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)
ROWS = [
    {
        "sku": "URL-TEST-1",
        "title": "Quixotrel Alpine Hiking Boot - Slate",
        "category": "Footwear > Hiking Boots",
        "price": 120.0,
        "brand": "Quixotrel",
        "url": "https://shop.example/products/quixotrel-alpine-boot",
        "image_url": "https://cdn.example/files/quixotrel-alpine-boot.jpg",
    },
    {
        "sku": "URL-TEST-2",
        "title": "Quixotrel Alpine Hiking Boot - Moss",
        "category": "Footwear > Hiking Boots",
        "price": 125.0,
        "brand": "Quixotrel",
        "url": "https://shop.example/products/quixotrel-alpine-boot-moss",
        "image_url": "https://cdn.example/files/quixotrel-alpine-boot-moss.jpg",
    },
]


@pytest.fixture(scope="module")
def live(own_client):
    with own_client("urls-api", NOW) as client:
        answer = client.put("/v1/products", json=ROWS)
        assert answer.status_code == 200 and answer.json()["applied"] == 2, answer.text
        yield client


def test_search_answer_carries_url_and_image_url(live):
    hits = live.get("/v1/search", params={"q": "quixotrel", "k": 20}).json()["hits"]
    by_sku = {h["product"]["sku"]: h["product"] for h in hits}
    assert by_sku["URL-TEST-1"]["url"] == ROWS[0]["url"]
    assert by_sku["URL-TEST-1"]["image_url"] == ROWS[0]["image_url"]
    others = [p for sku, p in by_sku.items() if not sku.startswith("URL-TEST")]
    assert others and all(p["url"] is None and p["image_url"] is None for p in others)


def test_recommendation_answer_carries_url_and_image_url(live):
    response = live.get("/v1/recommendations/items/URL-TEST-1/similar", params={"k": 5})
    assert response.status_code == 200, response.text
    by_sku = {i["product"]["sku"]: i["product"] for i in response.json()["items"]}
    assert by_sku["URL-TEST-2"]["url"] == ROWS[1]["url"]
    assert by_sku["URL-TEST-2"]["image_url"] == ROWS[1]["image_url"]


def test_a_url_that_is_not_absolute_http_is_rejected(live):
    bad = {**ROWS[0], "sku": "URL-TEST-3", "url": "javascript:alert(1)"}
    answer = live.put("/v1/products", json=[bad])
    assert answer.status_code == 422
    assert answer.json()["applied"] == 0 and "url" in answer.json()["rejected"][0]["reason"]
