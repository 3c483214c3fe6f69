"""A search-only bundle (catalog and search indexes, no customer models) is served: search and suggest
answer, the customer-side endpoints say why they cannot (503 with a message, never a crash)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from models import artifacts as A
from models.bundle import SEARCH, SUGGEST, Bundle, BundleError, BundleWriter, resolve_bundle_path
from models.config import Settings
from service.app import create_app
from service.state import BundleView

SEARCH_SIDE = (A.CATALOG_DIR, A.ENCODER_DIR, "search")


def publish_search_only(trained_bundle: Path, out_dir: Path, components=(SEARCH, SUGGEST)) -> Path:
    """The search half of a trained bundle, published as a bundle of its own."""
    source = resolve_bundle_path(trained_bundle)
    with BundleWriter(out_dir) as out:
        for relative in SEARCH_SIDE:
            shutil.copytree(source / relative, out.path / relative)
        manifest = Bundle.open(source).manifest
        return out.publish(
            data_fingerprint=manifest["data_fingerprint"],
            parameters={},
            metrics={"encoder": manifest["metrics"]["encoder"]},
            extra={"catalog_size": manifest["catalog_size"]},
            components=components,
        )


@pytest.fixture(scope="module")
def search_only(trained_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    bundles = tmp_path_factory.mktemp("search-only")
    publish_search_only(trained_bundle, bundles)
    state = tmp_path_factory.mktemp("search-only-state")
    settings = Settings(
        bundles_dir=bundles,
        event_store_path=state / "ev.sqlite3",
        rules_path=state / "rules.json",
        dev_mode=True,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_manifest_records_its_components(trained_bundle: Path, tmp_path: Path) -> None:
    trained = Bundle.open(trained_bundle)
    ranker = {"recs_ranker"} if trained.metrics.get("recs_ranker", {}).get("kept") else set()
    assert trained.components == {"search", "suggest", "customers", "recommendations"} | ranker
    assert Bundle.open(publish_search_only(trained_bundle, tmp_path)).components == {"search", "suggest"}
    with pytest.raises(BundleError, match="components"):
        publish_search_only(trained_bundle, tmp_path / "bad", components=("search", "ads"))


def test_search_and_suggest_answer(search_only: TestClient) -> None:
    health = search_only.get("/health").json()
    assert health["components"] == ["search", "suggest"] and health["products"] > 0
    body = search_only.get("/v1/search", params={"q": "running shoes under 100"}).json()
    assert body["hits"] and body["intent"]["price_max"] == 100
    # customer_id is accepted and changes nothing: no customer is known to this bundle
    plain = [h["product"]["sku"] for h in body["hits"]]
    personal = search_only.get(
        "/v1/search", params={"q": "running shoes under 100", "customer_id": "C-1"}
    ).json()
    assert [h["product"]["sku"] for h in personal["hits"]] == plain and not personal["personalised"]
    assert search_only.get("/v1/suggest", params={"q": "run"}).json()["suggestions"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/recommendations/customers/C-1",
        "/v1/recommendations/trending",
        "/v1/customers/C-1/profile",
    ],
)
def test_customer_side_is_503_with_a_reason(search_only: TestClient, path: str) -> None:
    response = search_only.get(path)
    assert response.status_code == 503
    assert "search-only" in response.json()["detail"]


def test_item_recommendations_are_503_too(search_only: TestClient) -> None:
    sku = search_only.get("/v1/search", params={"q": "tee"}).json()["hits"][0]["product"]["sku"]
    for path in (
        f"/v1/recommendations/items/{sku}/similar",
        f"/v1/recommendations/items/{sku}/bought-together",
    ):
        assert search_only.get(path).status_code == 503


def test_a_bundle_without_search_is_refused(trained_bundle: Path, tmp_path: Path) -> None:
    path = publish_search_only(trained_bundle, tmp_path, components=("recommendations",))
    settings = Settings(
        bundles_dir=path,
        event_store_path=tmp_path / "ev.sqlite3",
        rules_path=tmp_path / "rules.json",
        dev_mode=True,
    )
    with pytest.raises(BundleError, match="needs 'search'"):
        BundleView.load(settings)


def test_events_are_still_collected_for_the_first_full_training(search_only: TestClient) -> None:
    """A shop that starts with search records behaviour from day one; the next training uses it."""
    import uuid

    sku = search_only.get("/v1/search", params={"q": "tee"}).json()["hits"][0]["product"]["sku"]
    event = {
        "event_id": uuid.uuid4().hex,
        "type": "view",
        "timestamp": "2026-10-01T10:00:00Z",
        "channel": "web",
        "sku": sku,
        "email": "first.visitor@example.com",
    }
    assert search_only.post("/v1/events", json={"events": [event]}).status_code == 202
