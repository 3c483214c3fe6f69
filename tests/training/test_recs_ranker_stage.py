"""The ``recs_ranker`` component's contract: training writes it when it beats the blend on validation,
the manifest records the decision and its validation numbers, the loader loads it and the engine
ranks with it; not kept (or switched off), the bundle neither lists nor holds it.

The planted shop (import-format files, trained through ``training.pipeline.train`` with only the
stages the recommendation components need): 300 shoppers each re-buy two of six consumables on
the consumable's cycle (7 to 22 days) and buy three of 30 durables once, over 200 days.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import artifacts as A
from models.bundle import RECS_RANKER, Bundle
from models.catalog import Catalog
from models.components import BY_NAME
from models.config import Settings
from models.history import Interaction
from models.recommend import Context, RecommendationEngine
from models.recommenders.ranker import PurchaseHistory
from models.recs_ranker import CustomerPurchases, ServedRanker

NOW = pd.Timestamp("2026-06-01T12:00:00Z")
CYCLES = [7, 10, 13, 16, 19, 22]
N_DURABLES, N_SHOPPERS = 30, 300
STAGE_NAMES = (
    "ingest and validate",
    "identity resolution",
    "catalog",
    "collaborative filtering",
    "recommendation ranker",
    "co-purchase and trending",
    "product knowledge (durable / consumable)",
)


def _sku(i: int) -> str:
    return f"C{i}" if i < len(CYCLES) else f"D{i - len(CYCLES)}"


def _write_shop(root: Path) -> Path:
    root.mkdir(parents=True)
    n = len(CYCLES) + N_DURABLES
    pd.DataFrame(
        {
            "sku": [_sku(i) for i in range(n)],
            "title": [f"Product {_sku(i)}" for i in range(n)],
            "category": ["Grocery > Coffee"] * len(CYCLES) + ["Home > Lamps"] * N_DURABLES,
            "price": 10.0,
            "available_web": True,
        }
    ).to_parquet(root / "products.parquet", index=False)
    pd.DataFrame({"store_id": ["S1"], "name": ["Store 1"]}).to_parquet(root / "stores.parquet", index=False)
    pd.DataFrame({"store_id": "S1", "sku": [_sku(i) for i in range(n)], "stock": 50}).to_parquet(
        root / "inventory.parquet", index=False
    )
    pd.DataFrame(
        {
            "record_id": [f"r{u}" for u in range(N_SHOPPERS)],
            "source": "web",
            "loyalty_id": None,
            "email": [f"u{u}@x.com" for u in range(N_SHOPPERS)],
            "email_consent": True,
        }
    ).to_parquet(root / "customers.parquet", index=False)
    pd.DataFrame(
        {"email": pd.Series([], dtype=str), "unsubscribed_at": pd.Series([], dtype="datetime64[ns, UTC]")}
    ).to_parquet(root / "unsubscribes.parquet", index=False)
    rng = np.random.default_rng(7)
    events = []
    for u in range(N_SHOPPERS):
        for c in (u % len(CYCLES), (u + 2) % len(CYCLES)):
            day = float(rng.uniform(0, CYCLES[c]))
            while day < 200:
                events.append((u, _sku(c), day))
                day += CYCLES[c]
        for d in rng.choice(N_DURABLES, 3, replace=False).tolist():
            events.append((u, _sku(len(CYCLES) + d), float(rng.uniform(0, 200))))
    with open(root / "events.jsonl", "w", encoding="utf-8") as fh:
        for n_event, (u, sku, day) in enumerate(events):
            when = NOW - pd.Timedelta(days=200 - day)
            row = {
                "event_id": f"e{n_event}",
                "type": "purchase",
                "timestamp": when.isoformat(),
                "channel": "store" if u % 2 else "web",
                "sku": sku,
                "basket_id": f"b{n_event}",
                "email": f"u{u}@x.com",
                "quantity": 1,
                "price": 10.0,
            }
            fh.write(json.dumps(row) + "\n")
    return root


def _train(data: Path, bundles: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Bundle:
    """``omnirank train`` with the stages the recommendation components stand on (no encoder)."""
    from training import pipeline
    from training.stages import STAGES

    monkeypatch.setattr(pipeline, "STAGES", tuple(s for s in STAGES if s.name in STAGE_NAMES))
    return Bundle.open(pipeline.train(data, bundles, settings, evaluate=True))


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_shop(tmp_path_factory.mktemp("recs_ranker_shop") / "data")


def test_train_keeps_the_ranker_that_beats_the_blend_and_the_service_ranks_with_it(
    shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(holdout_days=21, recs_ranker_trees=60, recs_ranker_min_child_samples=20)
    bundle = _train(shop, tmp_path / "bundles", settings, monkeypatch)
    decision = bundle.metrics["recs_ranker"]
    assert decision["kept"] is True and decision["mode"] == "all" and decision["kind"] == "lightgbm"
    ranker_value = decision["lightgbm"]["recall@20"] + decision["lightgbm"]["ndcg@20"]
    assert ranker_value > decision["blend"]["recall@20"] + decision["blend"]["ndcg@20"]
    assert decision["validation_users_fit"] + decision["validation_users_check"] > 200
    # listed, its settings recorded, its artifacts present and checksummed
    assert RECS_RANKER in bundle.components and BY_NAME[RECS_RANKER].present_in(bundle)
    recorded = bundle.parameters["settings"][RECS_RANKER]["RecsRankerSettings"]
    assert recorded["recs_ranker_trees"] == 60
    files = set(bundle.manifest["files"])
    assert {f"{A.RECS_RANKER_DIR}/{name}" for name in ("model.txt", "params.json", "items.npz")} <= files
    # the loader loads it; the engine ranks with it
    catalog = Catalog.load(bundle.path / A.CATALOG_DIR)
    ranker = BY_NAME[RECS_RANKER].loader(bundle, catalog, settings)
    assert isinstance(ranker, ServedRanker) and ranker.decision["kept"] is True
    engine = BY_NAME[RECS_RANKER].attach(RecommendationEngine.load(bundle.path, catalog, settings), ranker)
    assert engine.ranker is ranker
    # a shopper whose C0 (7-day cycle) is due today and who bought C1 and a lamp yesterday
    history = [
        Interaction(catalog.sku_index["C0"], "purchase", NOW - pd.Timedelta(days=d), "store")
        for d in (21, 14, 7)
    ] + [
        Interaction(catalog.sku_index[s], "purchase", NOW - pd.Timedelta(days=1), "store")
        for s in ("C1", "D0")
    ]
    weights = {"purchase": 4.0}
    row = engine.history_row(None, history, weights)
    recs, cold = engine.for_customer(row, history, Context(now=NOW), k=5)
    skus = [str(catalog.skus[r.item]) for r in recs]
    assert not cold and skus[0] == "C0" and recs[0].reason_code == "replenish"
    assert "D0" not in skus and "C1" not in skus
    # served facts equal training's: the one-customer numpy history is PurchaseHistory.build's
    purchases = CustomerPurchases.from_history(history, engine.n_trained)
    served = ranker.customer_history(purchases, NOW)
    frame = pd.DataFrame(
        {
            "user": "me",
            "item": [str(catalog.skus[ev.item]) for ev in history],
            "type": "purchase",
            "timestamp": [ev.timestamp for ev in history],
            "channel": "store",
        }
    )
    built = PurchaseHistory.build(frame, ["me"], catalog.skus.astype(str), NOW, ranker.items["item_category"])
    for name in ("count", "last_day", "cat_count", "cat_last_day"):
        np.testing.assert_array_equal(getattr(served, name).toarray(), getattr(built, name).toarray())
    for name in ("user_days", "user_items", "user_repeat", "user_store", "user_last_day"):
        np.testing.assert_array_equal(getattr(served, name), getattr(built, name), err_msg=name)


def test_a_ranker_switched_off_is_recorded_and_neither_listed_nor_held(
    shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(holdout_days=21, recs_ranker_enabled=False)
    bundle = _train(shop, tmp_path / "bundles", settings, monkeypatch)
    assert bundle.metrics["recs_ranker"]["kept"] is False
    assert "OMNIRANK_RECS_RANKER_ENABLED" in bundle.metrics["recs_ranker"]["why"]
    assert RECS_RANKER not in bundle.components and not BY_NAME[RECS_RANKER].present_in(bundle)
    assert not any(f.startswith(A.RECS_RANKER_DIR + "/") for f in bundle.manifest["files"])
    assert RECS_RANKER in bundle.parameters["settings"]  # its settings are recorded either way
