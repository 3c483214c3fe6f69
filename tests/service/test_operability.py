"""What operations sees: probes, Prometheus metrics, request ids, and JSON log lines without PII."""

from __future__ import annotations

import json
import logging

from service.logs import RequestLog, redact


def test_probes_answer_without_a_key(client):
    assert client.get("/health/live").json() == {"status": "ok", "detail": ""}
    ready = client.get("/health/ready").json()
    assert ready["status"] == "ok" and ready["detail"].startswith("bundle ")


def test_metrics_count_requests_per_route_and_describe_the_served_bundle(client):
    client.get("/v1/search", params={"q": "running shoes"})
    client.get("/v1/search", params={"q": "qqqxxzz zzyq"})  # nothing like it: a zero-result search
    text = client.get("/metrics").text
    version = client.get("/health").json()["bundle_version"]
    assert f'omnirank_bundle_info{{version="{version}"}} 1.0' in text
    assert 'http_request_duration_seconds_count{handler="/v1/search"' in text
    assert "omnirank_searches_total" in text and "omnirank_live_lag_versions 0.0" in text
    assert 'omnirank_index_items{index="catalog"}' in text


def test_every_answer_carries_a_request_id_and_a_safe_caller_id_is_kept(client):
    generated = client.get("/v1/suggest", params={"q": "run"}).headers["x-request-id"]
    assert len(generated) == 32
    assert (
        client.get("/v1/suggest", params={"q": "run"}, headers={"X-Request-ID": "till-42.a"}).headers[
            "x-request-id"
        ]
        == "till-42.a"
    )
    unsafe = client.get("/v1/suggest", params={"q": "run"}, headers={"X-Request-ID": "jane@x.com"}).headers[
        "x-request-id"
    ]
    assert unsafe != "jane@x.com" and len(unsafe) == 32
    for identifier in ("LY510877278", "5561905310575"):
        replaced = client.get(
            "/v1/suggest", params={"q": "run"}, headers={"X-Request-ID": identifier}
        ).headers["x-request-id"]
        assert replaced != identifier and len(replaced) == 32


def test_the_access_log_names_the_route_template_never_the_identifier(client, caplog):
    email = "ana.lima@example.com"
    with caplog.at_level(logging.INFO):
        client.post("/v1/customers/lookup", json={"email": email})
        client.get("/v1/recommendations/customers/LY510877278")
    lines = [
        r.getMessage() if isinstance(r.msg, str) else json.dumps(r.msg, default=str) for r in caplog.records
    ]
    access = [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "request"]
    assert {a["route"] for a in access} >= {
        "/v1/customers/lookup",
        "/v1/recommendations/customers/{customer_id}",
    }
    assert all("LY510877278" not in str(a) and email not in str(a) for a in access), access
    assert RequestLog  # the middleware that wrote them
    assert lines


def test_redaction_masks_identifiers_and_spares_dates_skus_and_versions():
    assert (
        redact("lookup of jane.doe@gmail.com by +55 11 91234-5678 card LY510877278")
        == "lookup of [email] by [phone] card [loyalty-id]"
    )
    kept = "2026-12-01T18:52:48Z SKU-12345678 bundle 20261201T183540282471Z took 12.5 ms"
    assert redact(kept) == kept


def test_a_percent_encoded_email_is_redacted_too_and_uvicorns_access_log_is_off(client):
    assert redact("GET /v1/customers/Jlima.1%40Wayneent.com/profile") == "GET /v1/customers/[email]/profile"
    access = logging.getLogger("uvicorn.access")
    assert access.disabled and not access.propagate
