"""Unit tests of the product knowledge and ranking rules behind issue 21 (planted data, exact answers)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.product_knowledge import ProductKnowledge
from models.recommend import Recommendation, RecommendationEngine, _capped
from models.search_engine import SearchEngine
from models.similarity import blend_similarity


def planted_purchases() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Beans re-bought by every buyer every ~20 days; machines bought once each."""
    products = pd.DataFrame(
        {
            "sku": ["BEAN-1", "BEAN-2", "MACH-1", "MACH-2", "MUG-1"],
            "category": [
                "Grocery > Beans",
                "Grocery > Beans",
                "Kitchen > Machines",
                "Kitchen > Machines",
                "Kitchen > Mugs",
            ],
        }
    )
    rows = []
    start = pd.Timestamp("2026-01-01", tz="UTC")
    for c in range(40):
        rows.append((f"C{c}", "MACH-1" if c % 2 else "MACH-2", start))
        for n in range(3):
            rows.append((f"C{c}", "BEAN-1", start + pd.Timedelta(days=20 * n)))
    purchases = pd.DataFrame(rows, columns=["customer_id", "sku", "timestamp"])
    return products, purchases


def test_knowledge_learns_durable_and_consumable_with_the_cycle():
    products, purchases = planted_purchases()
    knowledge = ProductKnowledge.learn(products, purchases, min_pairs=30)
    beans, machines = knowledge.categories["Grocery > Beans"], knowledge.categories["Kitchen > Machines"]
    assert beans.consumable and beans.cycle_days == 20.0 and beans.source == "learned"
    assert beans.repeat_rate == 1.0 and beans.pairs == 40
    assert not machines.consumable and machines.cycle_days is None and machines.repeat_rate == 0.0
    # too few purchases to learn from: durable by default (never re-offer what may be owned)
    assert knowledge.categories["Kitchen > Mugs"].source == "default"
    cycles, durable = knowledge.item_arrays(products["category"].to_numpy(dtype=object))
    assert np.array_equal(durable, [False, False, True, True, True])
    assert cycles[0] == 20.0 and np.isnan(cycles[2])


def test_a_declared_cycle_wins_and_survives_a_save(tmp_path):
    products, purchases = planted_purchases()
    products["replenishment_days"] = [30.0, 30.0, np.nan, np.nan, np.nan]
    knowledge = ProductKnowledge.learn(products, purchases)
    assert knowledge.categories["Grocery > Beans"].cycle_days == 30.0
    assert knowledge.categories["Grocery > Beans"].source == "declared"
    knowledge.save(tmp_path / "k.json")
    assert ProductKnowledge.load(tmp_path / "k.json").categories == knowledge.categories


def test_similarity_ranks_same_type_above_popular_and_tells_why():
    # item 1: same type, close in meaning; 2: other type but very popular; 3: same type, bought together
    items, scores, signal = blend_similarity(
        candidates=np.array([1, 2, 3]),
        content=np.array([0.8, 0.5, 0.2]),
        same_type=np.array([True, False, True]),
        same_brand=np.array([False, False, False]),
        behaviour=np.array([0.0, 0.2, 1.0]),
        popularity=np.array([1.0, 1000.0, 5.0]),
    )
    assert items.tolist() == [1, 3, 2]
    assert signal.tolist() == ["content", "behaviour", "content"]
    assert scores[0] > scores[1] > scores[2]


def test_popularity_only_breaks_ties():
    items, _, _ = blend_similarity(
        np.array([5, 6]),
        np.array([0.5, 0.5]),
        np.array([1, 1]),
        np.array([0, 0]),
        np.zeros(2),
        np.array([1.0, 9.0]),
    )
    assert items.tolist() == [6, 5]


def test_brand_cap_moves_repeats_down_never_out():
    order = _capped(np.array(["a", "a", "a", "b", "a", "c"], dtype=object), cap=2, window=4)
    assert order.tolist() == [0, 1, 3, 5, 2, 4]


def test_honest_order_puts_strict_matches_first_and_diversifies_a_broad_intent():
    matches = np.array([False, True, True, True, True, True])
    cats = np.array(["x", "t", "t", "t", "s", "u"], dtype=object)
    plain = SearchEngine.honest_order(matches, cats, diversify=False)
    assert plain.tolist() == [1, 2, 3, 4, 5, 0]
    broad = SearchEngine.honest_order(matches, cats, diversify=True, per_category=2, window=3)
    assert broad.tolist() == [1, 2, 4, 3, 5, 0]


def rec(item: int, score: float = 1.0, code: str = "personalised") -> Recommendation:
    return Recommendation(item, score, code, "")


def test_pins_take_their_slots_and_scores_stay_ordered():
    ranked = [rec(i, 10.0 - i) for i in range(10, 16)]
    pins = [
        rec(1, 0.0, "complements_recent"),
        rec(2, 0.0, "replenish_due"),
        rec(12, 0.0, "complements_recent"),
    ]
    out = RecommendationEngine._with_pins(ranked, pins, 7)
    assert [r.item for r in out] == [10, 1, 11, 2, 13, 12, 14]
    assert [r.reason_code for r in out][1::2][:3] == [
        "complements_recent",
        "replenish_due",
        "complements_recent",
    ]
    assert all(a.score >= b.score for a, b in zip(out, out[1:], strict=False))
