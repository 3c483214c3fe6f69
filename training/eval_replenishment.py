"""How well purchase cycles predict re-purchases: precision and recall of "due" on held-out weeks.

The last ``holdout_days`` of purchases are held back. Cycles are learned on everything before the
cutoff with the code the bundle uses (``models.product_knowledge``). The candidates are the
(customer, sku) pairs bought before the cutoff whose sku is a repeat item: one with a product cycle
(``min_repeaters`` customers who bought it on two or more days). A method predicts a pair due when
its due date (the last purchase day before the cutoff + the method's cycle) falls inside the
held-back window; the pair is re-purchased when the customer buys the sku again in that window.

* ``fixed``: the baseline, every item due every N days, N the median gap between purchase days of
  all repeat pairs before the cutoff (every sku, every customer).
* ``product``: the sku's own cycle.
* ``person``: the customer's own cycle for the sku where they bought it on 3+ days (shrunk toward
  the product's), else the product's: what omnirank serves.

Every method predicts on the same pairs against the same truth, so the figures compare directly.
Precision = re-purchased among predicted due; recall = predicted due among re-purchased pairs.
Intervals: 95% bootstrap over customers (the same draws for every method).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from models.errors import InputError
from models.product_knowledge import person_cycles, product_cycles, purchase_days, purchase_gaps

METHODS = ("fixed", "product", "person")


def evaluate_replenishment(
    purchases: pd.DataFrame,
    holdout_days: int = 28,
    min_repeaters: int = 5,
    person_min_purchases: int = 3,
    person_prior_gaps: float = 2.0,
    n_boot: int = 1000,
    seed: int = 42,
) -> dict[str, Any]:
    """``purchases``: customer_id, sku, timestamp (one row per purchase line, any channel)."""
    days = purchase_days(purchases)
    if days.empty:
        raise InputError("no identified purchases to evaluate")
    cutoff = (days["day"].max() + pd.Timedelta(days=1)) - pd.Timedelta(days=holdout_days)
    end = cutoff + pd.Timedelta(days=holdout_days)
    train, test = days[days["day"] < cutoff], days[days["day"] >= cutoff]
    products = product_cycles(train, min_repeaters)
    product_cycle = {s: c.cycle_days for s, c in products.items()}
    gaps = purchase_gaps(train)["gap"]
    fixed_n = float(gaps.median()) if len(gaps) else float("nan")
    people = person_cycles(train, product_cycle, person_min_purchases, person_prior_gaps)

    pairs = train.groupby(["customer", "sku"], as_index=False, sort=True)["day"].max()
    pairs = pairs[pairs["sku"].isin(product_cycle)].reset_index(drop=True)
    bought = set(zip(test["customer"], test["sku"], strict=True))
    actual = np.fromiter(
        (pair in bought for pair in zip(pairs["customer"], pairs["sku"], strict=True)),
        dtype=bool,
        count=len(pairs),
    )
    own = people.set_index(["customer_id", "sku"])["cycle_days"]
    product = pairs["sku"].map(product_cycle).to_numpy(dtype=float)
    person = own.reindex(pd.MultiIndex.from_frame(pairs[["customer", "sku"]])).to_numpy(dtype=float)
    cycles = {
        "fixed": np.full(len(pairs), fixed_n),
        "product": product,
        "person": np.where(np.isfinite(person), person, product),
    }
    last = pd.to_datetime(pairs["day"], utc=True)
    predicted = {}
    for name, cycle in cycles.items():
        due = last + pd.to_timedelta(cycle, unit="D")
        predicted[name] = ((due >= cutoff) & (due < end)).to_numpy()

    customers, codes = np.unique(pairs["customer"].to_numpy(dtype=object), return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = np.array(
        [
            np.bincount(rng.integers(0, len(customers), len(customers)), minlength=len(customers))
            for _ in range(n_boot)
        ],
        dtype=float,
    ).reshape(n_boot, len(customers))
    results: dict[str, Any] = {}
    boots: dict[str, np.ndarray] = {}
    for name in METHODS:
        results[name], boots[name] = _scores(predicted[name], actual, codes, len(customers), draws)
    for name in METHODS[1:]:  # the paired difference to the baseline, on the same draws
        for i, key in enumerate(("precision", "recall", "f1")):
            lo, hi = np.percentile(boots[name][:, i] - boots["fixed"][:, i], [2.5, 97.5])
            results[name][f"{key}_vs_fixed_ci"] = [round(float(lo), 4), round(float(hi), 4)]
    return {
        "holdout_days": holdout_days,
        "cutoff": cutoff.isoformat(),
        "train_purchase_days": int(len(train)),
        "customers": int(len(customers)),
        "candidate_pairs": int(len(pairs)),
        "repurchased_pairs": int(actual.sum()),
        "repeat_items": len(product_cycle),
        "fixed_interval_days": fixed_n,
        "pairs_with_person_cycle": int(np.isfinite(person).sum()),
        "min_repeaters": min_repeaters,
        "person_min_purchases": person_min_purchases,
        "person_prior_gaps": person_prior_gaps,
        "methods": results,
    }


def _scores(
    predicted: np.ndarray, actual: np.ndarray, codes: np.ndarray, n_customers: int, draws: np.ndarray
) -> tuple[dict[str, Any], np.ndarray]:
    """Precision, recall and F1 of one method, with bootstrap intervals over customers."""
    per = np.zeros((3, n_customers))
    np.add.at(per[0], codes, predicted & actual)
    np.add.at(per[1], codes, predicted)
    np.add.at(per[2], codes, actual)

    def metrics(weights: np.ndarray | None) -> tuple[float, float, float]:
        hit, pred, act = per @ weights if weights is not None else per.sum(axis=1)
        precision = hit / pred if pred else 0.0
        recall = hit / act if act else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return float(precision), float(recall), float(f1)

    precision, recall, f1 = metrics(None)
    out: dict[str, Any] = {
        "predicted_due": int(predicted.sum()),
        "repurchased_and_due": int((predicted & actual).sum()),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }
    boot = np.array([metrics(w) for w in draws]).reshape(len(draws), 3)
    if len(draws):
        for i, key in enumerate(("precision", "recall", "f1")):
            lo, hi = np.percentile(boot[:, i], [2.5, 97.5])
            out[f"{key}_ci"] = [round(float(lo), 4), round(float(hi), 4)]
    return out, boot
