"""The real thing: `omnirank serve` in its own process, spoken to over TCP on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest


@pytest.fixture(scope="module")
def server(trained_bundle, tmp_path_factory, start_server):
    with start_server(trained_bundle, tmp_path_factory.mktemp("live-state")) as base:
        yield base


def test_health_reports_the_bundle_version(server, trained_bundle):
    body = httpx.get(f"{server}/health").json()
    assert body["status"] == "ok"
    assert body["bundle_version"] == (trained_bundle / "latest").resolve().name


def test_search_suggest_and_openapi_over_tcp(server):
    body = httpx.get(f"{server}/v1/search", params={"q": "gift for dad under 50", "k": 5}).json()
    assert body["hits"] and body["intent"]["price_max"] == 50
    suggest = httpx.get(f"{server}/v1/suggest", params={"q": "run"})
    assert suggest.status_code == 200 and suggest.json()
    schema = httpx.get(f"{server}/openapi.json").json()
    assert {
        "/v1/search",
        "/v1/suggest",
        "/v1/events",
        "/v1/customers/{customer_id}/profile",
        "/v1/customers/lookup",
    } <= set(schema["paths"])


def test_an_event_is_durable_and_changes_recommendations(server):
    loyalty = "LY" + uuid.uuid4().hex[:9].upper()
    before = httpx.get(f"{server}/v1/recommendations/customers/{loyalty}").json()
    assert before["cold_start"]
    trending_sku = before["items"][0]["product"]["sku"]
    event = {
        "event_id": uuid.uuid4().hex,
        "type": "add_to_cart",
        "timestamp": "2026-10-01T10:00:00Z",
        "channel": "app",
        "sku": trending_sku,
        "loyalty_id": loyalty,
    }
    accepted = httpx.post(f"{server}/v1/events", json={"events": [event]})
    assert accepted.status_code == 202 and accepted.json()["accepted"] == 1
    after = httpx.get(f"{server}/v1/recommendations/customers/{loyalty}").json()
    assert not after["cold_start"]


def test_bad_requests_never_500(server):
    for url in (
        "/v1/search?q=",
        "/v1/search?q=%ff",
        "/v1/recommendations/items/none/similar",
        "/v1/suggest?q=" + "x" * 5000,
    ):
        assert 400 <= httpx.get(f"{server}{url}").status_code < 500
    assert (
        httpx.post(
            f"{server}/v1/events", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )


def test_cli_help_lists_every_command():
    out = subprocess.run(
        [str(Path(sys.executable).with_name("omnirank")), "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for command in (
        "generate-sample",
        "train",
        "evaluate",
        "serve",
        "quickstart",
        "batch-recommend",
        "eval-search",
        "eval-recs",
        "bench",
    ):
        assert command in out
