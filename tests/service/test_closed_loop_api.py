"""The closed loop over HTTP: answers carry a request id and are recorded, events speak the import
format and are attributed to the answers they came from, consent is stored, and an A/B test keeps
each shopper in one arm."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from models.abtest import assign_arm


def _flush(client: TestClient) -> pd.DataFrame:
    client.app.state.impressions.flush()
    return client.app.state.serving.store.served_frame().set_index("request_id")


def _stamp(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _post(client: TestClient, events: list[dict]) -> dict:
    r = client.post("/v1/events", json={"events": events})
    assert r.status_code == 202, r.text
    return r.json()


def test_every_answer_carries_its_request_id_and_is_recorded_as_shown(client, service_now):
    search = client.get("/v1/search", params={"q": "running shoes", "k": 5, "session_id": "guest-77"})
    body = search.json()
    assert body["request_id"] == search.headers["X-Request-ID"] and body["arm"] == "A"
    sku = body["hits"][0]["product"]["sku"]
    answers = {
        "search": body,
        "suggest": client.get("/v1/suggest", params={"q": "runn"}).json(),
        "similar": client.get(f"/v1/recommendations/items/{sku}/similar", params={"k": 4}).json(),
        "bought_together": client.get(f"/v1/recommendations/items/{sku}/bought-together").json(),
        "trending": client.get("/v1/recommendations/trending", params={"k": 3}).json(),
        "cart": client.post("/v1/recommendations/cart", json={"skus": [sku], "k": 3}).json(),
    }
    assert len({a["request_id"] for a in answers.values()}) == len(answers)
    served = _flush(client)
    for surface, answer in answers.items():
        row = served.loc[answer["request_id"]]
        assert (row["surface"], row["arm"]) == (surface, "A")
        assert row["ts"] == pd.Timestamp(service_now)
        shown = (
            [h["product"]["sku"] for h in answer["hits"]]
            if surface == "search"
            else [s["sku"] for s in answer["suggestions"] if s["sku"]]
            if surface == "suggest"
            else [i["product"]["sku"] for i in answer["items"]]
        )
        assert list(row["skus"]) == shown
    search_row = served.loc[body["request_id"]]
    assert search_row["query"] == "running shoes"
    assert search_row["unit"] and "guest-77" not in search_row["unit"]  # the A/B unit is stored hashed


def test_the_openapi_event_examples_are_valid_on_the_sample(client):
    op = client.get("/openapi.json").json()["paths"]["/v1/events"]["post"]
    examples = op["requestBody"]["content"]["application/json"]["schema"]["examples"]
    assert examples
    for example in examples:
        answer = _post(client, example["events"])
        assert answer["rejected"] == [] and answer["conflicts"] == []
        assert answer["accepted"] + answer["duplicates"] == len(example["events"])


def test_import_format_fields_are_stored_and_a_guest_is_kept_under_the_session(client, service_now):
    run = uuid.uuid4().hex[:8]
    events = [
        {
            "event_id": f"{run}-search",
            "type": "search",
            "timestamp": _stamp(service_now),
            "channel": "app",
            "session_id": f"S-{run}",
            "query": "mail me at jane.doe@example.com",
        },
        {
            "event_id": f"{run}-click",
            "type": "click",
            "timestamp": _stamp(service_now),
            "channel": "app",
            "session_id": f"S-{run}",
            "sku": "SKU-973846",
            "request_id": "r-123",
            "position": 3,
        },
        {
            "event_id": f"{run}-send",
            "type": "email_send",
            "timestamp": _stamp(service_now),
            "channel": "email",
            "email": "guest@example.com",
            "campaign": "autumn",
        },
    ]
    assert _post(client, events)["accepted"] == 3
    stored = client.app.state.serving.store.events_frame().set_index("event_id")
    search, click, send = (stored.loc[f"{run}-{k}"] for k in ("search", "click", "send"))
    assert search["customer_key"].startswith("s_") and search["customer_key"] == click["customer_key"]
    assert (
        search["sku"] is None and "jane.doe" not in search["query"]
    )  # an email typed in the box is redacted
    assert (click["request_id"], click["position"], click["type"]) == ("r-123", 3, "click")
    assert send["campaign"] == "autumn" and set(send["identifiers"]) == {"email"}
    assert "@" not in send["identifiers"]["email"]  # a salted hash, never the address


def test_a_search_click_and_purchase_are_attributed_in_the_analytics(client, service_now):
    query = f"drip coffee maker {uuid.uuid4().hex[:4]}"
    session = f"S-{uuid.uuid4().hex[:8]}"
    answer = client.get("/v1/search", params={"q": query, "session_id": session, "k": 5}).json()
    assert len(answer["hits"]) >= 2
    sku = answer["hits"][1]["product"]["sku"]
    base = {"channel": "web", "session_id": session}
    _post(
        client,
        [
            base | {"event_id": f"{session}-c", "type": "search_click", "timestamp": _stamp(service_now),
                    "sku": sku, "query": query, "request_id": answer["request_id"], "position": 2},
            base | {"event_id": f"{session}-p", "type": "purchase",
                    "timestamp": _stamp(service_now + timedelta(minutes=10)), "sku": sku, "quantity": 2,
                    "price": 25.0, "basket_id": "O-1"},
        ],
    )  # fmt: skip
    _flush(client)
    since, until = service_now - timedelta(hours=1), service_now + timedelta(hours=1)
    r = client.get(
        "/v1/admin/analytics", params={"since": since.isoformat(), "until": until.isoformat(), "top_n": 500}
    )
    assert r.status_code == 200, r.text
    report = r.json()
    row = next(q for q in report["top_queries"] if q["query"] == query)
    assert (row["searches"], row["clicks"], row["purchases"], row["revenue"]) == (1, 1, 1, 50.0)
    assert report["attribution"]["purchase"]["session"] >= 1
    assert (
        client.get(
            "/v1/admin/analytics", params={"since": until.isoformat(), "until": since.isoformat()}
        ).status_code
        == 422
    )


def test_consent_is_stored_hashed_and_an_older_statement_never_wins(client, service_now):
    email = f"opt.{uuid.uuid4().hex[:6]}@example.com"
    out = client.post("/v1/customers/consent", json={"email": email, "email_consent": False})
    assert out.status_code == 202 and out.json() == {"recorded": 1, "email_consent": False}
    older = (service_now - timedelta(days=1)).isoformat()
    late = client.post("/v1/customers/consent", json={"email": email, "email_consent": True, "at": older})
    assert late.json()["recorded"] == 0
    from models.pii import identifier_key

    key = identifier_key("email", email, client.app.state.settings.pii_salt)
    mine = [s for s in client.app.state.serving.store.consent_statements() if s.identifier_hash == key]
    assert [(s.kind, s.email_consent) for s in mine] == [("email", False)]
    assert client.post("/v1/customers/consent", json={"email_consent": False}).status_code == 422
    future = (service_now + timedelta(days=1)).isoformat()
    assert (
        client.post(
            "/v1/customers/consent", json={"email": email, "email_consent": True, "at": future}
        ).status_code
        == 422
    )


def test_the_timeline_shows_store_channel_quantity_and_price_paid(client, service_now):
    loyalty = "LY" + uuid.uuid4().hex[:9].upper()
    event = {
        "event_id": f"pos-{loyalty}",
        "type": "purchase",
        "timestamp": _stamp(service_now - timedelta(hours=1)),
        "channel": "store",
        "store_id": "ST-SAO",
        "sku": "SKU-973846",
        "loyalty_id": loyalty,
        "quantity": 2,
        "price": 10.5,
        "basket_id": "ST-SAO-1",
    }
    _post(client, [event])
    profile = client.post("/v1/customers/lookup", json={"loyalty_id": loyalty}).json()
    first = profile["timeline"][0]
    assert (first["store_id"], first["channel"], first["quantity"], first["price_paid"]) == (
        "ST-SAO",
        "store",
        2,
        10.5,
    )
    assert profile["request_id"] and profile["arm"] == "A"


@pytest.fixture(scope="module")
def ab_client(service_settings, trained_bundle, tmp_path_factory, service_now):
    """The app with an A/B test: arm B serves the same bundle pinned (the split is what is tested)."""
    from models.clock import fixed_clock
    from service.app import create_app

    state = tmp_path_factory.mktemp("ab-state")
    settings = service_settings.model_copy(
        update={
            "event_store_path": state / "events.sqlite3",
            "rules_path": state / "rules.json",
            "experiment_bundle": (trained_bundle / "latest").resolve(),
            "experiment_name": "ranker-test",
            "experiment_split": 0.5,
        }
    )
    with TestClient(create_app(settings, clock=fixed_clock(service_now))) as test_client:
        yield test_client


def test_an_ab_test_keeps_each_shopper_in_one_arm_and_every_answer_says_which(ab_client):
    arms = {}
    for n in range(24):
        session = f"shopper-{n}"
        want = assign_arm(f"session:{session}", "ranker-test", 0.5)
        for _ in range(2):  # the same shopper twice: the same arm
            body = ab_client.get(
                "/v1/search", params={"q": "coffee"}, headers={"X-Session-ID": session}
            ).json()
            assert body["arm"] == want
        arms[session] = want
    assert set(arms.values()) == {"A", "B"}
    assert ab_client.get("/v1/search", params={"q": "coffee"}).json()["arm"] == "A"  # no unit: arm A
    customer_arm = ab_client.get("/v1/recommendations/trending", params={"customer_id": "c_x"}).json()["arm"]
    assert customer_arm == assign_arm("customer:c_x", "ranker-test", 0.5)
    served = _flush(ab_client)
    assert set(served["arm"]) == {"A", "B"}
