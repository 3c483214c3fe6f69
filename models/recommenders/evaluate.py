"""Offline evaluation of any fitted recommender on a temporal split.

Two questions, two modes: ``all`` asks "which items will this customer buy next?" (re-orders
count, already-bought items may be recommended) and ``new`` asks "what will they discover?"
(truth = items they never had before the split, already-liked items filtered out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models.metrics import binary_ndcg_at_k, catalog_coverage, recall_at_k
from models.recommenders.base import Recommender
from models.recommenders.interactions import Interactions

MODES = ("all", "new")


@dataclass
class EvalSplit:
    """Train matrix plus the test users (rows of ``train.matrix``) and their truth per mode."""

    train: Interactions
    test_userids: np.ndarray
    truth: dict[str, list[set[int]]]
    userids: dict[str, np.ndarray]
    notes: list[str] = field(default_factory=list)


def make_eval_split(
    train: Interactions,
    test_events: pd.DataFrame,
    positive_types: Sequence[str] = ("purchase",),
    eligible_users: Sequence[str] | None = None,
) -> EvalSplit:
    """Truth = distinct positive items each train user has in ``test_events`` (columns user, item, type).

    Test items outside the training item index cannot be recommended by any model and are left out
    of the truth (counted in ``notes``). ``eligible_users`` restricts test users (e.g. no guests).
    """
    uidx = pd.Index(train.user_ids)
    iidx = pd.Index(train.item_ids)
    ev = test_events[test_events["type"].isin(positive_types) & test_events["user"].notna()]
    ev = ev[["user", "item"]].astype(str).drop_duplicates()
    if eligible_users is not None:
        ev = ev[ev["user"].isin(set(map(str, eligible_users)))]
    u = uidx.get_indexer(ev["user"].to_numpy())
    i = iidx.get_indexer(ev["item"].to_numpy())
    notes = []
    unknown_item = (u >= 0) & (i < 0)
    if unknown_item.any():
        notes.append(
            f"{int(unknown_item.sum())} test (user, item) pairs on {len(np.unique(ev['item'].to_numpy()[unknown_item]))} "
            "items unseen in training were left out of the truth (no model can recommend them)"
        )
    keep = (u >= 0) & (i >= 0)
    pairs = pd.DataFrame({"u": u[keep], "i": i[keep]})
    grouped = pairs.groupby("u")["i"].agg(lambda s: set(s.tolist()))
    test_userids = grouped.index.to_numpy(dtype=np.int64)
    truth_all = grouped.tolist()
    m = train.matrix
    truth_new = [
        t - set(m.indices[m.indptr[r] : m.indptr[r + 1]].tolist())
        for r, t in zip(test_userids, truth_all, strict=True)
    ]
    has_new = np.array([bool(t) for t in truth_new], dtype=bool)
    return EvalSplit(
        train=train,
        test_userids=test_userids,
        truth={"all": truth_all, "new": [t for t, h in zip(truth_new, has_new, strict=True) if h]},
        userids={"all": test_userids, "new": test_userids[has_new]},
        notes=notes,
    )


def evaluate_recommender(
    model: Recommender,
    user_items: sp.csr_matrix,
    userids: np.ndarray,
    truth: Sequence[set[int]],
    k: int = 20,
    filter_already_liked_items: bool = False,
) -> dict[str, float]:
    """Mean Recall@k, binary NDCG@k and catalog coverage over ``userids`` (rows of ``user_items``)."""
    if len(userids) == 0:
        return {f"recall@{k}": 0.0, f"ndcg@{k}": 0.0, "coverage": 0.0, "n_users": 0}
    ids, _ = model.recommend(
        userids, user_items[userids], N=k, filter_already_liked_items=filter_already_liked_items
    )
    lists = [[int(x) for x in row if x >= 0] for row in ids]
    return {
        f"recall@{k}": float(np.mean([recall_at_k(r, t, k) for r, t in zip(lists, truth, strict=True)])),
        f"ndcg@{k}": float(np.mean([binary_ndcg_at_k(r, t, k) for r, t in zip(lists, truth, strict=True)])),
        "coverage": catalog_coverage(lists, user_items.shape[1]),
        "n_users": len(userids),
    }


def evaluate_modes(model: Recommender, split: EvalSplit, k: int = 20) -> dict[str, dict[str, float]]:
    """``evaluate_recommender`` for both modes: ``all`` without and ``new`` with filtering."""
    return {
        mode: evaluate_recommender(
            model,
            split.train.matrix,
            split.userids[mode],
            split.truth[mode],
            k,
            filter_already_liked_items=mode == "new",
        )
        for mode in MODES
    }


def per_user_metrics(
    model: Recommender,
    user_items: sp.csr_matrix,
    userids: np.ndarray,
    truth: Sequence[set[int]],
    k: int = 20,
    filter_already_liked_items: bool = False,
) -> tuple[dict[str, np.ndarray], float]:
    """Recall@k and binary NDCG@k of every user (arrays aligned with ``userids``) and coverage."""
    if len(userids) == 0:
        return {f"recall@{k}": np.zeros(0), f"ndcg@{k}": np.zeros(0)}, 0.0
    ids, _ = model.recommend(
        userids, user_items[userids], N=k, filter_already_liked_items=filter_already_liked_items
    )
    lists = [[int(x) for x in row if x >= 0] for row in ids]
    return {
        f"recall@{k}": np.array([recall_at_k(r, t, k) for r, t in zip(lists, truth, strict=True)]),
        f"ndcg@{k}": np.array([binary_ndcg_at_k(r, t, k) for r, t in zip(lists, truth, strict=True)]),
    }, catalog_coverage(lists, user_items.shape[1])


def bootstrap_indices(n_users: int, n_boot: int = 1000, seed: int = 42) -> np.ndarray:
    """(n_boot, n_users) user indices drawn with replacement: one fixed draw shared by every model,
    so the intervals of two models (and of their difference) come from the same resamples."""
    return np.random.default_rng(seed).integers(0, max(n_users, 1), size=(n_boot, n_users))


def bootstrap_ci(values: np.ndarray, draws: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean of ``values`` over the resampled users ``draws``."""
    if len(values) == 0:
        return 0.0, 0.0
    means = values[draws].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)
