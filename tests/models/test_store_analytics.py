"""The store's v4 side: import-format event fields, served answers, consent, and the read-only view
offline jobs use."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from models.store import LiveStore, StoredEvent
from models.store.analytics_tables import ConsentStatement, ServedAnswer
from models.store.readonly import LiveStoreError, open_read_only
from models.store.sqlite import SCHEMA_VERSION

T0 = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)


def _event(event_id: str, **kw) -> StoredEvent:
    base = dict(customer_key="c_1", type="search_click", timestamp=T0, channel="web", sku="S1")
    return StoredEvent(event_id=event_id, **(base | kw))


def test_v4_fields_round_trip_and_replays_stay_duplicates(store_location: Path | str):
    with LiveStore(store_location) as store:
        first = _event(
            "e1",
            session_id="S-1",
            basket_id="B-1",
            query="red shoes",
            request_id="r1",
            position=2,
            identifiers={"email": "a" * 32, "loyalty_id": "b" * 32},
        )
        assert store.append([first]).accepted == ["e1"]
        assert store.append([first]).duplicates == ["e1"]
        assert store.append([_event("e1", position=3)]).conflicts == ["e1"]
        [back] = store.recent_for_customer("c_1")
        assert (back.session_id, back.basket_id, back.query, back.request_id, back.position) == (
            "S-1",
            "B-1",
            "red shoes",
            "r1",
            2,
        )
        assert back.identifiers == {"email": "a" * 32, "loyalty_id": "b" * 32}


def test_an_event_rejects_a_raw_identifier_or_a_bad_position():
    with pytest.raises(ValueError, match="salted hashes"):
        _event("x", identifiers={"email": "jane@example.com"}).validate()
    with pytest.raises(ValueError, match="position"):
        _event("x", position=0).validate()


def test_a_v3_store_gains_the_v4_columns_and_tables(tmp_path: Path):
    path = tmp_path / "v3.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            CREATE TABLE events (event_id TEXT PRIMARY KEY, customer_key TEXT NOT NULL, type TEXT NOT NULL,
              ts REAL NOT NULL, channel TEXT NOT NULL, sku TEXT, store_id TEXT, quantity INTEGER NOT NULL DEFAULT 1,
              price REAL, received_at REAL NOT NULL, payload_hash TEXT);
            INSERT INTO events VALUES ('old', 'c_9', 'purchase', 1790000000.0, 'store', 'S1', 'ST', 2, 9.5,
              1790000000.0, 'h');
            PRAGMA user_version = 3;
            """
        )
    with LiveStore(path) as store:
        assert store._conn().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        frame = store.events_frame()
    row = frame.iloc[0]
    assert (row["event_id"], row["quantity"], row["price"], row["session_id"], row["identifiers"]) == (
        "old",
        2,
        9.5,
        None,
        {},
    )


def test_served_answers_and_consent_read_back_through_the_read_only_store(store_location: Path | str):
    path = store_location
    at = T0.timestamp()
    with LiveStore(path) as store:
        answers = [
            ServedAnswer("r1", "search", "A", "u1", "shoes", ("S1", "S2"), at),
            ServedAnswer("r2", "similar", "B", None, None, (), at + 5),
        ]
        assert store.record_served(answers + answers[:1]) == 2  # a repeated request id is kept once
        store.record_consent([ConsentStatement("h1", "email", False, at)], at)
        assert store.record_consent([ConsentStatement("h1", "email", True, at - 60)], at) == 0  # older loses
        store.record_consent([ConsentStatement("h1", "email", True, at + 60)], at)
        store.append([_event("e1", request_id="r1", position=1)])
    with open_read_only(path) as ro:
        served = ro.served_frame()
        assert served["request_id"].tolist() == ["r1", "r2"]
        assert served["skus"].tolist() == [["S1", "S2"], []]
        assert served["ts"].iloc[0] == pd.Timestamp(T0)
        assert ro.served_frame(since=at + 1)["request_id"].tolist() == ["r2"]
        assert [(s.identifier_hash, s.email_consent) for s in ro.consent_statements()] == [("h1", True)]
        assert ro.events_frame()["request_id"].tolist() == ["r1"]
        with pytest.raises(PermissionError):
            ro.record_served(answers)


def test_the_read_only_store_says_what_is_wrong(tmp_path: Path):
    with pytest.raises(LiveStoreError, match="does not exist"):
        with open_read_only(tmp_path / "nope.db"):
            pass
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(LiveStoreError, match="not a"):
        with open_read_only(tmp_path / "junk.db"):
            pass
