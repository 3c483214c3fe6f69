"""Promotions in the email jobs, on the planted batch world of ``test_batch.py``: the email
surface's rules and the newsletter's section of new arrivals and sale items of the person's top
category, each saying why it is there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from test_batch import SALT, _cid, _options, batch_planted_world  # noqa: F401  (the fixture)

from models.promotions import signals
from models.rules import RuleSet
from models.store import PriceEntry
from training.batch.promotions import EmailPromotions


def _newsletter(
    world: dict[str, Path], tmp_path: Path, rules: RuleSet | None, section_k: int
) -> pd.DataFrame:
    from models.config import Settings
    from training.batch.job import prepare
    from training.batch.partition import score_partition

    job = prepare(
        world["bundle"], world["data"], _options("newsletter"), Settings(pii_salt=SALT), tmp_path / "q.jsonl"
    )
    engine, catalog = job.engine, job.engine.catalog
    # planted: P06 (Kitchen) on sale on the web now, P07 (Kitchen) listed two days ago
    book = catalog.price_book.with_entries(
        [PriceEntry("P06", 9.0, 20.0, "web")], np.array([catalog.sku_index["P06"]])
    )
    prices = book.view("web", None, job.now.timestamp())
    sig = signals(catalog, prices, job.now, engine.n_trained)
    age = sig.age_days.copy()
    age[:] = 400.0
    age[catalog.sku_index["P07"]] = 2.0
    sig = type(sig)(on_sale=sig.on_sale, age_days=age)
    alice = _cid(world, "alice@x.com")
    job.promotions = EmailPromotions(
        rules=rules, signals=sig, affinity={alice: ["Kitchen", "Shoes"]}, section_k=section_k
    )
    tables = [score_partition(job, p) for p in range(job.n_partitions)]
    return pa.concat_tables(tables).to_pandas()


def test_newsletter_has_a_new_and_sale_section_of_the_top_category(batch_planted_world, tmp_path):  # noqa: F811
    w = batch_planted_world
    out = _newsletter(w, tmp_path, None, 3)
    alice = out[out["customer_id"] == _cid(w, "alice@x.com")].sort_values("rank")
    section = alice[alice["rank"] > 5]
    listed = set(alice["sku"][alice["rank"] <= 5])
    expected = [
        [sku, reason]
        for sku, reason in (
            ("P07", "New arrival in Kitchen, picked for you"),
            ("P06", "On sale now in Kitchen, picked for you"),
        )
        if sku not in listed
    ]
    assert expected  # the planted items are not already in her list
    assert section[["sku", "reason"]].values.tolist() == expected  # nothing new or on sale in Shoes
    assert not alice.duplicated("sku").any()
    assert alice["rank"].tolist() == list(range(1, len(alice) + 1))
    # nobody else has planted affinity: their lists are the k personalised items only
    others = out[out["customer_id"] != _cid(w, "alice@x.com")]
    assert others.groupby("customer_id")["rank"].max().le(5).all()


def test_email_rules_pin_and_hide_with_reasons(batch_planted_world, tmp_path):  # noqa: F811
    w = batch_planted_world
    rules = RuleSet.model_validate(
        {
            "rules": [
                {"id": "search-only", "match": {"exact": "pan"}, "pin": [{"sku": "P08", "position": 1}]},
                {
                    "id": "email-promo",
                    "surfaces": ["email"],
                    "pin": [{"sku": "P10", "position": 1}],
                    "hide": ["P02"],
                },
            ]
        }
    )
    out = _newsletter(w, tmp_path, rules, 0)
    assert not out["sku"].eq("P02").any()
    first = out[out["rank"] == 1]
    assert first["sku"].eq("P10").all() and first["reason"].eq("Featured by the shop").all()
    assert out.groupby("customer_id").size().eq(5).all()
