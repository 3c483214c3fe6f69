"""Several replicas on one live store: a write acknowledged by one is seen by every other on its
next read (the version check per request), on SQLite (workers sharing a file) and on PostgreSQL
(replicas sharing a database, ``OMNIRANK_STORE_URL``)."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from models.clock import fixed_clock
from models.store import LiveStore, PriceEntry, ProductRecord, StockLevel, StoredEvent
from models.store.analytics_tables import ConsentStatement, ServedAnswer
from models.store.loyalty_tables import Membership

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)
AT = NOW.timestamp()


def test_two_replicas_see_each_others_writes_on_their_next_read(store_location: Path | str) -> None:
    with LiveStore(store_location) as one, LiveStore(store_location) as two:
        live0, keys0 = two.versions()

        event = StoredEvent("e1", "C1", "purchase", NOW, "store", sku="SKU-1", store_id="S1", price=9.5)
        assert one.append([event]).accepted == ["e1"]
        assert [e.event_id for e in two.recent_for_customer("C1")] == ["e1"]
        assert two.append([event]).duplicates == ["e1"]  # the other replica's retry is a duplicate
        assert one.count() == two.count() == 1

        one.put_stock([StockLevel("S1", "SKU-1", 7)], AT)
        one.put_prices([PriceEntry("SKU-1", 8.0, list_price=10.0, channel="web")], AT)
        vector = np.arange(4, dtype=np.float32)
        one.put_products([ProductRecord("NEW-1", {"title": "lamp"}, vector, encoder="enc")], AT)
        live1, _ = two.versions()
        assert live1 == live0 + 3
        changes = two.live_changes(live0)
        assert changes.version == live1 and changes.stock == [StockLevel("S1", "SKU-1", 7)]
        assert [(p.sku, p.price, p.list_price, p.channel) for p in changes.prices] == [
            ("SKU-1", 8.0, 10.0, "web")
        ]
        (product,) = changes.products
        assert product.fields == {"title": "lamp"} and product.encoder == "enc"
        assert np.array_equal(product.embedding, vector)
        one.put_stock([StockLevel("S1", "SKU-1", 0)], AT)  # absolute: the latest write wins
        assert two.live_changes(live1).stock == [StockLevel("S1", "SKU-1", 0)]

        key = one.create_key("pos", "personalize", AT)
        assert two.versions()[1] == keys0 + 1
        (stored,) = two.api_keys()
        assert stored.scope == "personalize" and stored.matches(key.partition(".")[2])
        two.revoke_key(stored.key_id, AT + 1)
        assert one.api_keys()[0].revoked_at == AT + 1 and one.versions()[1] == keys0 + 2

        assert one.link_identifiers(["h-card"], "C1", AT) == ["h-card"]
        assert two.link_identifiers(["h-card"], "C2", AT) == []  # the first link wins everywhere
        assert two.linked_customers(["h-card"]) == {"h-card": "C1"} and two.aliases("C1") == ["h-card"]

        one.record_consent([ConsentStatement("h-mail", "email", True, AT)], AT)
        assert two.record_consent([ConsentStatement("h-mail", "email", False, AT - 1)], AT) == 0
        assert [s.email_consent for s in two.consent_statements()] == [True]

        assert one.record_served([ServedAnswer("r1", "search", "A", "C1", "lamp", ("NEW-1",), AT)]) == 1
        assert two.record_served([ServedAnswer("r1", "search", "A", "C1", "lamp", ("NEW-1",), AT)]) == 0
        assert two.served_frame()["skus"].tolist() == [["NEW-1"]]

        one.put_loyalty([Membership("h-card", "C1", "gold", 120, "2024-01-02")], AT)
        assert two.membership(["C1"]) == Membership("h-card", "C1", "gold", 120, "2024-01-02")


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_two_service_replicas_on_one_postgresql(service_settings, postgres_server, trained_bundle, tmp_path):
    """Two apps (two replicas behind a load balancer) with OMNIRANK_STORE_URL on one database: an
    event posted to one is a duplicate when retried on the other, a stock PUT on one changes the
    other's next answer."""
    settings = service_settings.model_copy(
        update={
            "store_url": postgres_server.fresh_url(),
            "event_store_path": tmp_path / "unused.sqlite3",
            "rules_path": tmp_path / "rules.json",
            "reload_poll_seconds": 0,
        }
    )
    from service.app import create_app

    products = pd.read_parquet(trained_bundle / "latest" / "catalog" / "products.parquet")
    sku = str(products["sku"].iat[0])
    clock = fixed_clock(NOW)
    with (
        TestClient(create_app(settings, clock=clock)) as one,
        TestClient(create_app(settings, clock=clock)) as two,
    ):
        assert one.app.state.serving.store.backend == "postgresql"
        assert not (tmp_path / "unused.sqlite3").exists()  # the URL wins over the file

        run = uuid.uuid4().hex[:8]
        event = {
            "event_id": f"{run}-buy",
            "type": "purchase",
            "timestamp": _stamp(NOW),
            "channel": "web",
            "customer_id": "C-REPLICA",
            "sku": sku,
            "price": 10.0,
        }
        first = one.post("/v1/events", json={"events": [event]})
        assert first.status_code == 202 and first.json()["accepted"] == 1, first.text
        retry = two.post("/v1/events", json={"events": [event]})
        assert retry.status_code == 202 and retry.json()["duplicates"] == 1, retry.text

        before = two.get(f"/v1/products/{sku}/availability").json()["web_quantity"]
        quantity = 5 if before != 5 else 6
        put = one.put("/v1/inventory", json=[{"store_id": "web", "sku": sku, "quantity": quantity}])
        assert put.status_code == 200, put.text
        assert two.get(f"/v1/products/{sku}/availability").json()["web_quantity"] == quantity
        put = two.put("/v1/inventory", json=[{"store_id": "web", "sku": sku, "quantity": 0}])
        assert put.status_code == 200, put.text
        assert one.get(f"/v1/products/{sku}/availability").json()["web_quantity"] == 0


