"""Scoped API keys on every route: a route x key matrix, store-scoped associates, no existence
leak, expiry and revocation, and a service that will not start open to anyone."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from models.clock import fixed_clock, system_clock
from models.store import LiveStore
from service.app import create_app
from service.security import InsecureStart, route_scopes
from service.serving import Serving

ADMIN = "admin-secret-for-tests"
NOW = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)
"""The secured app's clock; keys are created and revoked at this moment, whatever today is."""
SCOPE_KEYS = ("search", "personalize", "associate", "admin")


@pytest.fixture(scope="module")
def secured(service_settings, tmp_path_factory):
    """An app with an admin key and no development mode, and one store key per scope."""
    state = tmp_path_factory.mktemp("secured")
    settings = service_settings.model_copy(
        update={
            "event_store_path": state / "s.sqlite3",
            "rules_path": state / "r.json",
            "dev_mode": False,
            "admin_key": SecretStr(ADMIN),
            "reload_poll_seconds": 0,
            "cors_origins": ["https://shop.example"],
        }
    )
    now = NOW.timestamp()
    with LiveStore(settings.event_store_path) as store:
        keys = {scope: store.create_key(f"{scope} key", scope, now) for scope in SCOPE_KEYS}
        keys["associate-rio"] = store.create_key("tablet rio", "associate", now, stores=("ST-RIO",))
        keys["expired"] = store.create_key("old", "admin", now - 100, expires_at=now - 1)
    with TestClient(create_app(settings, clock=fixed_clock(NOW))) as client:
        yield client, keys


@pytest.fixture(scope="module")
def customer(trained_bundle) -> str:
    history = pd.read_parquet(trained_bundle / "latest" / "recs" / "history.parquet")
    return str(history["customer_id"].value_counts().index[3])


def _example_requests(sku: str, customer: str) -> dict[tuple[str, str], dict]:
    """One valid request per route; a route missing here fails the matrix test (declare it)."""
    return {
        ("GET", "/metrics"): {},
        ("GET", "/health/live"): {},
        ("GET", "/health/ready"): {},
        ("GET", "/health"): {},
        ("GET", "/v1/search"): {"params": {"q": "running shoes"}},
        ("GET", "/v1/recommendations/customers/{customer_id}"): {"path": {"customer_id": customer}},
        ("GET", "/v1/recommendations/items/{sku}/similar"): {"path": {"sku": sku}},
        ("GET", "/v1/recommendations/items/{sku}/bought-together"): {"path": {"sku": sku}},
        ("POST", "/v1/recommendations/cart"): {"json": {"skus": [sku]}},
        ("GET", "/v1/recommendations/trending"): {},
        ("POST", "/v1/events"): {
            "json": {
                "events": [
                    {
                        "event_id": f"sec-{time.time_ns()}",
                        "type": "view",
                        "timestamp": "2026-10-01T10:00:00Z",
                        "channel": "web",
                        "sku": sku,
                        "customer_id": customer,
                    }
                ]
            }
        },
        ("GET", "/v1/customers/{customer_id}/profile"): {
            "path": {"customer_id": customer},
            "params": {"store_id": "ST-RIO"},
        },
        ("POST", "/v1/customers/lookup"): {"json": {"customer_id": customer, "store_id": "ST-RIO"}},
        ("GET", "/v1/suggest"): {"params": {"q": "run"}},
        ("PUT", "/v1/inventory"): {"json": [{"store_id": "ST-RIO", "sku": sku, "quantity": 5}]},
        ("PUT", "/v1/prices"): {"json": [{"sku": sku, "price": 10.0, "channel": "app"}]},
        ("PUT", "/v1/customers/loyalty"): {"json": [{"loyalty_id": "LY000000001", "tier": "gold"}]},
        ("PUT", "/v1/products"): {
            "json": [
                {"sku": "SEC-NEW-1", "title": "Security Test Lamp", "category": "Home > Lamps", "price": 20.0}
            ]
        },
        ("DELETE", "/v1/products/{sku}"): {"path": {"sku": "SEC-NEW-1"}},
        ("GET", "/v1/products/{sku}/availability"): {"path": {"sku": sku}},
        ("GET", "/v1/prices/differences"): {},
        ("GET", "/v1/admin/rules"): {},
        ("PUT", "/v1/admin/rules"): {"json": {"rules": []}},
        ("POST", "/v1/admin/reload"): {},
        ("GET", "/v1/admin/analytics"): {},
        ("POST", "/v1/customers/consent"): {"json": {"customer_id": customer, "email_consent": False}},
        ("GET", "/v1/stores"): {},
        ("POST", "/v1/admin/rules/preview"): {"json": {"rules": {}, "q": "mug"}},
        ("GET", "/v1/admin/report"): {},
        ("GET", "/"): {},
        ("GET", "/associate"): {},
        ("GET", "/admin"): {},
        ("GET", "/report"): {},
        ("GET", "/pages/config.json"): {},
        ("GET", "/docs"): {},
        ("GET", "/docs/oauth2-redirect"): {},
        ("GET", "/redoc"): {},
    }


def _call(client: TestClient, method: str, path: str, spec: dict, key: str | None):
    url = path.format(**spec.get("path", {}))
    headers = {"X-API-Key": key} if key else {}
    return client.request(method, url, params=spec.get("params"), json=spec.get("json"), headers=headers)


