"""The service's events as training and batch input: shaped like ingested events, re-resolved by their
identifier hashes, deduplicated against --data; consent posted to the service changes the audience."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from models.pii import identifier_key
from models.store import LiveStore, StoredEvent
from training import identity
from training.batch.campaigns import apply_consent
from training.ingest import ingest
from training.live_events import merge_events, read_live_events, resolve_live_rows

SALT = "live-events-salt"
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)


def _data(root: Path) -> Path:
    root.mkdir()
    pd.DataFrame(
        {
            "sku": ["P1", "P2", "P3"],
            "title": ["Red shoe", "Blue sock", "Green hat"],
            "category": ["Footwear", "Apparel", "Apparel"],
            "price": [50.0, 5.0, 15.0],
        }
    ).to_parquet(root / "products.parquet", index=False)
    pd.DataFrame({"store_id": ["S1"], "name": ["One"]}).to_parquet(root / "stores.parquet", index=False)
    rows = [
        {"event_id": "d1", "type": "purchase", "timestamp": "2026-09-01T10:00:00Z", "channel": "store",
         "sku": "P1", "loyalty_id": "L1", "store_id": "S1", "price": 50.0},
        {"event_id": "d2", "type": "view", "timestamp": "2026-09-02T10:00:00Z", "channel": "web",
         "sku": "P2", "email": "ana@x.com"},
    ]  # fmt: skip
    (root / "events.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    return root


def _store(path: Path) -> Path:
    ana = identifier_key("email", "ana@x.com", SALT)
    card = identifier_key("loyalty_id", "L1", SALT)
    with LiveStore(path) as store:
        store.append(
            [
                # the app: card and email together, the evidence that they are one person
                StoredEvent("api-1", ana, "add_to_cart", T0, "app", "P3", identifiers={"email": ana, "loyalty_id": card}),
                StoredEvent("api-2", "s_guest", "search", T0, "web", None, session_id="G", query="green hat"),
                StoredEvent("api-3", ana, "view", T0, "web", "NEW-SKU", identifiers={"email": ana}),
                StoredEvent("d2", ana, "view", T0, "web", "P2", identifiers={"email": ana}),  # also in --data
            ]
        )  # fmt: skip
    return path


def test_live_events_join_the_ingested_ones_and_re_resolve_across_identifiers(tmp_path: Path):
    data = ingest(_data(tmp_path / "data"), tmp_path / "q.jsonl")
    live = read_live_events(
        _store(tmp_path / "s.db"), data.events, data.products["sku"], data.stores["store_id"]
    )
    assert live.read == 4 and live.skipped == {"unknown sku": 1}
    events = merge_events(data.events, live)
    assert live.skipped == {"unknown sku": 1, "already in --data": 1}
    assert events["event_id"].tolist() == ["d1", "d2", "api-1", "api-2"]  # time order, d2 once
    assert events["sku"].dtype == data.events["sku"].dtype  # categories kept: concatenation stays compact

    graph = identity.resolve(
        data.customers, events, SALT, data.unsubscribes["email"], hashed=live.hashed_identifiers()
    )
    events["customer_id"] = graph.customer_of(events, SALT)
    found = resolve_live_rows(events, graph.identity_map)
    events["customer_id"] = events["customer_id"].where(events["customer_id"].notna(), found)
    people = events.set_index("event_id")["customer_id"]
    # the POS card L1 and the web email are one person now, through the app event's hashes
    assert people["d1"] == people["d2"] == people["api-1"]
    assert pd.isna(people["api-2"])  # a guest's search: a query for the logs, nobody's history
    assert live.report() == {"read": 4, "used": 2, "skipped": {"unknown sku": 1, "already in --data": 1}}


def test_consent_posted_to_the_service_changes_the_audience():
    people = pd.DataFrame({"customer_id": ["a", "b"], "email_hash": ["ha", "hb"]})
    identity_map = pd.DataFrame(
        {
            "identifier_type": ["email", "email", "loyalty_id", "email", "email"],
            "identifier_hash": ["ha", "hb", "lb", "hc", "hd"],
            "customer_id": ["a", "b", "b", "c", "d"],
        }
    )
    at = pd.Timestamp("2026-10-01T12:00Z")
    statements = pd.DataFrame(
        {
            "identifier_hash": ["lb", "hc", "hd"],
            "kind": ["loyalty_id", "email", "email"],
            "email_consent": [False, True, True],
            "stated_at": [at, at, at],
        }
    )
    # b opted out by card; c opted in; d opted in before an unsubscribe in --data, which wins
    got = apply_consent(people, statements, identity_map, {"hd": at + pd.Timedelta(days=1)})
    assert got.to_dict("records") == [
        {"customer_id": "a", "email_hash": "ha"},
        {"customer_id": "c", "email_hash": "hc"},
    ]
