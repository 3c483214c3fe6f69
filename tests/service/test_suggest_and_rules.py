"""HTTP: /v1/suggest and the merchandising admin API, against a real bundle trained on data_samples.

The rules tests use their own app (own live rules file) so the rules they PUT never leak into other
service tests that share the session ``client``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from models import artifacts as A
from models.bundle import Bundle
from models.catalog import Catalog
from models.config import Settings
from models.suggest import suggest_key
from service.app import create_app


@pytest.fixture(scope="module")
def rules_settings(trained_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    state = tmp_path_factory.mktemp("rules-state")
    return Settings(
        bundles_dir=trained_bundle,
        event_store_path=state / "events.sqlite3",
        rules_path=state / "rules.json",
        dev_mode=True,
    )


@pytest.fixture(scope="module")
def rules_client(rules_settings: Settings):
    with TestClient(create_app(rules_settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def rules_catalog_served(trained_bundle: Path) -> Catalog:
    return Catalog.load(Bundle.open(trained_bundle).path / A.CATALOG_DIR)


# --- suggest -----------------------------------------------------------------------------------
def test_bundle_ships_a_suggester_and_default_rules(trained_bundle: Path) -> None:
    bundle = Bundle.open(trained_bundle)
    assert bundle.has(A.RULES) and bundle.has(A.SUGGEST_DIR + "/suggest.npz")
    assert bundle.read_json(A.RULES)["rules"] == []


def test_suggest_completes_a_prefix_with_logged_queries(rules_client: TestClient) -> None:
    body = rules_client.get("/v1/suggest", params={"q": "s", "k": 5}).json()
    assert body["query"] == "s" and 1 <= len(body["suggestions"]) <= 5
    first = body["suggestions"][0]
    assert first["kind"] == "query"  # the sample logs searches: the popular ones come first
    prefix = first["text"][:4]
    again = rules_client.get("/v1/suggest", params={"q": prefix.upper()}).json()["suggestions"]
    assert first["text"] in [s["text"] for s in again]  # case-insensitive
    scores = [s["score"] for s in again]
    assert scores == sorted(scores, reverse=True)


def test_suggest_products_carry_their_sku(rules_client: TestClient, rules_catalog_served: Catalog) -> None:
    title = str(rules_catalog_served.products["title"].iloc[0])
    found = rules_client.get("/v1/suggest", params={"q": title[:-2], "k": 20}).json()["suggestions"]
    products = [s for s in found if s["kind"] == "product"]
    assert products and all(s["sku"] in rules_catalog_served.sku_index for s in products)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": ""}, "must not be empty"),
        ({"q": "   "}, "must not be empty"),
        ({"q": "a" * 300}, "limit is"),
        ({"q": "ab\u0007c"}, "control characters"),
        ({"q": "ab", "k": 0}, "k"),
        ({"q": "ab", "k": 21}, "limit is 20"),
        ({}, "q"),
    ],
)
def test_suggest_rejects_bad_input(rules_client: TestClient, params: dict, message: str) -> None:
    response = rules_client.get("/v1/suggest", params=params)
    assert response.status_code == 422
    assert message in response.json()["detail"]


# --- rules -------------------------------------------------------------------------------------
def _search(client: TestClient, q: str, k: int = 10) -> dict:
    response = client.get("/v1/search", params={"q": q, "k": k})
    assert response.status_code == 200, response.text
    return response.json()


def _skus(body: dict) -> list[str]:
    return [h["product"]["sku"] for h in body["hits"]]


@pytest.fixture(scope="module")
def rules_query(rules_client: TestClient, rules_catalog_served: Catalog) -> tuple[str, list[str], str]:
    """A query with results, its top skus, and a sku of another category it does not show."""
    products = rules_catalog_served.products
    query = str(products["category"].iloc[0]).split(">")[-1].strip()
    shown = _skus(_search(rules_client, query))
    assert len(shown) >= 3
    shown_categories = set(products.set_index("sku").loc[shown, "top_category"])
    outsider = str(products.loc[~products["top_category"].isin(shown_categories), "sku"].iloc[0])
    return query, shown, outsider


def test_pin_hide_and_redirect_apply_on_the_next_search(
    rules_client: TestClient, rules_settings: Settings, rules_query: tuple[str, list[str], str]
) -> None:
    query, shown, outsider = rules_query
    assert _search(rules_client, query)["rules_fired"] == []
    rules = {
        "synonyms": {"two_way": [], "one_way": {}},
        "rules": [
            {
                "id": "pin-outsider",
                "match": {"exact": query},
                "pin": [{"sku": outsider, "position": 2}],
                "hide": [shown[0]],
            },
            {"id": "to-guide", "match": {"contains": query}, "redirect": "/pages/guide"},
        ],
    }
    response = rules_client.put("/v1/admin/rules", json=rules)
    assert response.status_code == 200, response.text
    body = _search(rules_client, query.lower())
    skus = _skus(body)
    assert skus[1] == outsider
    assert shown[0] not in skus
    assert body["rules_fired"] == ["pin-outsider", "to-guide"]
    assert body["redirect"] == "/pages/guide"
    # The live file holds what was PUT, and GET returns it.
    on_disk = json.loads(Path(rules_settings.rules_path).read_text())
    assert [r["id"] for r in on_disk["rules"]] == ["pin-outsider", "to-guide"]
    assert rules_client.get("/v1/admin/rules").json() == on_disk
    # Pagination sees the rules too: page 2 does not repeat the pinned sku.
    page2 = rules_client.get("/v1/search", params={"q": query, "k": 1, "page": 2}).json()
    assert _skus(page2) == [outsider]


def test_invalid_rules_get_422_naming_the_rule_and_old_rules_stay(
    rules_client: TestClient, rules_settings: Settings, rules_query: tuple[str, list[str], str]
) -> None:
    query, _, outsider = rules_query
    good = {
        "rules": [{"id": "keep-me", "match": {"exact": query}, "pin": [{"sku": outsider, "position": 1}]}]
    }
    assert rules_client.put("/v1/admin/rules", json=good).status_code == 200
    before = Path(rules_settings.rules_path).read_text()
    unknown = {
        "rules": [{"id": "ghost", "match": {"exact": query}, "pin": [{"sku": "NO-SUCH-SKU", "position": 1}]}]
    }
    response = rules_client.put("/v1/admin/rules", json=unknown)
    assert response.status_code == 422
    assert "rule 'ghost': unknown sku 'NO-SUCH-SKU'" in response.json()["detail"]
    malformed = {
        "rules": [{"id": "zero", "match": {"exact": query}, "pin": [{"sku": outsider, "position": 0}]}]
    }
    response = rules_client.put("/v1/admin/rules", json=malformed)
    assert response.status_code == 422 and "rule 'zero'" in response.json()["detail"]
    assert Path(rules_settings.rules_path).read_text() == before
    body = _search(rules_client, query)
    assert body["rules_fired"] == ["keep-me"] and _skus(body)[0] == outsider


def test_synonyms_from_the_live_rules_feed_retrieval(
    rules_client: TestClient, rules_query: tuple[str, list[str], str]
) -> None:
    query, shown, _ = rules_query
    made_up = "zqxjword"
    assert _search(rules_client, made_up)["intent"]["expansions"] == []
    rules = {"synonyms": {"one_way": {made_up: [query]}}, "rules": []}
    assert rules_client.put("/v1/admin/rules", json=rules).status_code == 200
    body = _search(rules_client, made_up)
    assert body["intent"]["expansions"] == [suggest_key(query)]  # normalised tokens
    assert set(_skus(body)[:3]) & set(shown)  # the rewrite retrieves what the query retrieves
    assert _search(rules_client, query)["intent"]["expansions"] == []  # one-way
    assert rules_client.put("/v1/admin/rules", json={}).status_code == 200  # back to no rules
    assert rules_client.get("/v1/admin/rules").json()["rules"] == []
