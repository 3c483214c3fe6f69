"""Bad rows are quarantined with reasons; identities split across channels are merged."""

from __future__ import annotations

import gzip
import json
import shutil

import pandas as pd
import pytest

from models.config import Settings
from models.pii import identifier_key
from training import identity, ingest


@pytest.fixture(scope="module")
def clean(sample_dir, tmp_path_factory):
    return ingest.ingest(sample_dir, tmp_path_factory.mktemp("q") / "quarantine.jsonl")


@pytest.fixture(scope="module")
def planted(sample_dir, tmp_path_factory):
    """The sample plus one bad event of each kind, appended to the event stream."""
    data = tmp_path_factory.mktemp("planted")
    for f in sample_dir.iterdir():
        if f.is_file():
            shutil.copy(f, data / f.name)
    sku = pd.read_parquet(sample_dir / "products.parquet")["sku"].iloc[0]
    with gzip.open(sample_dir / "events.jsonl.gz", "rt") as fh:
        first = json.loads(fh.readline())
    base = {
        "type": "view",
        "timestamp": "2026-06-01T10:00:00Z",
        "channel": "web",
        "sku": sku,
        "email": "a@b.com",
    }
    bad = [
        {**base, "event_id": "bad-sku", "sku": "NO-SUCH-SKU"},
        {**base, "event_id": "bad-ts", "timestamp": "yesterday-ish"},
        {**base, "event_id": "bad-qty", "type": "purchase", "quantity": -2},
        {**base, "event_id": "bad-id", "email": "not-an-email"},
        {**base, "event_id": first["event_id"]},  # duplicate of an existing event id
        {**base, "event_id": "bad-type", "type": "teleport"},
    ]
    with gzip.open(data / "events.jsonl.gz", "at") as fh:
        for row in bad:
            fh.write(json.dumps(row) + "\n")
        fh.write("{not json\n")
    quarantine = data / "quarantine.jsonl"
    return ingest.ingest(data, quarantine), quarantine


def test_planted_bad_rows_land_in_quarantine_with_reasons(planted):
    result, path = planted
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    reasons = {r["row"].get("event_id"): r["reason"] for r in rows if r["table"] == "events"}
    assert reasons["bad-sku"] == "unknown sku"
    assert reasons["bad-ts"] == "bad timestamp"
    assert reasons["bad-qty"] == "invalid quantity"
    assert reasons["bad-id"] == "malformed identifier"
    assert reasons["bad-type"] == "unknown event type"
    assert "duplicate event_id" in reasons.values()
    assert "invalid JSON" in reasons.values()
    report = result.report()
    assert report["quarantined"]["events"]["unknown sku"] >= 1
    assert report["quarantined_total"] >= 7
    assert not result.events["event_id"].isin(["bad-sku", "bad-ts", "bad-qty", "bad-id", "bad-type"]).any()


def test_clean_sample_keeps_its_events(clean):
    assert len(clean.events) > 100_000
    assert clean.events["timestamp"].is_monotonic_increasing


def test_missing_required_table_is_a_clear_error(tmp_path):
    with pytest.raises(ingest.DataError, match="no products table"):
        ingest.ingest(tmp_path, tmp_path / "q.jsonl")


def test_truncated_event_file_is_a_clear_error(sample_dir, tmp_path):
    shutil.copy(sample_dir / "products.parquet", tmp_path / "products.parquet")
    raw = (sample_dir / "events.jsonl.gz").read_bytes()
    (tmp_path / "events.jsonl.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ingest.DataError, match="truncated or corrupt"):
        ingest.ingest(tmp_path, tmp_path / "q.jsonl")


def test_identity_resolution_merges_split_identities(clean, sample_dir):
    salt = Settings().pii_salt
    graph = identity.resolve(clean.customers, clean.events, salt, clean.unsubscribes["email"])
    truth = pd.read_parquet(sample_dir / "truth" / "identities.parquet")
    evidence = pd.concat(
        [clean.customers[["loyalty_id", "email", "phone"]], clean.events[["loyalty_id", "email", "phone"]]]
    )
    quality = identity.merge_quality(graph.identity_map, truth, salt, evidence)
    assert quality["precision"] >= 0.95
    assert quality["recall_resolvable"] >= 0.95
    # the sample also holds people who never used two identifiers together: no resolver links them
    assert quality["recall"] < 1.0
    # it really merged something: fewer customers than identifier-bearing records
    assert graph.identity_map["customer_id"].nunique() < len(graph.identity_map)
    assert not graph.identity_map["identifier_hash"].str.contains("@").any()


def test_unsubscribed_people_have_no_marketing_email(clean):
    salt = Settings().pii_salt
    graph = identity.resolve(clean.customers, clean.events, salt, clean.unsubscribes["email"])
    unsub_keys = {k for e in clean.unsubscribes["email"] if (k := identifier_key("email", e, salt))}
    contacts = graph.customers[graph.customers["email_consent"]]
    assert not contacts["email_hash"].isin(unsub_keys).any()
