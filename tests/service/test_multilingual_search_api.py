"""Shoppers who type Bengali, Hindi, romanised Bengali/Hindi, Portuguese or English, over HTTP against
the bundle trained on the sample: a relevant product first, and answers in the reader's language."""

from __future__ import annotations

import pandas as pd
import pytest


def search(client, **params):
    response = client.get("/v1/search", params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("query", "language", "category"),
    [
        ("দৌড়ের জুতা", "bn", "Footwear > Running Shoes"),  # Bengali script
        ("লাল ব্যাকপ্যাক", "bn", "Bags & Travel > Backpacks"),  # a loanword written in Bengali
        ("दौड़ने के जूते", "hi", "Footwear > Running Shoes"),  # Devanagari
        ("कॉफ़ी मशीन", "hi", "Home & Kitchen > Coffee Machines"),
        ("kalo juta", "bn-Latn", "Footwear"),  # Bengali typed in Latin letters
        ("safed joote 100 rupaye se kam", "hi-Latn", "Footwear"),  # Hindi typed in Latin letters
        ("tênis de corrida", "en", "Footwear > Running Shoes"),  # Portuguese: read as typed
        ("running shoes", "en", "Footwear > Running Shoes"),
    ],
)
def test_each_script_finds_a_relevant_product_first(client, query: str, language: str, category: str) -> None:
    body = search(client, q=query, k=5)
    assert body["intent"]["language"] == language
    assert body["hits"], body
    assert body["hits"][0]["product"]["category"].startswith(category), (query, body["hits"][0])
    assert not body["low_confidence"]


def test_price_in_rupees_typed_in_hindi_is_a_filter(client) -> None:
    body = search(client, q="safed joote 100 rupaye se kam", k=20)
    assert body["intent"]["price_max"] == 100
    assert body["intent"]["colors"] and body["hits"]
    assert all(h["product"]["price"] <= 100 for h in body["hits"])


def test_a_bengali_title_is_found_by_its_words(client, trained_bundle) -> None:
    products = pd.read_parquet(trained_bundle / "latest" / "catalog" / "products.parquet")
    named = products[products["title_bn"].notna() & products["brand"].notna()]
    row = named.iloc[0]
    body = search(client, q=row["title_bn"], k=5)
    top = body["hits"][0]["product"]
    assert (top["brand"], top["category"]) == (row["brand"], row["category"])


def test_labels_notes_and_reasons_in_the_readers_language(client) -> None:
    body = search(client, q="red running shoes under 50", lang="bn", k=5)
    assert body["language"] == "bn"
    assert "50-এর নিচে" in body["intent_label"] and "লাল" in body["intent_label"]
    english = search(client, q="red running shoes under 50", k=5)
    assert english["language"] == "en" and "under 50" in english["intent_label"]
    hindi = client.get(
        "/v1/search",
        params={"q": "red running shoes under 50"},
        headers={"Accept-Language": "hi-IN,hi;q=0.9"},
    ).json()
    assert hindi["language"] == "hi" and "50 से कम" in hindi["intent_label"]
    trending = client.get("/v1/recommendations/trending", params={"k": 3, "lang": "pt"}).json()
    assert trending["items"] and all("esta semana" in item["reason"] for item in trending["items"])


def test_an_unknown_language_is_a_clear_422(client) -> None:
    response = client.get("/v1/search", params={"q": "shoes", "lang": "xx"})
    assert response.status_code == 422
    assert "lang must be one of en, bn, hi, pt" in response.text


def test_a_query_nothing_matches_is_reported_as_a_weak_guess(client) -> None:
    body = search(client, q="qxzvw pfkjq", k=5)
    assert body["hits"] and body["low_confidence"]
    assert body["relaxed"] == ["no keyword match; showing the closest products by meaning"]
