"""Cached head queries over HTTP: a live product change, a rules change or a bundle swap after a
query was cached is seen by the very next search of that query (what is cached depends only on the
bundle: encodings and parsed intents, never results)."""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import datetime, timezone

from fastapi.testclient import TestClient

from models.bundle import point_latest
from models.clock import fixed_clock
from service.app import create_app

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)


def _skus(client: TestClient, q: str) -> list[str]:
    response = client.get("/v1/search", params={"q": q, "k": 20})
    assert response.status_code == 200, response.text
    return [h["product"]["sku"] for h in response.json()["hits"]]


def _engine(client: TestClient):
    return client.app.state.serving.current().search


def test_a_live_product_and_a_rules_change_are_seen_after_the_query_was_cached(own_client) -> None:
    with own_client("search-cache-live", NOW) as client:
        q = "quorbly lantern"
        before = _skus(client, q)
        assert _skus(client, q) == before and _engine(client).intent_cached(q)  # cached now
        sku = "LIVE-" + uuid.uuid4().hex[:8].upper()
        row = {"sku": sku, "title": "Quorbly Lantern Deluxe", "category": "Home > Lighting", "price": 30.0}
        assert client.put("/v1/products", json=[row]).json()["applied"] == 1
        assert _skus(client, q)[0] == sku  # the new product, though the intent came from the cache
        assert client.delete(f"/v1/products/{sku}").status_code == 200
        assert sku not in _skus(client, q)
        # a synonym PUT after the query was cached: its rewrite applies at once
        rules = client.get("/v1/admin/rules").json()
        rules["synonyms"]["one_way"] = {**rules["synonyms"].get("one_way", {}), "quorbly": ["running shoes"]}
        assert client.put("/v1/admin/rules", json=rules).status_code == 200
        answer = client.get("/v1/search", params={"q": q, "k": 20}).json()
        assert "running shoes lantern" in answer["intent"]["expansions"] or any(
            "running shoes" in e for e in answer["intent"]["expansions"]
        ), answer["intent"]


def test_a_swapped_bundle_answers_from_its_own_empty_cache(
    service_settings, trained_bundle, tmp_path
) -> None:
    bundles = tmp_path / "bundles"
    bundles.mkdir()
    served = (trained_bundle / "latest").resolve()
    shutil.copytree(served, bundles / served.name)
    point_latest(bundles, served.name)
    settings = service_settings.model_copy(
        update={
            "bundles_dir": bundles,
            "event_store_path": tmp_path / "s.sqlite3",
            "rules_path": tmp_path / "r.json",
            "reload_poll_seconds": 0,
        }
    )
    with TestClient(create_app(settings, clock=fixed_clock(NOW))) as client:
        q = "running shoes"
        first = _skus(client, q)
        old = _engine(client)
        assert old.intent_cached(q)
        shutil.copytree(served, bundles / "v2")
        manifest = json.loads((bundles / "v2" / "manifest.json").read_text())
        manifest["version"] = "v2"
        (bundles / "v2" / "manifest.json").write_text(json.dumps(manifest))
        point_latest(bundles, "v2")
        assert client.post("/v1/admin/reload").json()["status"] == "loaded"
        new = _engine(client)
        assert new.intents is not old.intents and not new.intent_cached(q)
        assert new.encoder._cache is not old.encoder._cache
        assert _skus(client, q) == first  # the same files: the same answer, from a fresh parse
        assert new.intent_cached(q)