def test_every_route_declares_a_scope_and_every_key_gets_exactly_its_scope(
    secured, customer, service_settings
):
    client, keys = secured
    sku = client.get(
        "/v1/search", params={"q": "running shoes"}, headers={"X-API-Key": keys["search"]}
    ).json()["hits"][0]["product"]["sku"]
    examples = _example_requests(sku, customer)
    scopes = route_scopes(client.app)
    assert None not in scopes.values(), [route for route, scope in scopes.items() if scope is None]
    assert set(scopes) == set(examples), "declare an example request for every route (and nothing else)"
    allowed = {
        "search": {"search"},
        "personalize": {"search", "personalize"},
        "associate": {"search", "associate"},
        "admin": set(SCOPE_KEYS),
    }
    # the order matters only for the product PUT before its DELETE
    for route in sorted(scopes, key=lambda r: (r[0] == "DELETE", r)):
        scope, spec = scopes[route], examples[route]
        if scope == "public":
            assert _call(client, *route, spec, None).status_code == 200, route
            continue
        assert _call(client, *route, spec, None).status_code == 401, route
        assert _call(client, *route, spec, "ork_nothing.wrong").status_code == 401, route
        assert _call(client, *route, spec, keys["expired"]).status_code == 401, route
        for key_scope in SCOPE_KEYS:
            response = _call(client, *route, spec, keys[key_scope])
            if scope in allowed[key_scope]:
                assert response.status_code < 400, (route, key_scope, response.text)
            else:
                assert response.status_code == 403, (route, key_scope, response.status_code)
    assert _call(client, "GET", "/v1/admin/rules", {}, ADMIN).status_code == 200  # the settings' admin key
    bearer = client.get("/v1/admin/rules", headers={"Authorization": f"Bearer {keys['admin']}"})
    assert bearer.status_code == 200


def test_the_search_key_never_reads_customers_and_cannot_tell_who_is_one(secured, customer):
    client, keys = secured
    search = {"X-API-Key": keys["search"]}
    known = client.post("/v1/customers/lookup", json={"customer_id": customer}, headers=search)
    unknown = client.post("/v1/customers/lookup", json={"email": "nobody@nowhere.example"}, headers=search)
    assert (known.status_code, unknown.status_code) == (403, 403) and known.json() == unknown.json()
    anonymous = [
        client.post("/v1/customers/lookup", json=body).status_code
        for body in ({"customer_id": customer}, {"email": "x@y.example"})
    ]
    assert anonymous == [401, 401]
    personal = client.get("/v1/search", params={"q": "tee", "customer_id": customer}, headers=search)
    assert personal.status_code == 403
    assert (
        client.get(
            "/v1/search",
            params={"q": "tee", "customer_id": customer},
            headers={"X-API-Key": keys["personalize"]},
        ).status_code
        == 200
    )


def test_an_associate_key_sees_only_its_stores(secured, customer):
    client, keys = secured
    rio = {"X-API-Key": keys["associate-rio"]}
    own = client.post("/v1/customers/lookup", json={"customer_id": customer}, headers=rio)
    assert own.status_code == 200
    assert own.json()["offers"] and all(
        o["product"]["stock_in_store"] is not None and o["product"]["stock_in_store"] > 0
        for o in own.json()["offers"]
    )
    other = client.get(f"/v1/customers/{customer}/profile", params={"store_id": "ST-SAO"}, headers=rio)
    assert other.status_code == 403 and "ST-RIO" in other.json()["detail"]
    anywhere = client.get(
        f"/v1/customers/{customer}/profile",
        params={"store_id": "ST-SAO"},
        headers={"X-API-Key": keys["associate"]},
    )
    assert anywhere.status_code == 200


def test_a_revoked_key_is_refused_from_the_next_request(secured, service_settings):
    client, keys = secured
    store = client.app.state.serving.store
    key = store.create_key("short-lived", "search", NOW.timestamp())
    assert client.get("/v1/suggest", params={"q": "run"}, headers={"X-API-Key": key}).status_code == 200
    store.revoke_key(key.removeprefix("ork_").split(".")[0], NOW.timestamp())
    assert client.get("/v1/suggest", params={"q": "run"}, headers={"X-API-Key": key}).status_code == 401


def test_cors_lets_the_storefront_origin_call_with_its_key(secured):
    client, keys = secured
    preflight = client.options(
        "/v1/search",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-api-key",
        },
    )
    assert (
        preflight.status_code == 200
        and preflight.headers["access-control-allow-origin"] == "https://shop.example"
    )
    other = client.options(
        "/v1/search", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in other.headers


def test_the_service_refuses_to_start_without_an_admin_key(service_settings, tmp_path):
    settings = service_settings.model_copy(
        update={
            "event_store_path": tmp_path / "s.sqlite3",
            "rules_path": tmp_path / "r.json",
            "dev_mode": False,
            "admin_key": None,
        }
    )
    with pytest.raises(InsecureStart, match="OMNIRANK_ADMIN_KEY"):
        Serving.start(settings, system_clock)
    with LiveStore(settings.event_store_path) as store:  # an admin key created with the CLI is enough
        store.create_key("ops", "admin", NOW.timestamp())
    Serving.start(settings, system_clock).close()
