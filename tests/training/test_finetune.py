"""Fine-tuning the real MiniLM encoder on a small synthetic search log, end to end on CPU."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.catalog import Catalog
from models.config import Settings
from models.encoder import base_model_path
from training.encoder_export import load_sentence_transformer
from training.finetune import (
    METRIC_KEYS,
    MnrlFineTuner,
    cap_pairs,
    finetune_encoder,
    no_duplicate_batches,
    query_key,
    search_pairs,
    split_by_query,
)
from training.ingest import IngestResult

# Category -> (catalog word, what shoppers type instead, brands).
CATEGORIES = {
    "Tools>Drills": ("cordless drill", "power driver", ["Volter", "Kranz"]),
    "Kitchen>Kettles": ("electric kettle", "tea boiler", ["Brewmo", "Hetta"]),
    "Shoes>Sneakers": ("running sneaker", "jogging trainers", ["Stride", "Pacer"]),
    "Home>Sofas": ("three-seat sofa", "big couch", ["Loungo", "Divano"]),
    "Lighting>Lamps": ("desk lamp", "reading light", ["Lumo", "Brite"]),
    "Bags>Backpacks": ("hiking backpack", "trail rucksack", ["Packer", "Trekka"]),
}
COLORS = ["red", "blue", "black", "white", "green"]


def _products() -> pd.DataFrame:
    rows = []
    for c, (category, (noun, _, brands)) in enumerate(CATEGORIES.items()):
        for i in range(10):
            brand, color = brands[i % 2], COLORS[i % 5]
            rows.append(
                {
                    "sku": f"S{c}{i:02d}",
                    "title": f"{brand} {noun} model {100 + i}",
                    "brand": brand,
                    "category": category,
                    "color": color,
                    "price": 10.0 + i,
                }
            )
    return pd.DataFrame(rows)


def _events(products: pd.DataFrame, n_clicks: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = random.Random(seed)
    t0 = pd.Timestamp("2024-03-01", tz="UTC")
    rows = []
    for n in range(n_clicks):
        p = products.iloc[rng.randrange(len(products))]
        _, synonym, _ = CATEGORIES[p["category"]]
        style = rng.randrange(3)
        query = {
            0: f"{p['color']} {synonym}",
            1: f"{p['brand']} {synonym}",
            2: f"{synonym} {p['title'][-3:]}",
        }[style]
        ts = t0 + pd.Timedelta(minutes=10 * n)
        session = f"sess{n}"
        rows.append(
            {
                "event_id": f"c{n}",
                "type": "search_click",
                "timestamp": ts,
                "channel": "web",
                "sku": p["sku"],
                "query": query,
                "session_id": session,
            }
        )
        if n % 4 == 0:
            rows.append(
                {
                    "event_id": f"p{n}",
                    "type": "purchase",
                    "timestamp": ts + pd.Timedelta(minutes=5),
                    "channel": "web",
                    "sku": p["sku"],
                    "query": None,
                    "session_id": session,
                }
            )
    return pd.DataFrame(rows)


def _ingest_result(products: pd.DataFrame, events: pd.DataFrame) -> IngestResult:
    empty = pd.DataFrame()
    return IngestResult(
        products=products,
        stores=pd.DataFrame({"store_id": []}),
        inventory=pd.DataFrame({"store_id": [], "sku": [], "stock": []}),
        customers=empty,
        unsubscribes=pd.DataFrame({"email": []}),
        events=events,
        queries=None,
        judgments=None,
        input_files=[],
    )


@pytest.fixture(scope="module")
def finetune_sample() -> tuple[Catalog, IngestResult]:
    products = _products()
    catalog = Catalog.build(products, pd.DataFrame({"store_id": [], "sku": [], "stock": []}), [])
    return catalog, _ingest_result(products, _events(products))


@pytest.fixture(scope="module")
def finetune_run(finetune_sample, tmp_path_factory) -> tuple[Path | str, dict]:
    catalog, data = finetune_sample
    settings = Settings(
        finetune_max_seconds=45,
        finetune_epochs=1,
        finetune_batch_size=16,
        finetune_max_pairs=80,
        finetune_lr=5e-5,
        finetune_max_seq_length=32,
        encoder_batch_size=32,
        finetune_threads=1,  # the test machine is shared: 2 spinning threads lose to 1 under load
    )
    return finetune_encoder(base_model_path(), data, catalog, settings, tmp_path_factory.mktemp("finetune"))


def test_finetune_returns_loadable_model_and_consistent_metrics(finetune_run) -> None:
    source, metrics = finetune_run
    assert set(METRIC_KEYS) <= set(metrics)
    assert metrics["pairs_train"] > 0 and metrics["queries_val"] > 0
    assert 0.0 <= metrics["ndcg@10_base"] <= 1.0 and 0.0 <= metrics["ndcg@10_finetuned"] <= 1.0
    assert metrics["kept"] == (metrics["ndcg@10_finetuned"] > metrics["ndcg@10_base"])
    assert metrics["steps"] > 0 and metrics["purchased_pairs"] > 0
    expected = Path(source).name == "model" if metrics["kept"] else Path(source) == base_model_path()
    assert expected
    model = load_sentence_transformer(source)
    vector = model.encode(["blue tea boiler"], normalize_embeddings=True)
    assert vector.shape == (1, 384) and math.isclose(float(np.linalg.norm(vector)), 1.0, rel_tol=1e-4)


def test_validation_queries_are_disjoint_from_training_queries(finetune_sample) -> None:
    catalog, data = finetune_sample
    pairs = search_pairs(data.events, catalog)
    train, val = split_by_query(pairs, 0.15, seed=42)
    train_q, val_q = set(train["query"]), set(val["query"])
    assert train_q and val_q and not train_q & val_q
    assert train_q | val_q == set(pairs["query"])
    assert len(val_q) == round(0.15 * len(pairs["query"].unique()))
    again_train, again_val = split_by_query(pairs, 0.15, seed=42)
    assert set(again_val["query"]) == val_q  # seeded, reproducible


def test_search_pairs_dedupe_and_credit_purchases_only_after_the_click() -> None:
    products = _products()
    catalog = Catalog.build(products, pd.DataFrame({"store_id": [], "sku": [], "stock": []}), [])
    t = pd.Timestamp("2024-01-01", tz="UTC")
    ev = pd.DataFrame(
        [
            {
                "type": "search_click",
                "timestamp": t,
                "sku": "S000",
                "query": " Power  Driver ",
                "session_id": "a",
            },
            {
                "type": "search_click",
                "timestamp": t,
                "sku": "S000",
                "query": "power driver",
                "session_id": "b",
            },
            {
                "type": "purchase",
                "timestamp": t + pd.Timedelta(hours=1),
                "sku": "S000",
                "query": None,
                "session_id": "a",
            },
            {"type": "search_click", "timestamp": t, "sku": "S101", "query": "tea boiler", "session_id": "c"},
            {
                "type": "purchase",
                "timestamp": t - pd.Timedelta(hours=1),
                "sku": "S101",
                "query": None,
                "session_id": "c",
            },
            {
                "type": "search_click",
                "timestamp": t,
                "sku": "NOT-IN-CATALOG",
                "query": "ghost",
                "session_id": "d",
            },
        ]
    )
    pairs = search_pairs(ev, catalog).set_index(["query", "sku"])
    assert query_key(" Power  Driver ") == "power driver"
    assert len(pairs) == 2
    assert pairs.loc[("power driver", "S000"), "clicks"] == 2
    assert bool(pairs.loc[("power driver", "S000"), "purchased"])
    assert not bool(pairs.loc[("tea boiler", "S101"), "purchased"])  # bought before searching


def test_cap_keeps_purchased_pairs_first() -> None:
    pairs = pd.DataFrame(
        {
            "query": list("abcdef"),
            "sku": list("uvwxyz"),
            "clicks": [9, 1, 8, 1, 1, 7],
            "purchased": [0, 1, 0, 1, 0, 0],
        }
    ).astype({"purchased": bool})
    assert set(cap_pairs(pairs, 3, seed=0)["query"]) == {"b", "d", "a"}


def test_batches_never_repeat_a_query_or_a_product() -> None:
    queries = [f"q{i % 7}" for i in range(60)]
    docs = [f"d{i % 11}" for i in range(60)]
    batches = no_duplicate_batches(queries, docs, 8, random.Random(0))
    for batch in batches:
        assert len({queries[i] for i in batch}) == len(batch) == len({docs[i] for i in batch})
    used = [i for b in batches for i in b]
    assert len(used) == len(set(used)) and len(used) >= 50


def test_fit_takes_no_step_past_the_deadline() -> None:
    model = load_sentence_transformer(base_model_path())
    before = next(model.parameters()).detach().clone()
    tuner = MnrlFineTuner(batch_size=4).fit(model, ["a", "b", "c", "d"], ["w", "x", "y", "z"], deadline=0.0)
    assert tuner.steps_ == 0 and tuner.stopped_early_
    assert bool((next(model.parameters()) == before).all())
    assert not model.training  # handed back in eval mode
