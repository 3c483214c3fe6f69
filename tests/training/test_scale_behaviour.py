"""Behaviour added so training scales to 1M customers / 20M events: evaluation on a customer
sample, sorted-id interactions without ``np.unique`` on strings, replayed ids across ingest batches."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from models.recommenders.interactions import build_interactions
from training import ingest
from training.cf import sample_customers


def _events(n_users: int, per_user: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    users = np.repeat([f"c_{i:05d}" for i in rng.permutation(n_users)], per_user)
    return pd.DataFrame(
        {
            "user": users,
            "item": [f"SKU-{i}" for i in rng.integers(0, 50, len(users))],
            "type": "purchase",
            "timestamp": pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 90, len(users)), "D"),
        }
    )


def test_sample_customers_keeps_whole_customers_and_is_seeded() -> None:
    ev = _events(500, 4)
    same, total = sample_customers(ev, 1000, seed=1)
    assert same is ev and total == 500  # under the cap: untouched
    a, total = sample_customers(ev, 100, seed=1)
    b, _ = sample_customers(ev, 100, seed=1)
    assert total == 500 and a["user"].nunique() == 100 and a.equals(b)
    assert (a.groupby("user").size() == 4).all()  # every event of a sampled customer, none of the others
    assert not a.equals(sample_customers(ev, 100, seed=2)[0])


def test_interaction_ids_are_sorted_like_np_unique() -> None:
    ev = _events(300, 3, seed=3)
    inter = build_interactions(ev, {"purchase": 1.0})
    assert inter.user_ids.tolist() == np.unique(ev["user"].to_numpy()).tolist()
    assert inter.item_ids.tolist() == np.unique(ev["item"].to_numpy()).tolist()
    row = inter.user_index()[ev["user"].iloc[0]]
    col = inter.item_index()[ev["item"].iloc[0]]
    assert inter.matrix[row, col] >= 1.0


def test_replayed_event_id_across_batches_is_quarantined_once(tmp_path) -> None:
    pd.DataFrame(
        {"sku": ["A", "B"], "title": ["a", "b"], "category": ["X", "X"], "price": [1.0, 2.0]}
    ).to_parquet(tmp_path / "products.parquet")
    base = {"type": "view", "channel": "web", "sku": "A"}
    rows = [{**base, "event_id": f"e{i}", "timestamp": f"2026-01-0{1 + i % 5}T10:00:00Z"} for i in range(9)]
    rows.append(
        {**base, "event_id": "e1", "timestamp": "2026-01-01T09:00:00Z"}
    )  # replay, earlier time, later batch
    rows.append({**base, "event_id": "e2", "timestamp": "garbage"})  # bad, not a replay
    (tmp_path / "events.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    data = ingest.ingest(tmp_path, tmp_path / "q.jsonl", batch_size=4)
    assert data.report()["quarantined"]["events"] == {"duplicate event_id": 1, "bad timestamp": 1}
    assert sorted(data.events["event_id"]) == [f"e{i}" for i in range(9)]
    assert data.events["timestamp"].is_monotonic_increasing
    kept = data.events.set_index("event_id").loc["e1", "timestamp"]
    assert kept == pd.Timestamp("2026-01-02T10:00:00Z")  # the first in the file wins, not the earliest