def _heard(read, expected: int, timeout_s: float = 5.0) -> int:
    """``read()`` until it gives ``expected``: a NOTIFY is in flight for microseconds after a commit."""
    deadline = time.monotonic() + timeout_s
    while (value := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.001)
    return value


def test_on_postgresql_replicas_hear_new_versions_instead_of_asking_on_every_request(postgres_server):
    """The per-request version check costs no round trip: each store LISTENs, a write NOTIFYs at
    commit, the writer knows its own versions at once; another schema's writes are not heard."""
    url = postgres_server.fresh_url()
    with (
        LiveStore(url) as one,
        LiveStore(url) as two,
        LiveStore(postgres_server.fresh_url()) as elsewhere,
    ):
        feed = two._feed
        feed.max_silence_s = 3600.0  # no safety re-read during the test
        live0, keys0 = two.live_version(), two.keys_version()
        assert (live0, keys0) == two.versions()
        reads = feed.table_reads
        for _ in range(100):
            assert two.live_version() == live0 and two.keys_version() == keys0
        assert feed.table_reads == reads  # answered from what the listener heard

        one.put_stock([StockLevel("S1", "SKU-1", 7)], AT)
        assert one.live_version() == live0 + 1  # the writer: at once, from its own commit
        assert _heard(two.live_version, live0 + 1) == live0 + 1
        elsewhere.put_stock([StockLevel("S1", "SKU-1", 1)], AT)
        elsewhere.put_stock([StockLevel("S1", "SKU-1", 2)], AT)
        one.create_key("pos", "personalize", AT)
        assert _heard(two.keys_version, keys0 + 1) == keys0 + 1
        assert two.live_version() == live0 + 1  # the other schema's two writes were not for this store
        assert feed.table_reads == reads

        feed._listener.close()  # a dropped connection (a restart): the table answers, then it listens again
        one.put_stock([StockLevel("S1", "SKU-1", 3)], AT)
        assert two.live_version() == live0 + 2 and feed.table_reads == reads + 1
        feed.max_silence_s = 0.0  # a lost notification is bounded by the re-read after a silence
        assert two.live_version() == live0 + 2 and feed.table_reads > reads + 1


def test_sqlite_stores_read_the_file_and_have_no_feed(tmp_path: Path) -> None:
    with LiveStore(tmp_path / "events.sqlite3") as one, LiveStore(tmp_path / "events.sqlite3") as two:
        assert one._feed is None
        live0 = two.live_version()
        one.put_stock([StockLevel("S1", "SKU-1", 7)], AT)
        assert two.live_version() == live0 + 1  # no wait at all: the next read of the file
