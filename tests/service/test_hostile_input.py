"""Hostile input: malformed events are rejected one by one (never a 500), a reused event id with another
payload is a conflict, oversized bodies and headers are refused before parsing, a busy worker says 503
at once, rules are bounded, and a bundle with a file its manifest does not list is refused."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import anyio
import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import JSONResponse

from models.bundle import Bundle, BundleError, BundleWriter
from models.store import LiveStore, StoredEvent
from models.store.sqlite import SCHEMA_VERSION
from service.app import create_app
from service.limits import MAX_HEADER_BYTES, RequestLimits
from service.routers.events import MAX_BATCH

BODY_LIMIT = 256 * 1024


@pytest.fixture(scope="module")
def hostile(service_settings, tmp_path_factory):
    """An app of its own (own store and rules file) with small limits, so they are cheap to reach."""
    state = tmp_path_factory.mktemp("hostile")
    settings = service_settings.model_copy(
        update={
            "event_store_path": state / "events.sqlite3",
            "rules_path": state / "rules.json",
            "max_body_bytes": BODY_LIMIT,
            "max_in_flight": 2,
            "redirect_hosts": ["shop.example"],
            "reload_poll_seconds": 0,
        }
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def known(hostile):
    catalog = hostile.app.state.serving.view.catalog
    return {"sku": str(catalog.skus[0]), "store": str(catalog.store_ids[0])}


def _event(known: dict, eid: str, **overrides) -> dict:
    event = {
        "event_id": eid,
        "type": "purchase",
        "timestamp": "2026-10-01T10:00:00Z",
        "channel": "store",
        "sku": known["sku"],
        "store_id": known["store"],
        "loyalty_id": "LY" + uuid.uuid5(uuid.NAMESPACE_OID, eid).hex[:10].upper(),
        "quantity": 1,
        "price": 10.0,
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not ...}


def _stored_ids(client: TestClient, prefix: str) -> set[str]:
    conn = client.app.state.serving.store._conn()
    return {r[0] for r in conn.execute("SELECT event_id FROM events WHERE event_id LIKE ?", (prefix + "%",))}


# --- 1. a malformed event is rejected alone ---------------------------------------------------------------

MALFORMED = {  # overrides -> what the reason must say
    "bad-email": ({"loyalty_id": ..., "email": "jane.doe@gmail"}, "email is malformed"),
    "email-beside-good-id": ({"email": "jane.doe@gmail"}, "email is malformed"),
    "customer-id-email": ({"loyalty_id": ..., "customer_id": "x@y"}, "customer_id must be an opaque id"),
    "blank-event-id": ({"event_id": "   "}, "event_id must be a non-empty string"),
    "empty-event-id": ({"event_id": ""}, "event_id: String should have at least 1 character"),
    "blank-loyalty": ({"loyalty_id": "   "}, "loyalty_id is blank"),
    "blank-customer-id": ({"loyalty_id": ..., "customer_id": " "}, "customer_id is blank"),
    "control-chars": ({"loyalty_id": "LY\x00123456"}, "control characters"),
    "no-identifier": (
        {"loyalty_id": ...},
        "one valid customer_id, loyalty_id, email, phone or session_id is required",
    ),
    "no-sku": ({"sku": ...}, "sku is required for a purchase event"),
    "short-phone": ({"loyalty_id": ..., "phone": "12"}, "phone is malformed"),
    "unknown-sku": ({"sku": "NO-SUCH-SKU"}, "unknown sku 'NO-SUCH-SKU'"),
    "unknown-store": ({"store_id": "NO-SUCH-STORE"}, "unknown store_id 'NO-SUCH-STORE'"),
    "bad-type": ({"type": "teleport"}, "type: Input should be"),
    "bad-channel": ({"channel": "fax"}, "channel: Input should be"),
    "zero-quantity": ({"quantity": 0}, "quantity: Input should be greater than or equal to 1"),
    "negative-price": ({"price": -1}, "price: Input should be greater than or equal to 0"),
    "bad-timestamp": ({"timestamp": "yesterday"}, "timestamp: Input should be a valid datetime"),
    "extra-field": ({"coupon": "FREE"}, "coupon: Extra inputs are not permitted"),
    "huge-id": (
        {"loyalty_id": ..., "customer_id": "c" * 500},
        "customer_id: String should have at most 128 characters",
    ),
}
NOT_OBJECTS = {
    "number": (42, "event: Input should be a valid dictionary"),
    "null": (None, "valid dictionary"),
    "list": ([], "valid dictionary"),
}


def test_a_batch_of_500_with_one_malformed_event_of_each_kind_stores_exactly_the_others(hostile, known):
    run = f"b500-{uuid.uuid4().hex[:8]}-"
    events: list = [_event(known, f"{run}{i:03d}") for i in range(500)]
    expected: dict[int, str] = {}
    slots = iter(range(7, 500, 17))
    for name, (overrides, reason) in MALFORMED.items():
        i = next(slots)
        events[i] = _event(known, f"{run}{i:03d}-{name}", **overrides)
        expected[i] = reason
    for value, reason in NOT_OBJECTS.values():
        i = next(slots)
        events[i] = value
        expected[i] = reason

    answer = hostile.post("/v1/events", json={"events": events})

    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert [r["index"] for r in body["rejected"]] == sorted(expected)
    for rejection in body["rejected"]:
        assert expected[rejection["index"]] in rejection["reason"], rejection
    assert "jane.doe" not in answer.text  # a malformed identifier is not echoed back
    assert body["accepted"] == 500 - len(expected) and body["duplicates"] == 0 and body["conflicts"] == []
    good = {e["event_id"] for i, e in enumerate(events) if i not in expected}
    assert _stored_ids(hostile, run) == good


def test_a_batch_where_every_event_is_malformed_is_422_with_every_reason(hostile, known):
    answer = hostile.post(
        "/v1/events",
        json={"events": [_event(known, " "), _event(known, "x", customer_id="a@b", loyalty_id=...)]},
    )
    assert answer.status_code == 422
    assert [r["index"] for r in answer.json()["rejected"]] == [0, 1]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b"{not json", 422, "body is not valid JSON"),
        (b'{"events": [{"price": NaN}]}', 422, "body is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, 422, "body is not valid JSON"),
        (b"", 422, "body is not valid JSON"),
        (b'{"events": 5}', 422, 'body must be {"events": [...]}'),
        (b'{"events": []}', 422, 'body must be {"events": [...]}'),
        (b"[]", 422, 'body must be {"events": [...]}'),
        (
            json.dumps({"events": [{}] * (MAX_BATCH + 1)}).encode(),
            413,
            f"at most {MAX_BATCH} events per batch",
        ),
    ],
    ids=["garbage", "nan", "deep-nesting", "empty", "not-a-list", "no-events", "array", "too-many"],
)
def test_a_body_that_is_not_a_batch_is_refused_whole_never_a_500(hostile, body, status, detail):
    answer = hostile.post("/v1/events", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status, answer.text
    assert detail in answer.json()["detail"]


# --- 2. an event id reused with another payload is a conflict ----------------------------------------------


def test_a_retry_is_a_duplicate_and_a_reused_id_with_another_payload_is_a_conflict(hostile, known):
    run = f"idem-{uuid.uuid4().hex[:8]}-"
    first = [_event(known, f"{run}a"), _event(known, f"{run}b")]
    assert hostile.post("/v1/events", json={"events": first}).json()["accepted"] == 2

    retry = [
        first[0] | {"timestamp": "2026-10-01T10:00:00+00:00"},
        first[1] | {"quantity": 1},
    ]  # same event, spelt differently
    again = hostile.post("/v1/events", json={"events": retry})
    assert again.status_code == 202
    assert again.json() == {"accepted": 0, "duplicates": 2, "rejected": [], "conflicts": []}

    changed = [_event(known, f"{run}new"), first[1] | {"price": 99.0}]
    answer = hostile.post("/v1/events", json={"events": changed}).json()
    assert answer["accepted"] == 1 and answer["duplicates"] == 0
    assert answer["conflicts"] == [{"index": 1, "event_id": f"{run}b"}]
    (kept,) = [e for e in hostile.app.state.serving.store.iter_since(0.0) if e.event_id == f"{run}b"]
    assert kept.price == 10.0  # the first version stays

    twice = [_event(known, f"{run}c"), _event(known, f"{run}c"), _event(known, f"{run}c", quantity=2)]
    answer = hostile.post("/v1/events", json={"events": twice}).json()
    assert (answer["accepted"], answer["duplicates"]) == (1, 1)
    assert answer["conflicts"] == [{"index": 2, "event_id": f"{run}c"}]


def _stored(event_id: str, **kw) -> StoredEvent:
    from datetime import datetime, timezone

    base = dict(
        customer_key="C1",
        type="view",
        timestamp=datetime(2026, 1, 1, tzinfo=timezone.utc),
        channel="web",
        sku="S1",
    )
    return StoredEvent(event_id=event_id, **(base | kw))


V2_EVENTS = """
CREATE TABLE events (
    event_id TEXT PRIMARY KEY, customer_key TEXT NOT NULL, type TEXT NOT NULL, ts REAL NOT NULL,
    channel TEXT NOT NULL, sku TEXT, store_id TEXT, quantity INTEGER NOT NULL DEFAULT 1, price REAL,
    received_at REAL NOT NULL
);
INSERT INTO events VALUES ('old-1', 'C1', 'view', 1767225600.0, 'web', 'S1', NULL, 1, NULL, 1767225600.0);
PRAGMA user_version = 2;
"""


def test_a_v2_store_is_upgraded_in_place_and_its_old_events_replay_as_duplicates(tmp_path: Path):
    path = tmp_path / "v2.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(V2_EVENTS)
    with LiveStore(path) as store:
        conn = store._conn()
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        assert "payload_hash" in {row[1] for row in conn.execute("PRAGMA table_info(events)")}
        assert [e.event_id for e in store.recent_for_customer("C1")] == ["old-1"]
        old_replay = store.append([_stored("old-1", type="purchase")])  # no hash to compare: a retry
        assert old_replay.duplicates == ["old-1"] and old_replay.conflicts == []
        store.append([_stored("new-1")])
        assert store.append([_stored("new-1")]).duplicates == ["new-1"]
        clash = store.append([_stored("new-2"), _stored("new-1", sku="S2")])
        assert (
            clash.accepted == ["new-2"] and clash.conflicts == ["new-1"] and clash.conflict_positions == [1]
        )
        assert store.integrity_check() == "ok"
    with LiveStore(path) as reopened:  # opening a v4 file again changes nothing
        assert reopened.count() == 3


# --- 3. the typed bodies in the OpenAPI schema --------------------------------------------------------------


def test_the_openapi_schema_types_every_row_body(hostile):
    paths = hostile.get("/openapi.json").json()["paths"]
    events = paths["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert events["required"] == ["events"] and events["properties"]["events"]["maxItems"] == MAX_BATCH
    assert {"event_id", "type", "timestamp", "sku", "email"} <= set(
        events["properties"]["events"]["items"]["properties"]
    )
    for path, field in (
        ("/v1/inventory", "quantity"),
        ("/v1/prices", "valid_from"),
        ("/v1/products", "title"),
    ):
        rows = paths[path]["put"]["requestBody"]["content"]["application/json"]["schema"]
        assert rows["type"] == "array" and field in rows["items"]["properties"], path
    for status in ("413", "422", "401", "403", "431", "503"):
        assert status in paths["/v1/events"]["post"]["responses"], status


# --- 4. limits at the door ----------------------------------------------------------------------------------


def test_a_declared_oversized_body_is_413_before_it_is_read_or_authenticated(hostile, service_settings):
    rules_limit = service_settings.max_rules_bytes  # the rules PUT has a limit of its own
    for method, path, limit in (
        ("POST", "/v1/events", BODY_LIMIT),
        ("PUT", "/v1/inventory", BODY_LIMIT),
        ("PUT", "/v1/admin/rules", rules_limit),
    ):
        junk = b"x" * (limit + 1)  # not JSON: a 413 (not a 422) shows it was never parsed
        headers = {"content-type": "application/json", "X-API-Key": "wrong"}
        answer = hostile.request(method, path, content=junk, headers=headers)
        assert answer.status_code == 413, (path, answer.text)
        assert f"limit of {limit} bytes" in answer.json()["detail"] and answer.headers["x-request-id"]


def test_a_chunked_body_is_cut_at_the_limit(hostile):
    def chunks():
        for _ in range(BODY_LIMIT // 8192 + 4):
            yield b" " * 8192

    for method, path in (("POST", "/v1/events"), ("PUT", "/v1/prices")):
        answer = hostile.request(method, path, content=chunks(), headers={"content-type": "application/json"})
        assert answer.status_code == 413, (path, answer.text)


def test_the_middleware_stops_reading_a_stream_where_it_passes_the_limit():
    read = []

    async def app(scope, receive, send):
        body = await Request(scope, receive).body()
        await JSONResponse({"size": len(body)})(scope, receive, send)

    limited = RequestLimits(app, max_body_bytes=10_000, max_in_flight=4)

    async def scenario():
        sent = []

        async def receive():
            read.append(1)
            return {"type": "http.request", "body": b"a" * 4096, "more_body": True}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/x", "headers": [], "query_string": b""}
        await limited(scope, receive, send)
        return sent

    sent = anyio.run(scenario)
    assert sent[0]["status"] == 413 and len(read) == 3  # 3 x 4096 > 10_000: nothing read after
    assert limited.in_flight == 0


def test_oversized_headers_are_431(hostile):
    assert (
        hostile.get("/health/live", headers={"x-padding": "a" * (MAX_HEADER_BYTES // 2)}).status_code == 200
    )
    answer = hostile.get(
        "/v1/search", params={"q": "shoes"}, headers={"x-padding": "a" * (MAX_HEADER_BYTES + 1)}
    )
    assert answer.status_code == 431 and "limit" in answer.json()["detail"]


def test_past_the_in_flight_limit_a_request_gets_503_at_once_and_probes_still_answer(hostile):
    app = hostile.app

    async def call(path: str, method: str = "GET", hold: anyio.Event | None = None) -> tuple[int, dict]:
        messages: list[dict] = []
        sent_body = False

        async def receive():
            nonlocal sent_body
            if hold is not None and not sent_body:
                await hold.wait()
            if sent_body:
                await anyio.sleep_forever()
            sent_body = True
            return {"type": "http.request", "body": b'{"events": []}', "more_body": False}

        async def send(message):
            messages.append(message)

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"q=shoes",
            "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")],
            "client": ("testclient", 1), "server": ("testserver", 80),
        }  # fmt: skip
        await app(scope, receive, send)
        start = next(m for m in messages if m["type"] == "http.response.start")
        return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}

    async def scenario():
        release = anyio.Event()
        results = {}

        async def held(name):
            results[name] = await call("/v1/events", "POST", hold=release)

        async with anyio.create_task_group() as tg:
            tg.start_soon(held, "first")
            tg.start_soon(held, "second")
            with anyio.fail_after(30):
                while app.middleware_stack is None or _limits(app).in_flight < 2:
                    await anyio.sleep(0.01)
            results["busy"] = await call("/v1/search")
            results["live"] = await call("/health/live")
            results["ready"] = await call("/health/ready")
            release.set()
        results["after"] = await call("/v1/search")
        return results

    results = hostile.portal.call(scenario)
    status, headers = results["busy"]
    assert status == 503 and headers["retry-after"] == "1"
    assert results["live"][0] == 200 and results["ready"][0] == 200
    assert results["first"][0] == results["second"][0] == 422  # they ran once released
    assert results["after"][0] == 200


def _limits(app) -> RequestLimits:
    layer = app.middleware_stack
    while not isinstance(layer, RequestLimits):
        layer = layer.app
    return layer


# --- 5. rules are bounded ------------------------------------------------------------------------------------


def _rule(i: int, **kw) -> dict:
    return {"id": f"r{i}", "match": {"exact": f"zzword{i}"}, "redirect": "/pages/x"} | kw


def test_ten_thousand_rules_are_refused_naming_the_limit_and_the_limit_itself_is_served(hostile, known):
    too_many = hostile.put("/v1/admin/rules", json={"rules": [_rule(i) for i in range(10_000)]})
    assert too_many.status_code == 422
    assert "at most 2000 rules (the max_rules limit), got 10000" in too_many.json()["detail"]

    at_limit = [_rule(i, hide=[known["sku"]]) for i in range(1999)]
    at_limit.append(
        {"id": "shoes", "match": {"contains": "shoes"}, "boost": [{"category": "Footwear", "factor": 2}]}
    )
    try:
        answer = hostile.put("/v1/admin/rules", json={"rules": at_limit})
        assert answer.status_code == 200, answer.text[:500]
        found = hostile.get("/v1/search", params={"q": "running shoes"})
        assert found.status_code == 200 and found.json()["rules_fired"] == ["shoes"]
        assert hostile.get("/v1/search", params={"q": "zzword7"}).json()["rules_fired"] == ["r7"]
    finally:
        assert hostile.put("/v1/admin/rules", json={"rules": []}).status_code == 200


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (_rule(1, redirect="//evil.example/x"), "must not start with '//'"),
        (_rule(1, redirect="http://shop.example/sale"), "a site path starting with '/' or an https:// URL"),
        (
            _rule(1, redirect="https://evil.example/sale"),
            "redirect host 'evil.example' is not an allowed redirect host",
        ),
        (_rule(1, redirect="https://shop.example@evil.example/"), "no user name"),
        (_rule(1, redirect="/\\evil.example"), "backslashes"),
        (_rule(1, redirect="javascript:alert(1)"), "a site path starting with '/'"),
        (
            _rule(1, match={"contains": "one two three four five six seven eight nine"}),
            "9 words; the limit is 8",
        ),
        (
            _rule(1, boost=[{"brand": f"B{i}", "factor": 2} for i in range(21)]),
            "boost: List should have at most 20 items",
        ),
        (_rule(1, hide=["  "]), "hide holds skus"),
    ],
    ids=[
        "protocol-relative",
        "http",
        "other-host",
        "userinfo",
        "backslash",
        "javascript",
        "long-match",
        "boosts",
        "blank-hide",
    ],
)
def test_a_rule_out_of_bounds_is_422_naming_it(hostile, rule, message):
    answer = hostile.put("/v1/admin/rules", json={"rules": [rule]})
    assert answer.status_code == 422 and message in answer.json()["detail"], answer.text


def test_text_that_is_not_unicode_is_refused_not_a_500(hostile, known):
    """A lone surrogate is valid JSON (an escape) but not UTF-8: it used to fail only when written."""
    headers = {"content-type": "application/json"}
    body = json.dumps({"synonyms": {"two_way": [["a\ud800", "b"]]}})  # ASCII: the surrogate as an escape
    synonyms = hostile.put("/v1/admin/rules", content=body, headers=headers)
    assert synonyms.status_code == 422 and "is not valid unicode" in synonyms.json()["detail"]
    events = [_event(known, "bad") | {"event_id": "bad-\ud800"}, _event(known, f"ok-{uuid.uuid4().hex}")]
    answer = hostile.post("/v1/events", content=json.dumps({"events": events}), headers=headers)
    assert answer.status_code == 202 and [r["index"] for r in answer.json()["rejected"]] == [0]


def test_allowed_redirects_are_accepted(hostile):
    rules = [
        {"id": "r1", "match": {"exact": "zzword1"}, "redirect": "/pages/sale"},
        {"id": "r2", "match": {"exact": "zzword2"}, "redirect": "https://shop.example/sale?x=1"},
    ]
    try:
        assert hostile.put("/v1/admin/rules", json={"rules": rules}).status_code == 200
        assert (
            hostile.get("/v1/search", params={"q": "zzword2"}).json()["redirect"]
            == "https://shop.example/sale?x=1"
        )
    finally:
        hostile.put("/v1/admin/rules", json={"rules": []})


def test_a_rules_body_over_its_own_limit_is_413(hostile, service_settings):
    big = {"rules": [_rule(1, description="d" * 400)] * (service_settings.max_rules_bytes // 400 + 1)}
    assert hostile.put("/v1/admin/rules", json=big).status_code == 413


# --- 6. a bundle holds only what its manifest lists -----------------------------------------------------------


def test_a_stray_file_in_a_bundle_fails_verification(tmp_path: Path):
    with BundleWriter(tmp_path, version="v1") as writer:
        np.save(writer.file("arrays/x.npy"), np.ones(3))
        path = writer.publish(data_fingerprint="f", parameters={}, metrics={})
    Bundle.open(path, verify=True)
    (path / "arrays" / "extra.npy").write_bytes(b"slipped in")
    (path / ".hidden").write_text("x")
    with pytest.raises(BundleError, match=r"unlisted file \.hidden; unlisted file arrays/extra\.npy"):
        Bundle.open(path, verify=True)


def test_a_manifest_naming_a_path_outside_the_bundle_fails_verification(tmp_path: Path):
    with BundleWriter(tmp_path, version="v1") as writer:
        writer.write_json("a.json", {})
        path = writer.publish(data_fingerprint="f", parameters={}, metrics={})
    (tmp_path / "secret").write_text("s")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["../secret"] = {"sha256": "0", "bytes": 1}
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="outside the bundle"):
        Bundle.open(path, verify=True)
